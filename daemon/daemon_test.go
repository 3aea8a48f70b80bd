package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

func TestMain(m *testing.M) {
	supervisor.MaybeRunShim()
	os.Exit(m.Run())
}

// startDaemon runs a daemon in this process over a tiny test app.
func startDaemon(t *testing.T, extra string) (*Daemon, *control.Client) {
	t.Helper()
	py := testenv.PythonWith(t)
	app := "def application(env, start):\n    start('200 OK', [('Content-Length', '2')])\n    return [b'ok']\n"
	yaml := fmt.Sprintf("app: {module: app:application, python: %s}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\n%s", py, testenv.FreeAddr(t), testenv.FreeAddr(t), extra)
	return runDaemon(t, yaml, app)
}

// runDaemon writes yaml (and app.py, if app is not empty) into a fresh
// short dir and starts a daemon on it, stopped when the test ends.
func runDaemon(t *testing.T, yaml, app string) (*Daemon, *control.Client) {
	t.Helper()
	dir := testenv.ShortDir(t)
	if app != "" {
		os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644)
	}
	path := filepath.Join(dir, "whisgee.yaml")
	os.WriteFile(path, []byte(yaml), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.Stop(ctx)
	})
	c := control.NewClient(cfg.Control.Socket)
	c.Actor = "test"
	t.Cleanup(c.Close)
	return d, c
}

func waitRunning(t *testing.T, c *control.Client, n int) []supervisor.Worker {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.Status(context.Background())
		if err == nil && len(st.Workers) == n {
			ok := true
			for _, w := range st.Workers {
				ok = ok && w.State == supervisor.StateRunning && w.Healthy
			}
			if ok {
				return st.Workers
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d workers did not all run", n)
	return nil
}

func TestActionsAreAuditedOnTheEventStream(t *testing.T) {
	_, c := startDaemon(t, "workers: {count: 2}\n")
	before := waitRunning(t, c, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, _ := c.Events(ctx, 0, true, false)
	res, err := c.Restart(ctx, control.RestartRequest{IDs: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "restart of worker 1: done in") {
		t.Fatalf("result %q", res.Message)
	}
	var kinds []string
	var audit string
	for ev := range events {
		kinds = append(kinds, string(ev.Kind))
		if ev.Kind == supervisor.EventAction && strings.Contains(ev.Message, "test: restart of worker 1 ok") {
			audit = ev.Message
			break
		}
	}
	got := strings.Join(kinds, " ")
	for _, want := range []string{"drain", "exit", "spawn", "restart", "action"} {
		if !strings.Contains(got, want) {
			t.Fatalf("event kinds %q lack %q", got, want)
		}
	}
	if audit == "" {
		t.Fatal("no audit line for the restart")
	}
	after := waitRunning(t, c, 2)
	if after[1].PID == before[1].PID || after[0].PID != before[0].PID {
		t.Fatalf("pids before %d,%d after %d,%d: only worker 1 should change", before[0].PID, before[1].PID, after[0].PID, after[1].PID)
	}
}

func TestTrafficGeneratorTurnsOnAndOff(t *testing.T) {
	_, c := startDaemon(t, "workers: {count: 1}\n")
	waitRunning(t, c, 1)
	ctx := context.Background()
	on, rate := true, 200
	tr, err := c.SetTraffic(ctx, control.TrafficRequest{Enabled: &on, Rate: &rate})
	if err != nil || !tr.Enabled || tr.Rate != 200 {
		t.Fatalf("traffic on: %+v %v", tr, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Proxy != nil && st.Proxy.Cluster.Requests >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the generator sent too little: %+v", st.Traffic)
		}
		time.Sleep(100 * time.Millisecond)
	}
	off := false
	if tr, err = c.SetTraffic(ctx, control.TrafficRequest{Enabled: &off}); err != nil || tr.Enabled {
		t.Fatalf("traffic off: %+v %v", tr, err)
	}
	bad := 0
	if _, err := c.SetTraffic(ctx, control.TrafficRequest{Rate: &bad}); err == nil {
		t.Fatal("rate 0 accepted")
	}
}

func TestStopRemovesTheControlSocket(t *testing.T) {
	d, c := startDaemon(t, "workers: {count: 1}\n")
	waitRunning(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.cfg.Control.Socket); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind: %v", err)
	}
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "no whisgee daemon") {
		t.Fatalf("status after stop: %v", err)
	}
}

func TestReloadAppliesTheWorkerCountAndRefusesFixedKeys(t *testing.T) {
	d, c := startDaemon(t, "workers: {count: 1}\n")
	waitRunning(t, c, 1)
	ctx := context.Background()
	orig, err := os.ReadFile(d.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(d.cfg.Path, []byte(strings.Replace(string(orig), "count: 1", "count: 2", 1)), 0o644)
	res, err := c.Reload(ctx)
	if err != nil || !strings.Contains(res.Message, "scaled to 2 workers") {
		t.Fatalf("reload: %+v %v", res, err)
	}
	waitRunning(t, c, 2)
	// A key that needs a restart is refused, and nothing changes.
	os.WriteFile(d.cfg.Path, []byte(strings.Replace(string(orig), "ctl.sock", "other.sock", 1)), 0o644)
	if _, err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "control.socket changed") {
		t.Fatalf("reload with a new control socket: %v", err)
	}
	// A broken file is refused with its line.
	os.WriteFile(d.cfg.Path, []byte("app: {module: [\n"), 0o644)
	if _, err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "malformed YAML") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	waitRunning(t, c, 2)
}

func TestDemoTrafficCrashesAWorkerOnItsOwnClock(t *testing.T) {
	py := testenv.PythonWith(t)
	yaml := fmt.Sprintf("app: {module: app:application, python: %s}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\nworkers: {count: 2}\ndemo: {traffic: true, rate: 100, crash_every: 400ms}\n", py, testenv.FreeAddr(t), testenv.FreeAddr(t))
	_, c := runDaemon(t, yaml, string(assets.DemoApp()))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		restarts := 0
		for _, w := range st.Workers {
			restarts += w.Restarts
			if w.State == supervisor.StateFailed {
				t.Fatalf("a worker was marked failed: %+v", w)
			}
		}
		if restarts >= 2 && st.Proxy.Cluster.Classes[4] > 0 && st.Proxy.Cluster.Classes[3] > 0 {
			break // crashes respawned, and the mix has its 4xx and 5xx
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d restarts, classes %v", restarts, st.Proxy.Cluster.Classes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
