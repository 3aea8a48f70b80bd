// Package dash is whisgee's live dashboard: the traffic through the proxy,
// every worker as both the proxy and the supervisor see it, the events of
// the stack, and a worker's live log, steered from the keyboard. It talks
// to the daemon only through the control API (a Client), so quitting it
// leaves the stack running:
//
//	c := control.NewClient(socket)
//	c.Actor = "dash"
//	err := dash.Run(ctx, dash.Options{Client: c})
//
// With no terminal, RunPlain prints a periodic summary instead.
package dash

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/tui/theme"
)

// Options configure a dashboard.
type Options struct {
	// Client reaches the daemon. Required.
	Client Client
	// Refresh is the time between Status polls. If zero, 1s.
	Refresh time.Duration
	// ReadOnly disables every action: the dashboard only watches.
	ReadOnly bool
	// Styles draw the dashboard. If zero, theme.Default's.
	Styles *theme.Styles
	// Keys are the key bindings. If zero, DefaultKeyMap().
	Keys *KeyMap
	// Actor is the name the Client gives the daemon for the audit trail
	// (control.Client.Actor). The daemon's audit events of this actor are
	// left out: the dashboard writes its own line, with the result.
	Actor string
	// Context bounds the dashboard's requests and streams. If nil,
	// context.Background(); Run cancels it when the dashboard quits.
	Context context.Context
}

// Chart windows, picked with 1, 2, 3.
var windows = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// actionPoll is the poll interval while an action runs, so its progress
// (draining, stopping, starting, healthy) shows live in the row.
const actionPoll = 250 * time.Millisecond

// firstRatePoll is the wait for the second snapshot, the first with rates.
const firstRatePoll = 250 * time.Millisecond

// Model is the root of the dashboard.
type Model struct {
	ctx     context.Context
	client  Client
	refresh time.Duration
	ro      bool
	actor   string
	styles  *theme.Styles
	keys    KeyMap
	help    help.Model

	width, height int

	tracker Tracker
	frame   Frame
	have    bool // a Status arrived at least once
	now     time.Time

	// The daemon stopped answering at staleSince; lastErr says how.
	stale      bool
	staleSince time.Time
	lastErr    string

	poll int // current poll chain; stale ticks are dropped

	events   eventsPane
	evGen    int
	lastSeq  uint64
	daemonID time.Time // the daemon's StartedAt, to spot a restart

	table   workersTable
	window  time.Duration
	pending map[int]action // under way, by worker (-1: the stack)

	dialog  *confirm
	logs    *logView
	logGen  int
	logStop context.CancelFunc

	showHelp  bool
	filtering bool
	filter    textinput.Model

	notice   string // a one-line message under the header
	quitting bool
}

// New builds a dashboard; Init starts it.
func New(opts Options) Model {
	st := opts.Styles
	if st == nil {
		s := theme.NewStyles(theme.Default())
		st = &s
	}
	keys := DefaultKeyMap()
	if opts.Keys != nil {
		keys = *opts.Keys
	}
	keys.SetReadOnly(opts.ReadOnly)
	keys.setTraffic(false, opts.ReadOnly)
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	refresh := opts.Refresh
	if refresh <= 0 {
		refresh = time.Second
	}
	h := help.New()
	h.Styles.ShortKey = st.Key
	h.Styles.ShortDesc = st.KeyDesc
	h.Styles.ShortSeparator = st.Faint
	h.Styles.FullKey = st.Key
	h.Styles.FullDesc = st.KeyDesc
	h.Styles.FullSeparator = st.Faint
	h.Styles.Ellipsis = st.Faint
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "filter workers and events"
	in.CharLimit = 100
	return Model{
		ctx: ctx, client: opts.Client, refresh: refresh, ro: opts.ReadOnly, actor: opts.Actor,
		styles: st, keys: keys, help: h,
		events: newEventsPane(st), table: newWorkersTable(st),
		window: windows[0], pending: map[int]action{}, filter: in,
	}
}

// Init fetches the first Status and subscribes to events.
func (m Model) Init() tea.Cmd {
	return tea.Batch(fetchStatus(m.ctx, m.client, m.poll), subscribeEvents(m.ctx, m.client, m.evGen, 0))
}

