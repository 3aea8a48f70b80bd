package envoy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// testWorker is a WSGI worker stand-in: an HTTP server on a Unix socket
// that says which worker answered. On worker 0, requests to /slow wait
// for release; other workers answer them at once.
type testWorker struct {
	id      int
	path    string
	srv     *http.Server
	checks  atomic.Int64 // health checks answered
	release chan struct{}
}

func startWorker(t *testing.T, id int, path string) *testWorker {
	t.Helper()
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	w := &testWorker{id: id, path: path, release: make(chan struct{})}
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.checks.Add(1)
		}
		if r.URL.Path == "/slow" && id == 0 {
			<-w.release
		}
		fmt.Fprintf(rw, "worker-%d", id)
	})}
	go w.srv.Serve(l)
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *testWorker) stop() {
	select {
	case <-w.release:
	default:
		close(w.release)
	}
	w.srv.Close()
}

// freePort is a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	p, _ := strconv.Atoi(port)
	return p
}

type stack struct {
	dir, yaml string
	cfg       *config.Config
	workers   []*testWorker
	engine    *Engine
	log       *testenv.Buffer
}

// newStack starts two workers and an Engine running the stand-in Envoy
// (this test binary with WHISGEE_FAKE_ENVOY=1; see fakeenvoy_test.go).
func newStack(t *testing.T) *stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "wg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &stack{dir: dir, log: &testenv.Buffer{}}
	s.yaml = fmt.Sprintf(`app: {module: app:application}
workers:
  count: 2
  health: {path: /health, interval: 100ms, timeout: 500ms}
run_dir: %s
proxy:
  engine: envoy
  listen: 127.0.0.1:%d
  admin: 127.0.0.1:%d
  envoy: {drain_time: 1s, parent_shutdown_time: 2s, start_timeout: 10s}
`, dir, freePort(t), freePort(t))
	s.cfg = s.parse(t, s.yaml)
	for i := 0; i < 2; i++ {
		s.workers = append(s.workers, startWorker(t, i, filepath.Join(dir, fmt.Sprintf("worker-%d.sock", i))))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s.engine, err = New(Options{Config: s.cfg, Binary: exe, Env: append(os.Environ(), "WHISGEE_FAKE_ENVOY=1"), Log: s.log, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.engine.Start(ctx); err != nil {
		t.Fatalf("start: %v\n%s", err, s.log)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.engine.Close(ctx)
	})
	return s
}

func (s *stack) parse(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y), filepath.Join(s.dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// get sends a request through Envoy's plain listener.
func (s *stack) get(t *testing.T, listen, path string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + listen + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// eventually polls cond until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEngineStartsEnvoyAndReadsIt(t *testing.T) {
	s := newStack(t)
	e := s.engine
	if e.Version() != "1.39.1" || e.Epoch() != 0 || e.Name() != "envoy" {
		t.Fatalf("version %q epoch %d", e.Version(), e.Epoch())
	}
	eventually(t, "both workers healthy", func() bool { return e.Healthy(0) && e.Healthy(1) })
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		body, err := s.get(t, s.cfg.Proxy.Listen, "/")
		if err != nil {
			t.Fatal(err)
		}
		seen[body] = true
	}
	if !seen["worker-0"] || !seen["worker-1"] {
		t.Fatalf("traffic reached %v", seen)
	}
	snap, err := e.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Engine != "envoy" || snap.Version != "1.39.1" || len(snap.Hosts) != 2 {
		t.Fatalf("snapshot = %+v", snap)
	}
	h := snap.HostByAddress(s.workers[1].path)
	if h == nil || h.WorkerID != 1 || h.Name != "worker-1" || h.Health != "healthy" {
		t.Fatalf("host = %+v", h)
	}
	if len(snap.Listeners) != 1 || snap.Listeners[0].Address != s.cfg.Proxy.Listen || snap.Listeners[0].Requests != 20 {
		t.Fatalf("listeners = %+v", snap.Listeners)
	}
	// envoy.yaml is the config that serves.
	if _, err := os.Stat(filepath.Join(s.cfg.Proxy.Envoy.ConfigDir, BootstrapFile)); err != nil {
		t.Fatal(err)
	}
}

func TestSafeRestartThroughTheEDSFile(t *testing.T) {
	s := newStack(t)
	e := s.engine
	eventually(t, "both workers healthy", func() bool { return e.Healthy(0) && e.Healthy(1) })

	// A slow request is in flight on worker 0 when the drain starts.
	slowDone := make(chan string, 1)
	go func() {
		for {
			body, _ := s.get(t, s.cfg.Proxy.Listen, "/slow")
			if body == "worker-0" {
				slowDone <- body
				return
			}
			// It went to worker 1, which answered at once: try again.
		}
	}()
	eventually(t, "a request in flight on worker 0", func() bool { return e.InFlight(0) == 1 })

	e.SetDraining(0, true)
	data, err := os.ReadFile(filepath.Join(s.cfg.Proxy.Envoy.ConfigDir, EDSFile))
	if err != nil || !strings.Contains(string(data), "DRAINING") || ValidateEDS(data).Err() != nil {
		t.Fatalf("EDS file after SetDraining: %v\n%s", err, data)
	}
	// New requests avoid the draining worker; the slow one goes on.
	for i := 0; i < 10; i++ {
		if body, err := s.get(t, s.cfg.Proxy.Listen, "/"); err != nil || body != "worker-1" {
			t.Fatalf("request %d during the drain went to %q (%v)", i, body, err)
		}
	}
	if n := e.InFlight(0); n != 1 {
		t.Fatalf("in flight on the draining worker = %d, want 1", n)
	}
	close(s.workers[0].release)
	<-slowDone
	eventually(t, "worker 0 idle", func() bool { return e.InFlight(0) == 0 })

	// Restart worker 0 on the same socket; WaitHealthy must see a check
	// of the new process, not the old verdict.
	s.workers[0].stop()
	fresh := startWorker(t, 0, s.workers[0].path)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if fresh.checks.Load() == 0 {
		t.Fatal("WaitHealthy returned before the new worker answered a health check")
	}
	e.SetDraining(0, false)
	eventually(t, "traffic back on worker 0", func() bool {
		body, err := s.get(t, s.cfg.Proxy.Listen, "/")
		return err == nil && body == "worker-0"
	})
}

func TestInFlightWaitsUntilEnvoyAppliedTheDrain(t *testing.T) {
	s := newStack(t)
	e := s.engine
	// The EDS file says DRAINING but Envoy has not read it: the engine's
	// own state says "drain", Envoy does not show it, so not idle yet.
	e.mu.Lock()
	e.draining[1] = true
	e.mu.Unlock()
	if n := e.InFlight(1); n != 1 {
		t.Fatalf("in flight before Envoy applied the drain = %d, want 1", n)
	}
	e.SetDraining(1, true)
	eventually(t, "drain applied", func() bool { return e.InFlight(1) == 0 })
}

func TestReloadHotRestartsToTheNextEpoch(t *testing.T) {
	s := newStack(t)
	e := s.engine
	eventually(t, "healthy", func() bool { return e.Healthy(0) })
	first := e.cur
	newCfg := s.parse(t, strings.Replace(s.yaml, "engine: envoy", "engine: envoy\n  upstream_timeout: 10s", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Reload(ctx, newCfg); err != nil {
		t.Fatalf("reload: %v\n%s", err, s.log)
	}
	si, err := e.Admin().ServerInfo(ctx)
	if err != nil || e.Epoch() != 1 || int(si.CommandLineOptions.RestartEpoch) != 1 {
		t.Fatalf("epoch %d, server_info %+v, %v", e.Epoch(), si, err)
	}
	if _, err := s.get(t, s.cfg.Proxy.Listen, "/"); err != nil {
		t.Fatal(err)
	}
	// The new epoch stops the old one after parent_shutdown_time (2s).
	select {
	case <-first.done:
	case <-time.After(8 * time.Second):
		t.Fatal("epoch 0 still runs long after parent_shutdown_time")
	}
	served, _ := os.ReadFile(filepath.Join(newCfg.Proxy.Envoy.ConfigDir, BootstrapFile))
	if !strings.Contains(string(served), "timeout: 10s") {
		t.Fatal("envoy.yaml is not the config now serving")
	}
}

func TestFailedEpochLeavesTheOldOneServing(t *testing.T) {
	s := newStack(t)
	e := s.engine
	eventually(t, "healthy", func() bool { return e.Healthy(0) })
	// The new config moves the listener to a port something else holds:
	// the new epoch cannot bind it and exits, after it took the admin
	// endpoint from its parent, as Envoy's hot restart does.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := s.parse(t, strings.Replace(s.yaml, s.cfg.Proxy.Listen, taken.Addr().String(), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = e.Reload(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "Address already in use") || !strings.Contains(err.Error(), "previous config serves on") {
		t.Fatalf("reload err = %v\n%s", err, s.log)
	}
	// Traffic never stopped on the old listener, and the admin is back.
	if body, err := s.get(t, s.cfg.Proxy.Listen, "/"); err != nil || !strings.HasPrefix(body, "worker-") {
		t.Fatalf("old listener: %q %v", body, err)
	}
	if st, err := e.Admin().Ready(ctx); err != nil || st != "LIVE" {
		t.Fatalf("admin after the failed epoch: %q %v", st, err)
	}
	if e.cfg != s.cfg {
		t.Fatal("the engine adopted the config that failed")
	}
}

func TestValidateRefusalChangesNothing(t *testing.T) {
	s := newStack(t)
	e := s.engine
	cur := e.cur
	e.opts.Env = append(e.opts.Env, "FAKE_ENVOY_REJECT=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.Reload(ctx, s.cfg)
	if err == nil || !strings.Contains(err.Error(), "envoy --mode validate rejects") || !strings.Contains(err.Error(), "fake rejection") {
		t.Fatalf("err = %v", err)
	}
	if e.cur != cur || e.Epoch() != 0 || !cur.alive() {
		t.Fatal("a refused config touched the running Envoy")
	}
}

func TestStartWithoutEnvoySaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	cfg := loadConfig(t, dir, "app: {module: a:b}\nproxy: {engine: envoy}\n")
	e, err := New(Options{Config: cfg, Binary: filepath.Join(dir, "no-envoy")})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "proxy.envoy.binary") {
		t.Fatalf("err = %v", err)
	}
	// Before Start nothing runs: nothing is in flight, nothing healthy.
	if e.InFlight(0) != 0 || e.Healthy(0) {
		t.Fatal("a stopped engine reports traffic")
	}
	_ = supervisor.Backend{}
}

// TestEnvoyThatDiesIsStartedAgain: Envoy runs under whisgee's supervision
// like the workers do; killed, it comes back as a fresh epoch 0.
func TestEnvoyThatDiesIsStartedAgain(t *testing.T) {
	s := newStack(t)
	e := s.engine
	var notices []string
	var mu sync.Mutex
	e.opts.OnNotice = func(m string) { mu.Lock(); notices = append(notices, m); mu.Unlock() }
	eventually(t, "healthy", func() bool { return e.Healthy(0) })
	e.mu.Lock()
	first := e.cur
	e.mu.Unlock()
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	eventually(t, "a new Envoy process", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.cur != first && e.cur.alive()
	})
	if body, err := s.get(t, s.cfg.Proxy.Listen, "/"); err != nil || !strings.HasPrefix(body, "worker-") {
		t.Fatalf("through the restarted Envoy: %q %v\n%s", body, err, s.log)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) < 2 || !strings.Contains(notices[0], "envoy epoch 0 died") || !strings.Contains(notices[len(notices)-1], "envoy is back") {
		t.Fatalf("notices: %q", notices)
	}
}
