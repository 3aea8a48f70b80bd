package dash

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/supervisor"
)

// trafficRates are the steps `[` and `]` move the generator's rate along.
var trafficRates = []int{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// updateKey routes a key: ctrl+c always quits; then the dialog, the log
// view or the filter input if one is open; then the dashboard's keys.
func (m Model) updateKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if key.Matches(k, m.keys.ForceQuit) {
		return m.quit()
	}
	switch {
	case m.dialog != nil:
		d, cmd := m.dialog.Update(k)
		m.dialog = &d
		return m, cmd
	case m.logs != nil:
		if !m.logs.Filtering() && key.Matches(k, m.keys.Back) {
			m.closeLogs()
			return m, nil
		}
		if !m.logs.Filtering() && key.Matches(k, m.keys.Quit) {
			return m.quit()
		}
		v, cmd := m.logs.Update(k)
		m.logs = &v
		return m, cmd
	case m.filtering:
		return m.updateFilter(k)
	case m.showHelp:
		if key.Matches(k, m.keys.Quit) {
			return m.quit()
		}
		// Any other key closes the help.
		m.showHelp = false
		m.layout()
		return m, nil
	}
	m.notice = ""
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.showHelp = true
	case key.Matches(k, m.keys.Up):
		m.table.Move(-1)
	case key.Matches(k, m.keys.Down):
		m.table.Move(1)
	case key.Matches(k, m.keys.Top):
		m.table.Move(-len(m.table.rows))
	case key.Matches(k, m.keys.Bottom):
		m.table.Move(len(m.table.rows))
	case key.Matches(k, m.keys.Window1):
		m.window = windows[0]
	case key.Matches(k, m.keys.Window5):
		m.window = windows[1]
	case key.Matches(k, m.keys.Window15):
		m.window = windows[2]
	case key.Matches(k, m.keys.Filter):
		m.filtering = true
		return m, m.filter.Focus()
	case key.Matches(k, m.keys.Back):
		m.applyFilter("")
		m.filter.SetValue("")
	case key.Matches(k, m.keys.Logs):
		return m.openLogs()
	default:
		return m.actionKey(k)
	}
	return m, nil
}

// actionKey handles the keys that change the stack.
func (m Model) actionKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	isAction := false
	for _, b := range m.keys.actions() {
		if key.Matches(k, *b) || (m.ro && matchesDisabled(k, *b)) {
			isAction = true
		}
	}
	if !isAction {
		return m, nil
	}
	if m.ro {
		m.notice = "read-only: actions are off (the dashboard was started with --readonly)"
		return m, nil
	}
	sel, hasSel := m.table.Selected()
	n := len(m.frame.Rows)
	switch {
	case key.Matches(k, m.keys.Restart):
		if !hasSel {
			return m, nil
		}
		return m.ask(action{kind: actRestart, worker: sel.ID},
			fmt.Sprintf("Restart %s (pid %d)?", sel.Name, sel.PID),
			"drain, stop gracefully, start again, wait until healthy")
	case key.Matches(k, m.keys.RollingRestart):
		return m.ask(action{kind: actRolling, worker: -1},
			fmt.Sprintf("Rolling restart of all %d workers?", n),
			"one at a time: each drains, restarts and passes a health check")
	case key.Matches(k, m.keys.ScaleUp):
		return m.start(action{kind: actScale, worker: -1, count: n + 1})
	case key.Matches(k, m.keys.ScaleDown):
		if n <= 1 {
			m.notice = "cannot scale below 1 worker; stop the stack with `whisgee ctl` instead"
			return m, nil
		}
		return m.ask(action{kind: actScale, worker: -1, count: n - 1},
			fmt.Sprintf("Scale down to %d workers?", n-1),
			"the highest-numbered worker drains and stops")
	case key.Matches(k, m.keys.StopStart):
		if !hasSel {
			return m, nil
		}
		if sel.State == supervisor.StateStopped || sel.State == supervisor.StateFailed {
			return m.start(action{kind: actStart, worker: sel.ID})
		}
		return m.ask(action{kind: actStop, worker: sel.ID},
			fmt.Sprintf("Stop %s (pid %d)?", sel.Name, sel.PID),
			"it drains and stays stopped until you press s again")
	case key.Matches(k, m.keys.Traffic):
		t := m.frame.Status.Traffic
		if t == nil {
			return m, nil
		}
		on := !t.Enabled
		return m, setTraffic(m.ctx, m.client, control.TrafficRequest{Enabled: &on})
	case key.Matches(k, m.keys.RateDown), key.Matches(k, m.keys.RateUp):
		t := m.frame.Status.Traffic
		if t == nil {
			return m, nil
		}
		rate := nextRate(t.Rate, key.Matches(k, m.keys.RateUp))
		return m, setTraffic(m.ctx, m.client, control.TrafficRequest{Rate: &rate})
	}
	return m, nil
}

// matchesDisabled matches a key against a disabled binding, so read-only
// mode can say why nothing happened.
func matchesDisabled(k tea.KeyMsg, b key.Binding) bool {
	for _, s := range b.Keys() {
		if k.String() == s {
			return true
		}
	}
	return false
}

// nextRate is the next step up or down from r.
func nextRate(r int, up bool) int {
	if up {
		for _, s := range trafficRates {
			if s > r {
				return s
			}
		}
		return trafficRates[len(trafficRates)-1]
	}
	for i := len(trafficRates) - 1; i >= 0; i-- {
		if trafficRates[i] < r {
			return trafficRates[i]
		}
	}
	return trafficRates[0]
}

