package circus

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/whisgee/whisgee/supervisor"
)

// circusEvent is the body circus publishes with a watcher event.
type circusEvent struct {
	PID      int     `json:"process_pid"`
	Time     float64 `json:"time"`
	ExitCode *int    `json:"exit_code"`
}

// Subscribe streams circusd's pubsub events about the workers' watcher(s)
// (topics watcher.NAME.spawn, reap, kill, stop, start, reload) as
// supervisor.Events until cancel is called. It reconnects when circusd goes
// away, with an EventError saying so once per outage. Circus publishes no
// output, so no EventLog ever comes.
func (c *Client) Subscribe() (<-chan supervisor.Event, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan supervisor.Event, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		c.follow(ctx, out)
	}()
	return out, func() { cancel(); <-done }
}

// follow keeps a SUB socket on the pubsub endpoint until ctx ends.
func (c *Client) follow(ctx context.Context, out chan<- supervisor.Event) {
	var seq uint64
	emit := func(ev supervisor.Event) bool {
		seq++
		ev.Seq = seq
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	delay, maxDelay := 100*time.Millisecond, 5*time.Second
	down := false
	for ctx.Err() == nil {
		err := c.followOnce(ctx, func() {
			delay = 100 * time.Millisecond
			if down {
				down = false
				emit(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: "circus pubsub at " + c.opts.PubSub + " reachable again"})
			}
		}, emit)
		if ctx.Err() != nil {
			return
		}
		if !down {
			down = true
			if !emit(supervisor.Event{Kind: supervisor.EventError, Worker: -1, Message: fmt.Sprintf("circus pubsub: %v; retrying", err)}) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, maxDelay)
	}
}

// followOnce subscribes once and relays events until the connection or ctx
// ends; connected is called once the subscription is up.
func (c *Client) followOnce(ctx context.Context, connected func(), emit func(supervisor.Event) bool) error {
	addr, err := zmqAddress(c.opts.PubSub)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := &connWatch{handshake: c.opts.ConnectTimeout}
	sock := zmq4.NewSub(withConnWatch(ctx, watch),
		zmq4.WithDialerMaxRetries(0),
		zmq4.WithDialerTimeout(c.opts.ConnectTimeout),
		zmq4.WithTimeout(c.opts.ConnectTimeout),
		zmq4.WithLogger(c.ctl.quietLog))
	defer sock.Close()
	if err := sock.Dial(addr); err != nil {
		return fmt.Errorf("cannot subscribe at %s: %v", c.opts.PubSub, unwrapAll(err))
	}
	dead := watch.established()
	if err := sock.SetOption(zmq4.OptionSubscribe, "watcher."); err != nil {
		return err
	}
	connected()
	msgs := receive(ctx, sock)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dead:
			return fmt.Errorf("lost the connection to %s", c.opts.PubSub)
		case m := <-msgs:
			if len(m.Frames) < 2 {
				continue
			}
			ev, ok := c.translate(ctx, string(m.Frames[0]), m.Frames[1])
			if ok && !emit(ev) {
				return ctx.Err()
			}
		}
	}
}

