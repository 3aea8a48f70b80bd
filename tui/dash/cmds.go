package dash

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/supervisor"
)

// Client is the part of control.Client the dashboard uses: it talks to the
// daemon through the same API a script would, and nothing else.
type Client interface {
	Status(ctx context.Context) (control.Status, error)
	Restart(ctx context.Context, req control.RestartRequest) (control.Result, error)
	Scale(ctx context.Context, n int) (control.Result, error)
	StopWorker(ctx context.Context, id int) (control.Result, error)
	StartWorker(ctx context.Context, id int) (control.Result, error)
	SetTraffic(ctx context.Context, req control.TrafficRequest) (control.Traffic, error)
	FollowLogs(ctx context.Context, id, n int) (<-chan supervisor.LogLine, <-chan error)
	Events(ctx context.Context, since uint64, follow, withLogs bool) (<-chan supervisor.Event, <-chan error)
}

var _ Client = (*control.Client)(nil)

// statusMsg is a Status poll's result. Poll is the poll chain it belongs
// to: only the current chain schedules the next tick.
type statusMsg struct {
	poll   int
	at     time.Time
	status control.Status
	err    error
}

// pollTickMsg asks for the next Status poll of chain poll.
type pollTickMsg struct{ poll int }

// eventsStartedMsg carries a new event subscription.
type eventsStartedMsg struct {
	gen  int
	ch   <-chan supervisor.Event
	errc <-chan error
}

// eventMsg is one event of subscription gen.
type eventMsg struct {
	gen  int
	ev   supervisor.Event
	ch   <-chan supervisor.Event
	errc <-chan error
}

// eventsEndedMsg says subscription gen ended (the daemon went away).
type eventsEndedMsg struct {
	gen int
	err error
}

// eventsRetryMsg asks to subscribe again as gen.
type eventsRetryMsg struct{ gen int }

// logsStartedMsg carries the log stream of a worker.
type logsStartedMsg struct {
	gen  int
	ch   <-chan supervisor.LogLine
	errc <-chan error
}

// logLineMsg is one line of log stream gen.
type logLineMsg struct {
	gen  int
	line supervisor.LogLine
	ch   <-chan supervisor.LogLine
	errc <-chan error
}

// logsEndedMsg says log stream gen ended.
type logsEndedMsg struct {
	gen int
	err error
}

// actionDoneMsg reports an action taken from the keyboard.
type actionDoneMsg struct {
	act    action
	result string
	err    error
	took   time.Duration
	at     time.Time // when it ended
}

// trafficMsg reports a change of the traffic generator.
type trafficMsg struct {
	traffic control.Traffic
	err     error
}

// action is something the operator asked for.
type action struct {
	kind   actionKind
	worker int // -1 for the whole stack
	count  int // scale target
}

type actionKind int

const (
	actRestart actionKind = iota
	actRolling
	actScale
	actStop
	actStart
)

// String says what the action does, for the dialog and the audit line.
func (a action) String() string {
	switch a.kind {
	case actRestart:
		return fmt.Sprintf("restart worker %d", a.worker)
	case actRolling:
		return "rolling restart of all workers"
	case actScale:
		return fmt.Sprintf("scale to %d workers", a.count)
	case actStop:
		return fmt.Sprintf("stop worker %d", a.worker)
	case actStart:
		return fmt.Sprintf("start worker %d", a.worker)
	}
	return "unknown action"
}

func fetchStatus(ctx context.Context, c Client, poll int) tea.Cmd {
	return func() tea.Msg {
		st, err := c.Status(ctx)
		return statusMsg{poll: poll, at: time.Now(), status: st, err: err}
	}
}

func pollTick(d time.Duration, poll int) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return pollTickMsg{poll} })
}

func subscribeEvents(ctx context.Context, c Client, gen int, since uint64) tea.Cmd {
	return func() tea.Msg {
		ch, errc := c.Events(ctx, since, true, false)
		return eventsStartedMsg{gen: gen, ch: ch, errc: errc}
	}
}

func waitForEvent(gen int, ch <-chan supervisor.Event, errc <-chan error) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsEndedMsg{gen: gen, err: <-errc}
		}
		return eventMsg{gen: gen, ev: ev, ch: ch, errc: errc}
	}
}

func retryEvents(d time.Duration, gen int) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return eventsRetryMsg{gen} })
}

func followLogs(ctx context.Context, c Client, gen, worker int) tea.Cmd {
	return func() tea.Msg {
		ch, errc := c.FollowLogs(ctx, worker, logBacklog)
		return logsStartedMsg{gen: gen, ch: ch, errc: errc}
	}
}

func waitForLogLine(gen int, ch <-chan supervisor.LogLine, errc <-chan error) tea.Cmd {
	return func() tea.Msg {
		l, ok := <-ch
		if !ok {
			return logsEndedMsg{gen: gen, err: <-errc}
		}
		return logLineMsg{gen: gen, line: l, ch: ch, errc: errc}
	}
}

func runAction(ctx context.Context, c Client, a action) tea.Cmd {
	return func() tea.Msg {
		start := time.Now()
		var (
			res control.Result
			err error
		)
		switch a.kind {
		case actRestart:
			res, err = c.Restart(ctx, control.RestartRequest{IDs: []int{a.worker}})
		case actRolling:
			res, err = c.Restart(ctx, control.RestartRequest{Rolling: true})
		case actScale:
			res, err = c.Scale(ctx, a.count)
		case actStop:
			res, err = c.StopWorker(ctx, a.worker)
		case actStart:
			res, err = c.StartWorker(ctx, a.worker)
		}
		took := time.Since(start)
		if res.Took > 0 {
			took = res.Took
		}
		return actionDoneMsg{act: a, result: res.Message, err: err, took: took, at: time.Now()}
	}
}

func setTraffic(ctx context.Context, c Client, req control.TrafficRequest) tea.Cmd {
	return func() tea.Msg {
		t, err := c.SetTraffic(ctx, req)
		return trafficMsg{traffic: t, err: err}
	}
}
