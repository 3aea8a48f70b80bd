package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/loadgen"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// envApp echoes GREETING on GET and the body on POST. With FAIL_ON_WORKER
// set to a worker's id, that worker fails at import, as an app does whose
// settings come from a bad environment; the daemon's import check (which
// runs without app.env) does not see it.
const envApp = `import os
fail = os.environ.get("FAIL_ON_WORKER")
if fail and fail == os.environ.get("WHISGEE_WORKER_ID"):
    raise RuntimeError("FAIL_ON_WORKER is " + fail)
def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    else:
        body = ("greeting=%s pid=%d\n" % (os.environ.get("GREETING"), os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// reloadStack is a daemon over envApp with n workers, GREETING=one, and
// steady GET and POST load through its proxy.
type reloadStack struct {
	t      *testing.T
	d      *Daemon
	c      *control.Client
	listen string
	load   *loadgen.Generator
}

func newReloadStack(t *testing.T, n int) *reloadStack {
	py := testenv.PythonWith(t)
	listen := testenv.FreeAddr(t)
	yaml := fmt.Sprintf("app: {module: app:application, python: %s, env: {GREETING: one}}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\nworkers: {count: %d, graceful_timeout: 10s, health: {interval: 200ms}}\n", py, listen, testenv.FreeAddr(t), n)
	d, c := runDaemon(t, yaml, envApp)
	waitRunning(t, c, n)
	s := &reloadStack{t: t, d: d, c: c, listen: listen}
	s.load = loadgen.New(loadgen.Options{BaseURL: "http://" + listen, Concurrency: 6, Timeout: 30 * time.Second, Targets: loadgen.GetsAndPosts()})
	s.load.Start()
	t.Cleanup(func() { s.load.Stop() })
	return s
}

// edit rewrites the config file, replacing old with new.
func (s *reloadStack) edit(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.d.cfg.Path)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		s.t.Fatalf("config has no %q:\n%s", old, b)
	}
	if err := os.WriteFile(s.d.cfg.Path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *reloadStack) reload() (control.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.c.Reload(ctx)
}

// mustReload reloads and checks that the message says want.
func (s *reloadStack) mustReload(want string) {
	s.t.Helper()
	if res, err := s.reload(); err != nil || !strings.Contains(res.Message, want) {
		s.t.Fatalf("reload: %+v %v; want a message with %q", res, err, want)
	}
}

// wantGreeting checks that the proxy reaches only workers that answer
// greeting=want.
func (s *reloadStack) wantGreeting(want string) {
	s.t.Helper()
	seen := map[string]bool{}
	for range 12 {
		resp, err := http.Get("http://" + s.listen + "/")
		if err != nil {
			s.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[strings.Fields(string(b))[0]] = true
	}
	if len(seen) != 1 || !seen["greeting="+want] {
		s.t.Fatalf("the workers answer %v, want greeting=%s only", seen, want)
	}
}

// noFailures stops the load and checks that every request succeeded.
func (s *reloadStack) noFailures() {
	s.t.Helper()
	time.Sleep(200 * time.Millisecond)
	res := s.load.Stop()
	if res.Failed() != 0 || res.Sent < 50 {
		s.t.Fatalf("requests failed during the reload: %s", res)
	}
	s.t.Logf("load: %s", res)
}

// restarted waits until all workers run again and returns the ids whose
// pid is not the one in before.
func (s *reloadStack) restarted(before []supervisor.Worker) string {
	s.t.Helper()
	var ids []string
	for i, w := range waitRunning(s.t, s.c, len(before)) {
		if w.PID != before[i].PID {
			ids = append(ids, fmt.Sprint(w.ID))
		}
	}
	return strings.Join(ids, " ")
}

// wantError reloads and checks that the reload fails with one line
// containing each of parts.
func (s *reloadStack) wantError(parts ...string) {
	s.t.Helper()
	_, err := s.reload()
	if err == nil || strings.Contains(err.Error(), "\n") {
		s.t.Fatalf("reload: %v; want one line with %q", err, parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			s.t.Fatalf("reload: %v; want one line with %q", err, parts)
		}
	}
	s.t.Logf("reload refused: %v", err)
}

func TestReloadRestartsEveryWorkerWithTheNewEnvUnderLoad(t *testing.T) {
	s := newReloadStack(t, 3)
	before := waitRunning(t, s.c, 3)
	s.edit("GREETING: one", "GREETING: two")
	s.mustReload("workers restarted one by one with the new app.env")
	if got := s.restarted(before); got != "0 1 2" {
		t.Fatalf("workers with a new pid: %q, want all", got)
	}
	s.wantGreeting("two")
	s.noFailures()
}

func TestReloadOfLiveSettingsRestartsNobody(t *testing.T) {
	s := newReloadStack(t, 2)
	before := waitRunning(t, s.c, 2)
	s.edit("graceful_timeout: 10s", "graceful_timeout: 5s, backoff: {initial: 1s}")
	s.mustReload("applied without restarting workers: workers.backoff, workers.graceful_timeout")
	if got := s.restarted(before); got != "" {
		t.Fatalf("a live change restarted workers %s", got)
	}
	s.noFailures()
}

func TestReloadOfAModuleThatDoesNotImportChangesNothing(t *testing.T) {
	s := newReloadStack(t, 2)
	before := waitRunning(t, s.c, 2)
	s.edit("module: app:application", "module: nosuchmod:application")
	s.wantError("app.module: cannot start nosuchmod:application", "No module named 'nosuchmod'", "nothing was changed")
	if got := s.restarted(before); got != "" {
		t.Fatalf("a refused reload restarted workers %s", got)
	}
	s.wantGreeting("one")
	// The fix: the module now exists.
	os.WriteFile(s.d.cfg.App.Dir+"/nosuchmod.py", []byte(envApp), 0o644)
	s.mustReload("with the new app.module")
	if got := s.restarted(before); got != "0 1" {
		t.Fatalf("workers with a new pid after the fix: %q, want all", got)
	}
	s.noFailures()
}

func TestReloadThatFailsOnAWorkerPutsTheOldSettingsBack(t *testing.T) {
	s := newReloadStack(t, 3)
	before := waitRunning(t, s.c, 3)
	// Worker 0 takes the new settings, worker 1 fails on them.
	s.edit("GREETING: one", "GREETING: two, FAIL_ON_WORKER: '1'")
	s.wantError("reload stopped at worker 1, the old settings are back", "FAIL_ON_WORKER is 1", "fix app.env and reload again")
	// Worker 0 went back to the old settings, worker 1 respawned on them,
	// worker 2 was never touched.
	if got := s.restarted(before); got != "0 1" {
		t.Fatalf("workers with a new pid: %q, want 0 and 1", got)
	}
	for _, w := range waitRunning(t, s.c, 3)[:2] {
		if w.Restarts != 2 {
			t.Fatalf("worker %d should have been restarted twice: %+v", w.ID, w)
		}
	}
	s.wantGreeting("one")
	// Fixed, the reload goes through.
	s.edit("GREETING: two, FAIL_ON_WORKER: '1'", "GREETING: two")
	s.mustReload("with the new app.env")
	s.wantGreeting("two")
	s.noFailures()
}

func TestReloadRefusesAWorkerSocketChangeInOneLine(t *testing.T) {
	s := newReloadStack(t, 1)
	before := waitRunning(t, s.c, 1)
	s.edit("GREETING: one", "GREETING: two")
	s.edit("graceful_timeout: 10s", "graceful_timeout: 10s, socket: tcp")
	s.wantError("invalid request: workers.socket changed; that needs a restart of whisgee up")
	if got := s.restarted(before); got != "" {
		t.Fatalf("a refused reload restarted workers %s", got)
	}
	s.wantGreeting("one")
	s.noFailures()
}

func TestReloadWithCircusSaysWorkerSettingsAreCircusds(t *testing.T) {
	ep := "tcp://" + testenv.FreeAddr(t)
	_, peer := startDaemon(t, fmt.Sprintf("workers: {count: 1}\nsupervisor: {circus_endpoint: %q}\n", ep))
	waitRunning(t, peer, 1)
	yaml := fmt.Sprintf("app: {module: unused:app}\nsupervisor: {engine: circus, endpoint: %q}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\nworkers: {count: 1, health: {interval: 200ms}}\n", ep, testenv.FreeAddr(t), testenv.FreeAddr(t))
	d, c := runDaemon(t, yaml, "")
	before := waitRunning(t, c, 1)
	os.WriteFile(d.cfg.Path, []byte(strings.Replace(yaml, "module: unused:app", "module: unused:app, env: {A: '1'}", 1)), 0o644)
	res, err := c.Reload(context.Background())
	if err != nil || !strings.Contains(res.Message, "worker settings are circusd's: change circus.ini") {
		t.Fatalf("reload with circus: %+v %v", res, err)
	}
	if after := waitRunning(t, c, 1); after[0].PID != before[0].PID {
		t.Fatalf("circus's worker restarted: %+v", after[0])
	}
}

// TestReloadsArrivingTogetherRunOneAtATime: a second reload (say a SIGHUP
// while `ctl reload` rolls the workers) waits for the first, then reads
// the file again: both succeed, and the workers are restarted once.
func TestReloadsArrivingTogetherRunOneAtATime(t *testing.T) {
	s := newReloadStack(t, 2)
	before := waitRunning(t, s.c, 2)
	s.edit("GREETING: one", "GREETING: two")
	type outcome struct {
		msg string
		err error
	}
	results := make(chan outcome, 2)
	for range 2 {
		go func() {
			res, err := s.reload()
			results <- outcome{res.Message, err}
		}()
	}
	restarts := 0
	for range 2 {
		o := <-results
		if o.err != nil {
			t.Fatalf("a reload arriving during another failed: %v", o.err)
		}
		if strings.Contains(o.msg, "workers restarted one by one") {
			restarts++
		}
	}
	if restarts != 1 {
		t.Errorf("%d reloads restarted the workers, want 1 (the second finds nothing left to change)", restarts)
	}
	if got := s.restarted(before); got != "0 1" {
		t.Fatalf("workers with a new pid: %q, want both", got)
	}
	s.wantGreeting("two")
	s.noFailures()
}