// translate turns one circus event into a supervisor.Event; ok is false
// for watchers and events the workers do not care about.
func (c *Client) translate(ctx context.Context, topic string, body []byte) (supervisor.Event, bool) {
	rest, found := strings.CutPrefix(topic, "watcher.")
	dot := strings.LastIndexByte(rest, '.')
	if !found || dot < 0 {
		return supervisor.Event{}, false
	}
	watcher, kind := rest[:dot], rest[dot+1:]
	var ce circusEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		return supervisor.Event{}, false
	}
	ev := supervisor.Event{Worker: -1, PID: ce.PID}
	if ce.Time > 0 {
		sec, frac := math.Modf(ce.Time)
		ev.Time = time.Unix(int64(sec), int64(frac*1e9))
	}
	id, mine := c.workerFor(ctx, watcher, kind, ce.PID)
	if !mine {
		return supervisor.Event{}, false
	}
	ev.Worker = id
	who := watcher
	if id >= 0 && !strings.HasSuffix(watcher, "-"+strconv.Itoa(id)) {
		who = fmt.Sprintf("%s.%d", watcher, id+1)
	}
	switch kind {
	case "spawn":
		ev.Kind = supervisor.EventSpawn
		ev.Message = fmt.Sprintf("%s: spawned pid %d", who, ce.PID)
		c.noteEvent(id, ce.PID, nil, false)
	case "reap":
		ev.Kind = supervisor.EventExit
		code := 0
		if ce.ExitCode != nil {
			code = *ce.ExitCode
		}
		ev.ExitCode = code
		ev.Message = fmt.Sprintf("%s: pid %d %s", who, ce.PID, describeExit(code))
		c.noteEvent(id, 0, &code, false)
	case "kill":
		ev.Kind = supervisor.EventState
		ev.State = string(supervisor.StateStopping)
		ev.Message = fmt.Sprintf("%s: stop signal sent to pid %d", who, ce.PID)
		c.noteEvent(id, 0, nil, true)
	case "stop":
		ev.Kind = supervisor.EventState
		ev.State = string(supervisor.StateStopped)
		ev.Message = "circus watcher " + watcher + " stopped"
	case "start":
		ev.Kind = supervisor.EventState
		ev.State = string(supervisor.StateRunning)
		ev.Message = "circus watcher " + watcher + " started"
	case "reload":
		ev.Kind = supervisor.EventRestart
		ev.Message = "circus watcher " + watcher + " reloaded"
	default:
		ev.Kind = supervisor.EventAction
		ev.Message = "circus watcher " + watcher + ": " + kind
	}
	return ev, true
}

// describeExit words an exit status as circus reports it (negative for a
// signal).
func describeExit(code int) string {
	if code < 0 {
		return fmt.Sprintf("killed by signal %d", -code)
	}
	return fmt.Sprintf("exited with status %d", code)
}

// workerFor maps an event's watcher and pid to a worker id: -1 for an
// event about the whole watcher; mine is false for other watchers.
func (c *Client) workerFor(ctx context.Context, watcher, kind string, pid int) (id int, mine bool) {
	c.mu.Lock()
	l := c.layout
	c.mu.Unlock()
	if l == nil {
		var err error
		if l, err = c.resolveLayout(ctx, false); err != nil {
			return -1, strings.EqualFold(watcher, c.opts.Watcher)
		}
	}
	perWorkerID := -1
	for wid, name := range l.watchers {
		if name == watcher {
			mine = true
			if l.perWorker {
				perWorkerID = wid
			}
		}
	}
	if !mine {
		return -1, false
	}
	if l.perWorker {
		return perWorkerID, true
	}
	if pid == 0 {
		return -1, true
	}
	c.mu.Lock()
	id, known := c.pidIDs[pid]
	c.mu.Unlock()
	if known {
		return id, true
	}
	// A process the client has not seen yet: ask circus for its wid, but
	// only for a spawn (the process of a kill or reap is usually gone).
	if kind != "spawn" {
		return -1, true
	}
	if snap, err := c.snapshot(ctx); err == nil {
		c.workersOf(snap)
		c.mu.Lock()
		id, known = c.pidIDs[pid]
		c.mu.Unlock()
		if known {
			return id, true
		}
	}
	return -1, true
}

// noteEvent updates the memo of worker id from an event.
func (c *Client) noteEvent(id, pid int, exitCode *int, stopping bool) {
	if id < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memoLocked(id)
	if pid != 0 {
		c.notePIDLocked(id, pid)
	}
	if exitCode != nil {
		m.lastExit = exitWord(*exitCode)
		m.lastExitCode = *exitCode
		m.stopping = false
	}
	if stopping {
		m.stopping = true
	}
}

// exitWord is Worker.LastExit's wording: "exit 1", "signal 15".
func exitWord(code int) string {
	if code < 0 {
		return fmt.Sprintf("signal %d", -code)
	}
	return fmt.Sprintf("exit %d", code)
}
