package dash

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/daemon"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/tuitest"
)

// startDaemon runs a real daemon (built-in proxy and supervisor, the demo
// app on real Python workers) for the test, and stops it at the end.
func startDaemon(t *testing.T, workers int, traffic bool) (*config.Config, *control.Client) {
	t.Helper()
	cfg := demoConfig(t, workers, traffic)
	runDaemon(t, cfg)
	c := control.NewClient(cfg.Control.Socket)
	c.Actor = "dash-test"
	t.Cleanup(c.Close)
	return cfg, c
}

// demoConfig is the config of a demo stack in a short temp dir.
func demoConfig(t *testing.T, workers int, traffic bool) *config.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Python workers")
	}
	py := testenv.PythonWith(t)
	dir := testenv.ShortDir(t)
	appDir := filepath.Join(dir, "app")
	if _, err := assets.WriteFile(appDir, "demoapp.py", assets.DemoApp(), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`app:
  module: demoapp:application
  dir: %s
  python: %s
workers:
  count: %d
  graceful_timeout: 3s
  health:
    path: /health
    interval: 200ms
proxy:
  listen: %s
  admin: %s
control:
  socket: %s
run_dir: %s
demo:
  traffic: %t
  rate: 40
`, appDir, py, workers, testenv.FreeAddr(t), testenv.FreeAddr(t), filepath.Join(dir, "c.sock"), dir, traffic)
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runDaemon starts a daemon for cfg; it stops at the end of the test, or
// earlier through the returned Daemon.
func runDaemon(t *testing.T, cfg *config.Config) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(cfg, daemon.Options{Version: "test", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopDaemon(t, d) })
	return d
}

func stopDaemon(t *testing.T, d *daemon.Daemon) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Errorf("stopping the daemon: %v", err)
	}
}

// seen is what the dashboard showed after an Update: its screen and a
// copy of its rows, safe to read from the test goroutine.
type seen struct {
	view string
	rows []Row
}

// probe wraps the dashboard in a real tea.Program and publishes what it
// shows after every Update.
type probe struct {
	m       Model
	mu      *sync.Mutex
	last    *seen
	changed chan struct{}
}

func (p probe) Init() tea.Cmd { return p.m.Init() }

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	next, cmd := p.m.Update(msg)
	p.m = next.(Model)
	s := &seen{view: p.m.View(), rows: append([]Row(nil), p.m.table.rows...)}
	p.mu.Lock()
	*p.last = *s
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return p, cmd
}

func (p probe) View() string { return p.m.View() }

// flow runs the dashboard against c in a real tea.Program without a
// terminal; keys are sent as a terminal would.
type flow struct {
	t       *testing.T
	prog    *tea.Program
	mu      sync.Mutex
	last    seen
	changed chan struct{}
	done    chan error
}

func startFlow(t *testing.T, c Client, w, h int) *flow {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flow{t: t, done: make(chan error, 1), changed: make(chan struct{}, 1)}
	m := New(Options{Client: c, Refresh: 250 * time.Millisecond, Actor: "dash-test", Context: ctx})
	f.prog = tea.NewProgram(probe{m: m, mu: &f.mu, last: &f.last, changed: f.changed},
		tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithoutSignals(), tea.WithContext(ctx))
	go func() { _, err := f.prog.Run(); f.done <- err }()
	f.prog.Send(tea.WindowSizeMsg{Width: w, Height: h})
	t.Cleanup(func() {
		cancel()
		f.prog.Quit()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Error("the dashboard did not stop")
		}
	})
	return f
}

func (f *flow) keys(keys ...string) {
	for _, k := range keys {
		f.prog.Send(tuitest.Key(k))
	}
}

// until waits for cond to hold on what the dashboard shows.
func (f *flow) until(what string, timeout time.Duration, cond func(s seen) bool) seen {
	f.t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		s := f.last
		f.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-f.changed:
		case <-deadline:
			f.t.Fatalf("waited %s for %s; the screen shows:\n%s", timeout, what, s.view)
		}
	}
}

func pids(rows []Row) map[int]int {
	out := map[int]int{}
	for _, r := range rows {
		out[r.ID] = r.PID
	}
	return out
}

