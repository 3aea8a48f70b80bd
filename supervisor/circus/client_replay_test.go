package circus

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/whisgee/whisgee/supervisor"
)

// layoutScript is what a fresh client asks before anything else: the
// watchers, the sockets and the watcher's options (for its socket).
func layoutScript(t *testing.T, xs []exchange) []exchange {
	web := map[string]any{"name": "web"}
	return []exchange{
		xs[find(t, xs, 0, "list", nil)],
		xs[find(t, xs, 0, "listsockets", nil)],
		xs[find(t, xs, 0, "options", web)],
	}
}

// readScript is one read of the workers: stats, status, options. status
// is the n-th `status web` of the transcript (0: active, 1: stopped).
func readScript(t *testing.T, xs []exchange, status int) []exchange {
	web := map[string]any{"name": "web"}
	return []exchange{
		xs[find(t, xs, 0, "stats", web)],
		xs[find(t, xs, status, "status", web)],
		xs[find(t, xs, 0, "options", web)],
	}
}

func TestReplayWorkersFromCircusd(t *testing.T) {
	xs := loadCommands(t)
	rs := newReplayServer(t, append(layoutScript(t, xs), readScript(t, xs, 0)...)...)
	c := newTestClient(t, rs.endpoint)
	ws, err := c.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rs.done()
	if len(ws) != 3 {
		t.Fatalf("want the 3 processes circusd reported, got %+v", ws)
	}
	wantPIDs := []int{10908, 10909, 10910}
	for i, w := range ws {
		if w.ID != i || w.PID != wantPIDs[i] || w.Name != "web."+string(rune('1'+i)) {
			t.Errorf("worker %d: id %d pid %d name %q; want id=wid-1=%d, pid %d", i, w.ID, w.PID, w.Name, i, wantPIDs[i])
		}
		if w.State != supervisor.StateRunning || !w.Healthy {
			t.Errorf("worker %d: state %s healthy %v; want running", i, w.State, w.Healthy)
		}
		if w.Socket != "127.0.0.1:18090" {
			t.Errorf("worker %d: socket %q; want the watcher's circus socket 127.0.0.1:18090", i, w.Socket)
		}
	}
	// mem_info1 "27.82M" and started 1795731356.422645 for pid 10908.
	mib := 27.82
	if got, want := ws[0].RSSBytes, uint64(mib*(1<<20)); got != want {
		t.Errorf("RSS %d, want %d (27.82M)", got, want)
	}
	if got := ws[0].StartedAt.UnixMilli(); got != 1795731356422 {
		t.Errorf("StartedAt %d ms, want circus's started 1795731356422", got)
	}
}

