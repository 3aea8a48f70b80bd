package dash

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/tuitest"
)

func TestMain(m *testing.M) {
	supervisor.MaybeRunShim() // the flow test's workers start through this binary
	// Goldens and assertions read plain text: no colour codes.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// t0 is the fixtures' clock: views never read the wall clock.
var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// fixture is a stack of n workers at time at, having served total
// requests per worker (so two fixtures a second apart give a rate).
func fixture(n int, at time.Time, total uint64) control.Status {
	st := control.Status{
		Daemon: control.Daemon{PID: 4242, Host: "web1.example", StartedAt: t0.Add(-time.Hour - 2*time.Minute),
			Version: "v0.1.0", Supervisor: "builtin", Proxy: "builtin", Python: "python 3.11.2", Server: "waitress",
			Listen: "127.0.0.1:8080", Admin: "127.0.0.1:9901"},
		Proxy:   &stats.Snapshot{Time: at, Engine: "builtin", StartedAt: t0.Add(-time.Hour)},
		Traffic: &control.Traffic{Enabled: true, Rate: 50, Sent: 1000},
	}
	var all stats.Endpoint
	all.Name = "http"
	for i := 0; i < n; i++ {
		sock := fmt.Sprintf("/run/whisgee/w%d.sock", i)
		w := supervisor.Worker{ID: i, Name: fmt.Sprintf("worker-%d", i), PID: 1000 + i, State: supervisor.StateRunning,
			Since: t0.Add(-time.Hour), StartedAt: t0.Add(-time.Duration(i+1) * 7 * time.Minute), Restarts: i % 3,
			CPUPercent: 1.5 * float64(i+1), RSSBytes: uint64(20+i) << 20, Healthy: true, Socket: sock, InFlight: int64(i % 2)}
		if i == 3 {
			w.LastExit, w.LastExitCode = "signal 9 (killed)", -9
		}
		h := stats.Host{WorkerID: i, Health: stats.HealthHealthy}
		h.Name, h.Address = w.Name, sock
		reqs := total * uint64(i+1)
		h.Requests = reqs
		h.Classes = [5]uint64{0, reqs * 90 / 100, 0, reqs * 6 / 100, reqs - reqs*90/100 - reqs*6/100}
		h.Latency.Interval = stats.Quantiles{Count: 10, P50: 2, P95: 30, P99: 40 + float64(i)*10}
		st.Workers = append(st.Workers, w)
		st.Proxy.Hosts = append(st.Proxy.Hosts, h)
		all.Requests += h.Requests
		for c := range all.Classes {
			all.Classes[c] += h.Classes[c]
		}
	}
	all.CxActive, all.Active = 12, 3
	all.Latency.Interval = stats.Quantiles{Count: 100, P50: 3.1, P95: 42, P99: 120}
	st.Proxy.Listeners = []stats.Endpoint{all}
	st.Proxy.Cluster = all
	return st
}

// loaded is a model of size w x h that got a minute of history, ending
// with the fixture at t0 (workers at 10 req/s per unit of id+1).
func loaded(t testing.TB, c Client, w, h, workers int, ro bool) Model {
	t.Helper()
	m := New(Options{Client: c, ReadOnly: ro})
	m = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	for s := 60; s >= 0; s-- {
		at := t0.Add(-time.Duration(s) * time.Second)
		// A wave, so the chart has a shape: 10 req/s per unit, more at times.
		total := uint64(600-s*10) + uint64((60-s)*(60-s)/20)
		m = step(t, m, statusMsg{poll: m.poll, at: at, status: fixture(workers, at, total)})
	}
	for i, text := range []string{"spawned pid 1003", "exit: signal 9 (killed)", "draining"} {
		ev := supervisor.Event{Seq: uint64(i + 1), Time: t0.Add(-time.Duration(30-i) * time.Second), Worker: 3, Message: text}
		ev.Kind = []supervisor.EventKind{supervisor.EventSpawn, supervisor.EventExit, supervisor.EventDrain}[i]
		if ev.Kind == supervisor.EventExit {
			ev.ExitCode = -9
		}
		m = step(t, m, eventMsg{gen: m.evGen, ev: ev})
	}
	return m
}

// step feeds one Msg to the model.
func step(t testing.TB, m Model, msg tea.Msg) Model {
	t.Helper()
	next, _ := m.Update(msg)
	return next.(Model)
}

// stepCmd feeds one Msg and returns the Cmd too.
func stepCmd(t testing.TB, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	return next.(Model), cmd
}

// press feeds keys one after another.
func press(t testing.TB, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		m = step(t, m, tuitest.Key(k))
	}
	return m
}

