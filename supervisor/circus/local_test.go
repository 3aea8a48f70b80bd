package circus

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/proxyctl/builtin"
	"github.com/whisgee/whisgee/supervisor"
)

func TestMain(m *testing.M) {
	supervisor.MaybeRunShim() // Local starts its workers through this test binary
	os.Exit(m.Run())
}

const localApp = `import os
def application(environ, start_response):
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// newLocal starts whisgee's built-in supervisor over n real Python workers.
func newLocal(t *testing.T, n int) (*supervisor.Local, *config.Config) {
	t.Helper()
	py := testenv.PythonWith(t)
	dir := testenv.ShortDir(t)
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(localApp), 0o644); err != nil {
		t.Fatal(err)
	}
	runner, err := assets.WriteFile(dir, "runner.py", assets.Runner(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: %d, server: wsgiref, graceful_timeout: 5s}\ncontrol: {socket: ctl.sock}\n", py, n)
	if err := os.WriteFile(filepath.Join(dir, "whisgee.yaml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.NewLocal(supervisor.Options{Config: cfg, RunnerPath: runner,
		Backoff: &supervisor.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sup.Close(ctx)
	})
	return sup, cfg
}

// askWorker sends a request to a worker's Unix socket and returns the body.
func askWorker(t *testing.T, socket string) string {
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

// The circus client drives whisgee's built-in supervisor through the
// circus-protocol endpoint, as it would drive circusd.
func TestClientDrivesLocalThroughCircusEndpoint(t *testing.T) {
	local, cfg := newLocal(t, 2)
	c, events, ws, real := serveAndDial(t, local, &ServeOptions{Config: cfg})
	ctx := context.Background()
	if len(ws) != 2 {
		t.Fatalf("client sees %+v", ws)
	}
	for i := range ws {
		if ws[i].ID != real[i].ID || ws[i].PID != real[i].PID || ws[i].Socket != real[i].Socket {
			t.Errorf("worker %d: client %d/%d/%s, Local %d/%d/%s", i, ws[i].ID, ws[i].PID, ws[i].Socket, real[i].ID, real[i].PID, real[i].Socket)
		}
	}
	if got, want := askWorker(t, ws[1].Socket), fmt.Sprintf("pid=%d\n", ws[1].PID); got != want {
		t.Errorf("worker 1 answered %q, want %q", got, want)
	}

	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	after, _ := local.Workers(ctx)
	if after[1].PID == real[1].PID || after[0].PID != real[0].PID {
		t.Errorf("Restart(1): pids %d,%d -> %d,%d; want only worker 1 replaced", real[0].PID, real[1].PID, after[0].PID, after[1].PID)
	}
	if got, want := askWorker(t, after[1].Socket), fmt.Sprintf("pid=%d\n", after[1].PID); got != want {
		t.Errorf("restarted worker answered %q, want %q on the same socket", got, want)
	}

	if err := c.Scale(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if ws, _ := local.Workers(ctx); len(ws) != 3 {
		t.Errorf("Scale(3) through circus's incr: Local runs %d", len(ws))
	}
	if err := c.RollingRestart(ctx); err != nil {
		t.Fatal(err)
	}

	// circusctl stop, status, start on the whole watcher.
	if _, err := c.waiting(ctx, "stop", map[string]any{"name": "web"}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.quick(ctx, "status", map[string]any{"name": "web"}); err != nil || r.Status != "stopped" {
		t.Fatalf("status after stop: %v %v", r, err)
	}
	if err := c.StartWorker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if ws, _ := local.Workers(ctx); ws[0].PID == 0 {
		t.Errorf("StartWorker(0) left worker 0 stopped: %+v", ws[0])
	}

	spawns := 0
	timeout := time.After(10 * time.Second)
	for spawns < 3 {
		select {
		case ev := <-events:
			if ev.Kind == supervisor.EventSpawn && ev.Worker >= 0 {
				spawns++
			}
		case <-timeout:
			t.Fatalf("saw %d spawn events with their worker through circus's pubsub", spawns)
		}
	}
}

// A rolling restart through circus's protocol, with the built-in proxy as
// the client's Router, drops no request: each worker (a watcher of its
// own) is drained in the proxy before it is restarted and health-checked
// after.
func TestRollingRestartThroughCircusDropsNoRequest(t *testing.T) {
	local, cfg := newLocal(t, 2)
	pcfg, err := config.Parse([]byte("app: {module: \"app:application\"}\ncontrol: {socket: /tmp/wg-unused.sock}\n"+
		"proxy: {listen: 127.0.0.1:0, admin: \"off\"}\nworkers: {health: {interval: 100ms, timeout: 1s}}\n"), "proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := builtin.New(pcfg, builtin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		proxy.Close(ctx)
	})
	srv := startServer(t, local, func(o *ServeOptions) { o.Config = cfg; o.PerWorker = true })
	steps := &stepLog{}
	router := &loggingRouter{Router: proxy, log: steps}
	c := newTestClient(t, srv.Endpoint(), func(o *Options) {
		o.Router = router
		o.ActionTimeout = 30 * time.Second
		o.GracefulTimeout = 5 * time.Second
	})
	exits, unsubscribe := local.Subscribe()
	t.Cleanup(unsubscribe)
	go func() {
		for ev := range exits {
			if ev.Kind == supervisor.EventExit {
				steps.add(fmt.Sprintf("exit %d", ev.Worker))
			}
		}
	}()
	ctx := context.Background()
	ws, err := c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var backends []supervisor.Backend
	for _, w := range ws {
		backends = append(backends, supervisor.Backend{ID: w.ID, Name: w.Name, Network: "unix", Address: w.Socket})
	}
	proxy.SetWorkers(backends)
	if err := proxy.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := proxy.WaitHealthy(wctx, w.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}

	url := "http://" + proxy.Addr("http") + "/"
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < 20000; i++ { // bounded: the restart ends long before
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url)
				sent.Add(1)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	err = c.RollingRestart(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := local.Workers(ctx)
	for i := range after {
		if after[i].PID == ws[i].PID {
			t.Errorf("worker %d kept pid %d", i, ws[i].PID)
		}
	}
	// Each worker was drained before its process exited, and taken back
	// only after a health check passed.
	for _, w := range ws {
		order := []string{fmt.Sprintf("drain %d", w.ID), fmt.Sprintf("exit %d", w.ID), fmt.Sprintf("healthy %d", w.ID), fmt.Sprintf("undrain %d", w.ID)}
		if !steps.inOrder(order...) {
			t.Errorf("worker %d: want %v in that order; got %v", w.ID, order, steps.all())
		}
	}
	if failed.Load() > 0 || sent.Load() < 10 {
		t.Errorf("%d of %d requests failed during the rolling restart (first: %v)", failed.Load(), sent.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none failed, through a rolling restart of %d workers", sent.Load(), len(after))
}

// stepLog records what happened, in order, from several goroutines.
type stepLog struct {
	mu    sync.Mutex
	steps []string
}

func (l *stepLog) add(s string) {
	l.mu.Lock()
	l.steps = append(l.steps, s)
	l.mu.Unlock()
}

func (l *stepLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.steps...)
}

// inOrder reports whether the steps occur in this order (others between).
func (l *stepLog) inOrder(want ...string) bool {
	i := 0
	for _, s := range l.all() {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

// loggingRouter is the real proxy, with its draining and health calls
// logged.
type loggingRouter struct {
	supervisor.Router
	log *stepLog
}

func (r *loggingRouter) SetDraining(id int, draining bool) {
	if draining {
		r.log.add(fmt.Sprintf("drain %d", id))
	} else {
		r.log.add(fmt.Sprintf("undrain %d", id))
	}
	r.Router.SetDraining(id, draining)
}

func (r *loggingRouter) WaitHealthy(ctx context.Context, id int) error {
	err := r.Router.WaitHealthy(ctx, id)
	if err == nil {
		r.log.add(fmt.Sprintf("healthy %d", id))
	}
	return err
}
