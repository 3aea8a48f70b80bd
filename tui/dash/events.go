package dash

import (
	"strconv"
	"strings"
	"time"

	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/theme"
)

// maxEventLines bounds the events pane's memory.
const maxEventLines = 500

// kindAudit marks the dashboard's own audit lines: an action taken from
// the keyboard, with its result.
const kindAudit = "you"

// kindNote marks the dashboard's notes about itself (lost the daemon, back).
const kindNote = "dash"

// eventLine is one line of the events pane.
type eventLine struct {
	time   time.Time
	kind   string
	worker int // -1 for the stack
	text   string
	bad    bool // an error or a failed action
}

// eventsPane lists what happened, newest last: the daemon's events and the
// dashboard's audit lines.
type eventsPane struct {
	styles *theme.Styles
	lines  []eventLine
	filter string
}

func newEventsPane(st *theme.Styles) eventsPane { return eventsPane{styles: st} }

// Add appends a line, dropping the oldest past maxEventLines.
func (p *eventsPane) Add(l eventLine) {
	if len(p.lines) >= maxEventLines {
		n := copy(p.lines, p.lines[len(p.lines)-maxEventLines+1:])
		p.lines = p.lines[:n]
	}
	p.lines = append(p.lines, l)
}

// AddEvent appends a daemon event.
func (p *eventsPane) AddEvent(ev supervisor.Event) {
	bad := ev.Kind == supervisor.EventError ||
		(ev.Kind == supervisor.EventExit && ev.ExitCode != 0) ||
		(ev.Kind == supervisor.EventHealth && ev.State != "healthy")
	text := ev.Message
	if text == "" {
		text = ev.State
	}
	p.Add(eventLine{time: ev.Time, kind: string(ev.Kind), worker: ev.Worker, text: text, bad: bad})
}

// SetFilter keeps only lines containing s (any case).
func (p *eventsPane) SetFilter(s string) { p.filter = strings.ToLower(s) }

// View draws the newest lines that fit in h rows of w cells.
func (p *eventsPane) View(w, h int) string {
	if h <= 0 {
		return ""
	}
	out := make([]string, 0, h)
	for i := len(p.lines) - 1; i >= 0 && len(out) < h; i-- {
		l := &p.lines[i]
		plain := l.plain()
		if p.filter != "" && !strings.Contains(strings.ToLower(plain), p.filter) {
			continue
		}
		out = append(out, p.render(l, w))
	}
	if len(out) == 0 {
		msg := "  no events yet"
		if p.filter != "" {
			msg = "  no event matches the filter " + strconv.Quote(p.filter)
		}
		out = append(out, p.styles.Faint.Render(fit(msg, w)))
	}
	// Newest last, like a log.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return strings.Join(out, "\n")
}

func (l *eventLine) who() string {
	if l.worker < 0 {
		return "all"
	}
	return "w" + strconv.Itoa(l.worker)
}

func (l *eventLine) plain() string {
	return l.time.Format("15:04:05") + " " + l.who() + " " + l.kind + " " + l.text
}

func (p *eventsPane) render(l *eventLine, w int) string {
	st := p.styles
	kind := fit(l.kind, 7)
	switch {
	case l.bad:
		kind = st.Error.Render(kind)
	case l.kind == kindAudit:
		kind = st.Key.Render(kind)
	case l.kind == string(supervisor.EventSpawn) || l.kind == string(supervisor.EventRestart) || l.kind == string(supervisor.EventHealth):
		kind = st.OK.Render(kind)
	case l.kind == string(supervisor.EventDrain) || l.kind == string(supervisor.EventState) || l.kind == string(supervisor.EventScale):
		kind = st.Info.Render(kind)
	case l.kind == kindNote:
		kind = st.Warn.Render(kind)
	default:
		kind = st.Muted.Render(kind)
	}
	head := "  " + st.Faint.Render(l.time.Format("15:04:05")) + " " + fit(l.who(), 4) + " " + kind + " "
	return fit(head+l.text, w)
}