// await runs cmd (and the Cmds of any batch it returns) and returns the
// first Msg of type T. Ticks in the batch are left to fire on their own.
func await[T tea.Msg](t testing.TB, cmd tea.Cmd) T {
	t.Helper()
	var zero T
	if cmd == nil {
		t.Fatalf("no Cmd returned, want one yielding %T", zero)
	}
	msgs := make(chan tea.Msg, 16)
	var run func(tea.Cmd)
	run = func(c tea.Cmd) {
		go func() {
			msg := c()
			if b, ok := msg.(tea.BatchMsg); ok {
				for _, sub := range b {
					if sub != nil {
						run(sub)
					}
				}
				return
			}
			msgs <- msg
		}()
	}
	run(cmd)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case msg := <-msgs:
			if v, ok := msg.(T); ok {
				return v
			}
		case <-deadline:
			t.Fatalf("no %v came from the Cmd within 5s", reflect.TypeOf(zero))
			return zero
		}
	}
}

// recorder is a Client that records the actions asked of it. It stands in
// for the daemon in the model's unit tests only; flow_test.go drives a
// real daemon.
type recorder struct {
	mu       sync.Mutex
	restarts []control.RestartRequest
	scales   []int
	stops    []int
	starts   []int
	traffic  []control.TrafficRequest
	err      error
}

func (r *recorder) Status(ctx context.Context) (control.Status, error) {
	return fixture(4, time.Now(), 1), r.err
}

func (r *recorder) Restart(ctx context.Context, req control.RestartRequest) (control.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restarts = append(r.restarts, req)
	return control.Result{Message: "restarted", Took: time.Second}, r.err
}

func (r *recorder) Scale(ctx context.Context, n int) (control.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scales = append(r.scales, n)
	return control.Result{Message: fmt.Sprintf("now %d workers", n)}, r.err
}

func (r *recorder) StopWorker(ctx context.Context, id int) (control.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops = append(r.stops, id)
	return control.Result{Message: "stopped"}, r.err
}

func (r *recorder) StartWorker(ctx context.Context, id int) (control.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, id)
	return control.Result{Message: "started"}, r.err
}

func (r *recorder) SetTraffic(ctx context.Context, req control.TrafficRequest) (control.Traffic, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.traffic = append(r.traffic, req)
	t := control.Traffic{Enabled: true, Rate: 50}
	if req.Enabled != nil {
		t.Enabled = *req.Enabled
	}
	if req.Rate != nil {
		t.Rate = *req.Rate
	}
	return t, r.err
}

func (r *recorder) FollowLogs(ctx context.Context, id, n int) (<-chan supervisor.LogLine, <-chan error) {
	ch, errc := make(chan supervisor.LogLine), make(chan error, 1)
	go func() { <-ctx.Done(); errc <- ctx.Err(); close(ch) }()
	return ch, errc
}

func (r *recorder) Events(ctx context.Context, since uint64, follow, withLogs bool) (<-chan supervisor.Event, <-chan error) {
	ch, errc := make(chan supervisor.Event), make(chan error, 1)
	go func() { <-ctx.Done(); errc <- ctx.Err(); close(ch) }()
	return ch, errc
}