func (m Model) ask(a action, question, detail string) (tea.Model, tea.Cmd) {
	d := newConfirm(m.styles, a, question, detail)
	m.dialog = &d
	m.layout()
	return m, nil
}

// start runs an action, marks it pending and polls faster until it ends.
func (m Model) start(a action) (tea.Model, tea.Cmd) {
	if _, busy := m.pending[a.worker]; busy {
		m.notice = "busy: an action on that worker is under way"
		return m, nil
	}
	m.pending[a.worker] = a
	m.syncPending()
	m.events.Add(eventLine{time: m.now, kind: kindAudit, worker: a.worker, text: a.String() + " …"})
	return m, tea.Batch(runAction(m.ctx, m.client, a), m.refreshNow())
}

func (m *Model) syncPending() {
	clear(m.table.pending)
	for id, a := range m.pending {
		if id >= 0 {
			m.table.pending[id] = true
		} else if a.kind == actRolling {
			for i := range m.table.rows {
				m.table.pending[m.table.rows[i].ID] = true
			}
		}
	}
}

// onActionDone writes the audit line and refreshes at once.
func (m Model) onActionDone(msg actionDoneMsg) (tea.Model, tea.Cmd) {
	delete(m.pending, msg.act.worker)
	m.syncPending()
	at := msg.at
	if at.IsZero() {
		at = m.now
	}
	line := eventLine{time: at, kind: kindAudit, worker: msg.act.worker}
	took := msg.took.Round(time.Millisecond).String()
	if msg.err != nil {
		line.text = msg.act.String() + " → failed after " + took + ": " + msg.err.Error()
		line.bad = true
		m.notice = msg.act.String() + " failed: " + msg.err.Error()
	} else {
		line.text = msg.act.String() + " → ok in " + took
		// The daemon's own message only repeats that, unless it says more.
		if msg.result != "" && !strings.Contains(msg.result, "done in") {
			line.text += ": " + msg.result
		}
	}
	m.events.Add(line)
	if m.quitting {
		return m, nil
	}
	return m, m.refreshNow()
}

func (m Model) onTraffic(msg trafficMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.notice = "traffic generator: " + msg.err.Error()
		return m, nil
	}
	t := msg.traffic
	m.frame.Status.Traffic = &t
	state := "off"
	if t.Enabled {
		state = "on"
	}
	m.events.Add(eventLine{time: m.now, kind: kindAudit, worker: -1,
		text: "traffic generator " + state + ", " + strconv.Itoa(t.Rate) + " req/s"})
	return m, nil
}

// applyEvent shows an event and, when it is newer than the last Status,
// applies it to the row at once, so progress shows before the next poll.
func (m *Model) applyEvent(ev supervisor.Event) {
	if ev.Kind == supervisor.EventAction && m.actor != "" && strings.HasPrefix(ev.Message, m.actor+": ") {
		return // our own action: the audit line comes from onActionDone
	}
	m.events.AddEvent(ev)
	if ev.Worker < 0 || !ev.Time.After(m.frame.At) {
		return
	}
	r := m.table.row(ev.Worker)
	if r == nil {
		return
	}
	switch ev.Kind {
	case supervisor.EventState:
		r.State = supervisor.State(ev.State)
		r.Since = ev.Time
	case supervisor.EventSpawn:
		r.PID = ev.PID
		r.StartedAt = ev.Time
	case supervisor.EventExit:
		r.PID = 0
		r.LastExitCode = ev.ExitCode
		// "worker-2 pid 812 exited: signal 9 (killed)": the status's LastExit
		// is the part after "exited: "; the next poll brings it anyway.
		if _, how, ok := strings.Cut(ev.Message, "exited: "); ok {
			r.LastExit = how
		}
	case supervisor.EventHealth:
		r.Healthy = ev.State == "healthy"
	}
}

func (m Model) updateFilter(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyEnter:
		m.filtering = false
		m.filter.Blur()
		m.layout()
		return m, nil
	case tea.KeyEsc:
		m.filtering = false
		m.filter.Blur()
		m.filter.SetValue("")
		m.applyFilter("")
		m.layout()
		return m, nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(k)
	m.applyFilter(m.filter.Value())
	return m, cmd
}

func (m *Model) applyFilter(s string) {
	m.table.SetFilter(s)
	m.events.SetFilter(s)
}

func (m Model) openLogs() (tea.Model, tea.Cmd) {
	sel, ok := m.table.Selected()
	if !ok {
		return m, nil
	}
	m.logGen++
	ctx, cancel := context.WithCancel(m.ctx)
	m.logStop = cancel
	v := newLogView(m.styles, sel.ID, sel.Name)
	m.logs = &v
	m.layout()
	return m, followLogs(ctx, m.client, m.logGen, sel.ID)
}

func (m *Model) closeLogs() {
	if m.logStop != nil {
		m.logStop()
		m.logStop = nil
	}
	m.logs = nil
	m.logGen++
	m.layout()
}

func (m Model) onLogs(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case logsStartedMsg:
		if msg.gen != m.logGen {
			return m, nil
		}
		return m, waitForLogLine(msg.gen, msg.ch, msg.errc)
	case logLineMsg:
		if msg.gen != m.logGen || m.logs == nil {
			return m, nil
		}
		m.logs.Append(msg.line)
		return m, waitForLogLine(msg.gen, msg.ch, msg.errc)
	case logsEndedMsg:
		if msg.gen != m.logGen || m.logs == nil {
			return m, nil
		}
		m.logs.ended = "the daemon closed it"
		if msg.err != nil {
			m.logs.ended = msg.err.Error()
		}
	}
	return m, nil
}

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	if m.logStop != nil {
		m.logStop()
	}
	return m, tea.Quit
}