func TestReplayScaleUpSendsIncrWaiting(t *testing.T) {
	xs := loadCommands(t)
	script := append(layoutScript(t, xs), readScript(t, xs, 0)...)
	script = append(script, xs[find(t, xs, 0, "incr", map[string]any{"name": "web", "nb": 1, "waiting": true})])
	rs := newReplayServer(t, script...)
	c := newTestClient(t, rs.endpoint)
	if err := c.Scale(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	rs.done()
}

func TestReplayRollingRestartIsSequentialReload(t *testing.T) {
	xs := loadCommands(t)
	script := append(layoutScript(t, xs), readScript(t, xs, 0)...)
	script = append(script, xs[find(t, xs, 0, "reload", map[string]any{"name": "web", "graceful": true, "sequential": true, "waiting": true})])
	rs := newReplayServer(t, script...)
	c := newTestClient(t, rs.endpoint)
	if err := c.RollingRestart(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs.done()
	for _, r := range rs.got {
		if r.Command == "restart" {
			t.Errorf("RollingRestart sent circus's restart, which kills every process at once")
		}
	}
}

func TestReplayStoppedWatcherStopsEveryWorker(t *testing.T) {
	xs := loadCommands(t)
	script := append(layoutScript(t, xs), readScript(t, xs, 1)...) // status: stopped
	rs := newReplayServer(t, script...)
	c := newTestClient(t, rs.endpoint)
	ctx := context.Background()
	ws, err := c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The recorded stats still list processes; the watcher's status wins.
	for _, w := range ws {
		if w.State != supervisor.StateStopped {
			t.Errorf("worker %d: state %s under a stopped watcher", w.ID, w.State)
		}
	}
	rs.done()
}

func TestReplayErrorReplies(t *testing.T) {
	xs := loadCommands(t)
	ctx := context.Background()

	t.Run("unknown watcher", func(t *testing.T) {
		rs := newReplayServer(t, xs[find(t, xs, 0, "list", nil)])
		c := newTestClient(t, rs.endpoint, func(o *Options) { o.Watcher = "nosuch" })
		_, err := c.Workers(ctx)
		if !errors.Is(err, ErrNoWatcher) || !strings.Contains(err.Error(), "it has: web") || !strings.Contains(err.Error(), "supervisor.watcher") {
			t.Fatalf("want a no-such-watcher error naming web and supervisor.watcher, got %v", err)
		}
	})
	t.Run("circusd refuses a watcher", func(t *testing.T) {
		x := xs[find(t, xs, 0, "status", map[string]any{"name": "nosuch"})]
		rs := newReplayServer(t, x)
		c := newTestClient(t, rs.endpoint)
		_, err := c.quick(ctx, "status", map[string]any{"name": "nosuch"})
		var ce *CallError
		if !errors.As(err, &ce) || ce.Errno != 3 || ce.Reason != "program nosuch not found" || !errors.Is(err, ErrNoWatcher) {
			t.Fatalf("want circus's errno 3 'program nosuch not found', got %v", err)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		rs := newReplayServer(t, xs[find(t, xs, 0, "bogus", nil)])
		c := newTestClient(t, rs.endpoint)
		_, err := c.quick(ctx, "bogus", nil)
		var ce *CallError
		if !errors.As(err, &ce) || ce.Errno != 2 || !strings.Contains(err.Error(), "unknown command: 'bogus'") {
			t.Fatalf("want errno 2 unknown command, got %v", err)
		}
	})
}

func TestReplayPubSubEvents(t *testing.T) {
	b, err := os.ReadFile(fixturePath(t, "pubsub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var frames []struct {
		Frames []string `json:"frames"`
	}
	if err := json.Unmarshal(b, &frames); err != nil {
		t.Fatal(err)
	}
	xs := loadCommands(t)
	ctl := newReplayServer(t, append(layoutScript(t, xs), readScript(t, xs, 0)...)...)

	ctx, cancel := context.WithCancel(context.Background())
	pub := zmq4.NewPub(ctx)
	t.Cleanup(func() { cancel(); pub.Close() })
	if err := pub.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, ctl.endpoint, func(o *Options) { o.PubSub = "tcp://" + pub.Addr().String() })
	events, stop := c.Subscribe()
	t.Cleanup(stop)

	// Publish once the subscription has reached the PUB socket.
	deadline := time.Now().Add(5 * time.Second)
	for len(pub.(zmq4.Topics).Topics()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the client never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, f := range frames {
		if err := pub.Send(zmq4.NewMsgFrom([]byte(f.Frames[0]), []byte(f.Frames[1]))); err != nil {
			t.Fatal(err)
		}
	}
	var got []supervisor.Event
	timeout := time.After(10 * time.Second)
	for len(got) < len(frames) {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("got %d of %d events: %+v", len(got), len(frames), got)
		}
	}
	kinds := ""
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has seq %d", i, ev.Seq)
		}
		kinds += string(ev.Kind)[:2] + " "
	}
	// spawn, 4 kills, 4 reaps, stop, 4 spawns, start (see the README: a
	// plain restart kills every process before spawning new ones).
	if want := "sp st st st st ex ex ex ex st sp sp sp sp st "; kinds != want {
		t.Errorf("event kinds %q, want %q", kinds, want)
	}
	if ev := got[5]; ev.PID != 11922 || ev.ExitCode != -15 || !strings.Contains(ev.Message, "signal 15") {
		t.Errorf("reap event %+v: want pid 11922, exit code -15 (SIGTERM)", ev)
	}
	if ev := got[9]; ev.State != "stopped" || ev.Worker != -1 {
		t.Errorf("stop event %+v: want the whole watcher stopped", ev)
	}
	if got[0].Time.Unix() != 1795731393 {
		t.Errorf("event time %v, want circus's timestamp", got[0].Time)
	}
}