// Update is the root of the dashboard's Update: global keys first, then
// data, then the focused child.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		return m.updateKey(msg)
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case statusMsg:
		return m.onStatus(msg)
	case pollTickMsg:
		if msg.poll != m.poll {
			return m, nil
		}
		return m, fetchStatus(m.ctx, m.client, m.poll)
	case eventsStartedMsg, eventMsg, eventsEndedMsg, eventsRetryMsg:
		return m.onEvents(msg)
	case logsStartedMsg, logLineMsg, logsEndedMsg:
		return m.onLogs(msg)
	case confirmMsg:
		m.dialog = nil
		m.layout()
		if !msg.yes {
			m.notice = "cancelled: " + msg.act.String()
			return m, nil
		}
		return m.start(msg.act)
	case actionDoneMsg:
		return m.onActionDone(msg)
	case trafficMsg:
		return m.onTraffic(msg)
	}
	// Anything else (cursor blinks) goes to whoever has a text input.
	var cmd tea.Cmd
	switch {
	case m.logs != nil:
		var v logView
		v, cmd = m.logs.Update(msg)
		m.logs = &v
	case m.filtering:
		m.filter, cmd = m.filter.Update(msg)
	}
	return m, cmd
}

// onStatus takes a poll's result and schedules the next poll.
func (m Model) onStatus(msg statusMsg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	m.now = msg.at
	if msg.err != nil {
		if !m.stale {
			m.stale, m.staleSince = true, msg.at
			m.events.Add(eventLine{time: msg.at, kind: kindNote, worker: -1, text: "lost the daemon: " + msg.err.Error(), bad: true})
		}
		m.lastErr = msg.err.Error()
	} else {
		if m.stale {
			m.stale = false
			m.events.Add(eventLine{time: msg.at, kind: kindNote, worker: -1, text: "the daemon answers again"})
		}
		started := msg.status.Daemon.StartedAt
		if m.have && !started.Equal(m.daemonID) {
			// A new daemon numbers its events from 1 again: follow it
			// from the start.
			m.lastSeq = 0
			m.evGen++
			cmds = append(cmds, subscribeEvents(m.ctx, m.client, m.evGen, 0))
		}
		m.daemonID = started
		m.frame = m.tracker.Add(msg.status, msg.at)
		m.have = true
		m.keys.setTraffic(msg.status.Traffic != nil, m.ro)
		m.table.SetRows(m.frame.Rows)
		m.syncPending()
		m.layout()
	}
	if msg.poll == m.poll {
		every := m.refresh
		switch {
		case m.stale:
		case len(m.pending) > 0:
			every = min(every, actionPoll)
		case m.have && !m.frame.Totals.Valid:
			// Rates need a second snapshot: take it soon, so live figures
			// show within a fraction of a second of starting.
			every = min(every, firstRatePoll)
		}
		cmds = append(cmds, pollTick(every, m.poll))
	}
	return m, tea.Batch(cmds...)
}

// refreshNow starts a new poll chain at once; the old chain's tick is
// dropped when it fires.
func (m *Model) refreshNow() tea.Cmd {
	m.poll++
	return fetchStatus(m.ctx, m.client, m.poll)
}

// onEvents runs the event stream: replay, follow, and resubscribe after
// the daemon comes back.
func (m Model) onEvents(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case eventsStartedMsg:
		if msg.gen != m.evGen {
			return m, nil
		}
		return m, waitForEvent(msg.gen, msg.ch, msg.errc)
	case eventMsg:
		if msg.gen != m.evGen {
			return m, nil
		}
		if msg.ev.Seq > m.lastSeq {
			m.lastSeq = msg.ev.Seq
			m.applyEvent(msg.ev)
		}
		// The channel is in the Cmd that delivered this Msg: re-arm it.
		return m, waitForEvent(msg.gen, msg.ch, msg.errc)
	case eventsEndedMsg:
		if msg.gen != m.evGen || m.quitting || m.ctx.Err() != nil {
			return m, nil
		}
		m.evGen++
		return m, retryEvents(time.Second, m.evGen)
	case eventsRetryMsg:
		if msg.gen != m.evGen {
			return m, nil
		}
		return m, subscribeEvents(m.ctx, m.client, m.evGen, m.lastSeq)
	}
	return m, nil
}
