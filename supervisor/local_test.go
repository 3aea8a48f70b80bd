package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
)

func TestMain(m *testing.M) {
	MaybeRunShim() // workers are started through this test binary
	os.Exit(m.Run())
}

// stack is a Local supervisor over real Python workers in a short temp dir.
type stack struct {
	t   *testing.T
	dir string
	cfg *config.Config
	sup *Local
}

func newStack(t *testing.T, yaml string) *stack {
	t.Helper()
	py := testenv.PythonWith(t)
	dir := testenv.ShortDir(t)
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(testApp), 0o644); err != nil {
		t.Fatal(err)
	}
	runner, err := assets.WriteFile(dir, "runner.py", assets.Runner(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	full := fmt.Sprintf("app: {module: app:application, python: %s}\ncontrol: {socket: ctl.sock}\n%s", py, yaml)
	if err := os.WriteFile(filepath.Join(dir, "whisgee.yaml"), []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := NewLocal(Options{Config: cfg, RunnerPath: runner, Backoff: &Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{t: t, dir: dir, cfg: cfg, sup: sup}
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sup.Close(ctx)
	})
	return st
}

const testApp = `import os
def application(environ, start_response):
    body = ("pid=%d listen_pid=%s fds=%s greeting=%s\n" % (os.getpid(), os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS"), os.environ.get("GREETING"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// get asks a worker directly over its Unix socket.
func get(t *testing.T, socket string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := c.Get("http://worker/")
	if err != nil {
		t.Fatalf("GET via %s: %v", socket, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (st *stack) workers() []Worker {
	ws, err := st.sup.Workers(context.Background())
	if err != nil {
		st.t.Fatal(err)
	}
	return ws
}

// waitFor polls cond until it holds or the deadline passes.
func (st *stack) waitFor(what string, cond func([]Worker) bool) []Worker {
	st.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ws := st.workers()
		if cond(ws) {
			return ws
		}
		if time.Now().After(deadline) {
			st.t.Fatalf("timed out waiting for %s; workers: %+v", what, ws)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allRunning(n int) func([]Worker) bool {
	return func(ws []Worker) bool {
		if len(ws) != n {
			return false
		}
		for _, w := range ws {
			if w.State != StateRunning || w.PID == 0 {
				return false
			}
		}
		return true
	}
}

func TestWorkersServeOnTheSocketTheSupervisorBound(t *testing.T) {
	st := newStack(t, "workers: {count: 2}\n")
	ws := st.waitFor("2 running workers", allRunning(2))
	for _, w := range ws {
		body := get(t, w.Socket)
		want := fmt.Sprintf("pid=%d listen_pid=%d fds=1", w.PID, w.PID)
		if !strings.HasPrefix(body, want) {
			t.Fatalf("worker %d answered %q, want %q (LISTEN_PID must be the worker's own pid)", w.ID, body, want)
		}
		if fi, err := os.Stat(w.Socket); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket %s: %v, mode %v; want 0600", w.Socket, err, fi.Mode().Perm())
		}
	}
}

func TestKilledWorkerIsRespawnedOnTheSameSocket(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	w := st.waitFor("a running worker", allRunning(1))[0]
	events, cancel := st.sup.Subscribe()
	defer cancel()
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The exit is noticed at once (Wait, not a poll), with its signal.
	timeout := time.After(5 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-events:
			if ev.Kind == EventExit && ev.PID == w.PID {
				if ev.ExitCode != -9 || !strings.Contains(ev.Message, "signal 9") {
					t.Fatalf("exit event %+v, want signal 9", ev)
				}
				seen = true
			}
		case <-timeout:
			t.Fatal("no exit event within 5s of SIGKILL")
		}
	}
	// The socket outlived the process: a request made now waits in the
	// backlog and is served by the new process.
	body := get(t, w.Socket)
	ws := st.waitFor("the respawned worker", func(ws []Worker) bool { return ws[0].PID != 0 && ws[0].PID != w.PID && ws[0].State == StateRunning })
	if !strings.HasPrefix(body, "pid=") || ws[0].Restarts != 1 || ws[0].LastExit != "signal 9 (killed)" {
		t.Fatalf("after respawn: body %q, worker %+v", body, ws[0])
	}
}

func TestCrashLoopMarksTheWorkerFailedWithItsStderr(t *testing.T) {
	st := newStack(t, "workers: {count: 1, crash_loop: {max_crashes: 3, window: 1m}}\n")
	first := st.waitFor("a running worker", allRunning(1))[0]
	// Break the app, then kill the worker: every respawn fails at import.
	if err := os.WriteFile(filepath.Join(st.dir, "app.py"), []byte("import nosuchmodule_xyz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(first.PID, syscall.SIGKILL)
	ws := st.waitFor("the worker to be marked failed", func(ws []Worker) bool { return ws[0].State == StateFailed })
	w := ws[0]
	if w.PID != 0 || !strings.Contains(w.Error, "crashed 3 times") || !strings.Contains(strings.Join(w.LastStderr, "\n"), "nosuchmodule_xyz") {
		t.Fatalf("failed worker: %+v", w)
	}
	// It stays failed: no respawn behind the operator's back.
	time.Sleep(300 * time.Millisecond)
	if w2 := st.workers()[0]; w2.State != StateFailed || w2.PID != 0 {
		t.Fatalf("failed worker came back by itself: %+v", w2)
	}
	// Fixed and started by hand, it runs again.
	os.WriteFile(filepath.Join(st.dir, "app.py"), []byte(testApp), 0o644)
	if err := st.sup.StartWorker(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	st.waitFor("the fixed worker", allRunning(1))
}

func TestRestartReplacesThePIDAndKeepsTheSocket(t *testing.T) {
	st := newStack(t, "workers: {count: 2}\n")
	before := st.waitFor("2 running workers", allRunning(2))
	for _, w := range before {
		get(t, w.Socket) // serving: its signal handlers are in place
	}
	if err := st.sup.RollingRestart(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := st.workers()
	for i := range before {
		if after[i].PID == before[i].PID || after[i].Socket != before[i].Socket || after[i].State != StateRunning || after[i].Restarts != 1 {
			t.Fatalf("worker %d before %+v after %+v", i, before[i], after[i])
		}
		// A graceful stop with SIGINT, not a kill.
		if after[i].LastExit != "exit 0" {
			t.Fatalf("worker %d ended with %q, want a clean exit 0 after SIGINT", i, after[i].LastExit)
		}
	}
}

func TestScaleUpAndDownRemovesSockets(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	st.waitFor("1 worker", allRunning(1))
	if err := st.sup.Scale(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	ws := st.waitFor("3 workers", allRunning(3))
	for _, w := range ws {
		if !strings.HasPrefix(get(t, w.Socket), "pid=") {
			t.Fatal("new worker does not serve")
		}
	}
	gone := ws[2]
	if err := st.sup.Scale(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if ws := st.workers(); len(ws) != 1 || ws[0].ID != 0 {
		t.Fatalf("after scale 1: %+v", ws)
	}
	if _, err := os.Stat(gone.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket of removed worker still there: %v", err)
	}
	if syscall.Kill(gone.PID, 0) == nil {
		t.Fatalf("removed worker pid %d still runs", gone.PID)
	}
}

func TestCloseStopsEveryProcessAndRemovesSockets(t *testing.T) {
	st := newStack(t, "workers: {count: 3}\n")
	ws := st.waitFor("3 workers", allRunning(3))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.sup.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if syscall.Kill(w.PID, 0) == nil {
			t.Fatalf("worker pid %d survived Close", w.PID)
		}
		if _, err := os.Stat(w.Socket); !os.IsNotExist(err) {
			t.Fatalf("socket %s survived Close", w.Socket)
		}
	}
}

func TestBusyAndUnknownWorkersAreClearErrors(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	st.waitFor("1 worker", allRunning(1))
	err := st.sup.Restart(context.Background(), 7)
	if err == nil || !strings.Contains(err.Error(), "no such worker 7") {
		t.Fatalf("restart of worker 7: %v", err)
	}
	if err := st.sup.Scale(context.Background(), 0); err == nil {
		t.Fatal("scale 0 accepted")
	}
	if err := st.sup.Signal(context.Background(), 0, "NOPE"); err == nil {
		t.Fatal("bad signal accepted")
	}
}

func TestStopSignalEscalatesToKill(t *testing.T) {
	// A worker that ignores SIGINT gets SIGKILL after the graceful timeout.
	st := newStack(t, `workers:
  count: 1
  graceful_timeout: 300ms
  cmd: [python3, -c, "import signal, socket, time; signal.signal(signal.SIGINT, signal.SIG_IGN); s = socket.socket(fileno=3); print('ready', flush=True); time.sleep(3600)"]
`)
	st.waitFor("1 worker", allRunning(1))
	st.waitFor("the worker to ignore SIGINT", func([]Worker) bool {
		lines, _ := st.sup.Logs(context.Background(), 0, 10)
		return len(lines) > 0 && lines[len(lines)-1].Text == "ready"
	})
	start := time.Now()
	if err := st.sup.StopWorker(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	got := st.workers()[0]
	if got.State != StateStopped || got.LastExit != "signal 9 (killed)" {
		t.Fatalf("after stop: %+v", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("stop took %v", took)
	}
}