func allServing(n int) func(seen) bool {
	return func(s seen) bool {
		if len(s.rows) != n {
			return false
		}
		for _, r := range s.rows {
			if r.State != supervisor.StateRunning || r.PID == 0 || r.Health() != "healthy" {
				return false
			}
		}
		return true
	}
}

// TestFlowAgainstRealDaemon drives the dashboard with keys against a real
// daemon: restart one worker, restart all, add one.
func TestFlowAgainstRealDaemon(t *testing.T) {
	_, c := startDaemon(t, 4, true)
	f := startFlow(t, c, 160, 48)

	s := f.until("4 healthy workers", 30*time.Second, allServing(4))
	if !strings.Contains(s.view, "workers 4/4 running") {
		t.Errorf("the screen does not say 4/4 running:\n%s", s.view)
	}
	before := pids(s.rows)

	// r on worker 2, then y: a new pid, and an audit line.
	f.keys("j", "j", "r")
	f.until("the restart dialog", 5*time.Second, func(s seen) bool {
		return strings.Contains(s.view, fmt.Sprintf("Restart worker-2 (pid %d)?", before[2])) ||
			strings.Contains(s.view, fmt.Sprintf("(pid %d)?", before[2]))
	})
	f.keys("y")
	s = f.until("worker 2 restarted", 60*time.Second, func(s seen) bool {
		p := pids(s.rows)
		return p[2] != 0 && p[2] != before[2] && strings.Contains(s.view, "restart worker 2 → ok") && allServing(4)(s)
	})
	after := pids(s.rows)
	for _, id := range []int{0, 1, 3} {
		if after[id] != before[id] {
			t.Errorf("worker %d changed pid %d→%d on a restart of worker 2", id, before[id], after[id])
		}
	}

	// R, y: every worker gets a new process, one at a time.
	f.keys("R")
	f.until("the rolling restart dialog", 5*time.Second, func(s seen) bool {
		return strings.Contains(s.view, "Rolling restart of all 4 workers?")
	})
	f.keys("y")
	f.until("all workers restarted", 90*time.Second, func(s seen) bool {
		p := pids(s.rows)
		for id, pid := range after {
			if p[id] == pid || p[id] == 0 {
				return false
			}
		}
		return strings.Contains(s.view, "rolling restart of all workers → ok") && allServing(4)(s)
	})

	// + adds a fifth worker, without asking.
	f.keys("+")
	s = f.until("a fifth worker", 60*time.Second, func(s seen) bool {
		return allServing(5)(s) && strings.Contains(s.view, "scale to 5 workers → ok")
	})
	if !strings.Contains(s.view, "workers 5/5 running") {
		t.Errorf("after +, the screen does not say 5/5:\n%s", s.view)
	}
}

// TestFlowRidesOutADaemonRestart: the daemon goes away (stale banner, last
// data kept), a new one starts on the same socket, and the dashboard picks
// it up by itself, events included.
func TestFlowRidesOutADaemonRestart(t *testing.T) {
	cfg := demoConfig(t, 2, false)
	first := runDaemon(t, cfg)
	c := control.NewClient(cfg.Control.Socket)
	t.Cleanup(c.Close)
	f := startFlow(t, c, 120, 36)
	s := f.until("2 healthy workers", 30*time.Second, allServing(2))
	old := pids(s.rows)

	stopDaemon(t, first)
	s = f.until("the stale banner", 10*time.Second, func(s seen) bool { return strings.Contains(s.view, "STALE") })
	// The last data stays (the shutdown's events show the workers stopping).
	if len(s.rows) != 2 || !strings.Contains(s.view, "worker-1 stopping: shutdown") || !strings.Contains(s.view, "lost the daemon") {
		t.Errorf("while stale the last data or the note is missing:\n%s", s.view)
	}

	runDaemon(t, cfg)
	f.until("the new daemon's workers and events", 30*time.Second, func(s seen) bool {
		p := pids(s.rows)
		if strings.Contains(s.view, "STALE") || !allServing(2)(s) || p[0] == old[0] || p[1] == old[1] {
			return false
		}
		// The new daemon's spawn events arrive on a new subscription.
		return strings.Contains(s.view, fmt.Sprintf("spawned pid %d", p[0])) && strings.Contains(s.view, "answers again")
	})
}
