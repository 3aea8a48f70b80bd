package dash

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/whisgee/whisgee/tui/theme"
)

// The smallest terminal the dashboard draws in; below it says so.
const (
	minWidth  = 60
	minHeight = 16
)

// dialogHeight is the rows a confirm dialog takes.
const dialogHeight = 7

// layout is the rows each pane gets; computed from the size and what is open.
type layout struct {
	chart   int // chart rows
	workers int // worker rows
	events  int // event rows
}

func (m *Model) body() int {
	return m.height - 1 - len(m.banners()) - 1 // header, banners, footer
}

// plan splits the height between the panes.
func (m *Model) plan() layout {
	body := m.body()
	var l layout
	l.chart = min(max(body/5, 2), 10)
	rest := body - 3 - l.chart // stats lines and the chart rule
	rest -= 2                  // workers rule and table header
	rest--                     // events rule
	minEvents := 3
	if m.dialog != nil {
		minEvents = dialogHeight
	}
	l.workers = max(min(len(m.table.rows), rest-minEvents), 1)
	l.events = max(rest-l.workers, 0)
	return l
}

func (m *Model) layout() {
	if m.width == 0 {
		return
	}
	l := m.plan()
	m.table.SetSize(m.width, l.workers)
	if m.logs != nil {
		m.logs.SetSize(m.width, m.body())
	}
	m.help.Width = m.width
	m.filter.Width = m.width - 4
}

// View draws the dashboard.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	if m.width == 0 {
		return "connecting…"
	}
	if m.width < minWidth || m.height < minHeight {
		return m.tooSmall()
	}
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	b.WriteString(m.header())
	for _, ban := range m.banners() {
		b.WriteString("\n")
		b.WriteString(ban)
	}
	b.WriteString("\n")
	switch {
	case m.logs != nil:
		b.WriteString(m.logs.View())
	case m.showHelp:
		b.WriteString(m.helpView())
	default:
		b.WriteString(m.mainView())
	}
	b.WriteString("\n")
	b.WriteString(m.footer())
	return b.String()
}

func (m *Model) tooSmall() string {
	msg := fmt.Sprintf("terminal too small: %dx%d, the dashboard needs %dx%d", m.width, m.height, minWidth, minHeight)
	msg2 := "enlarge the window, or run `whisgee dash --plain`; q quits"
	w := max(m.width, 1)
	return lipgloss.Place(w, max(m.height, 1), lipgloss.Center, lipgloss.Center,
		m.styles.Warn.Render(ansi.Wordwrap(msg, w, ""))+"\n"+m.styles.Faint.Render(ansi.Wordwrap(msg2, w, "")))
}

// header is the top line: what runs, where, since when. Less important
// parts drop out when the terminal is narrow.
func (m *Model) header() string {
	st := m.styles
	if !m.have {
		return fit(st.Title.Render("whisgee")+st.Muted.Render(" · connecting to the daemon…"), m.width)
	}
	d := m.frame.Status.Daemon
	proxy := "proxy " + d.Proxy
	switch {
	case d.LatestProxy != "" && d.ProxyVersion != "":
		// Envoy: "installed X, latest Y", flagged when behind.
		latest := "latest " + d.LatestProxy
		if d.LatestProxy != "unknown" && d.LatestProxy != d.ProxyVersion {
			latest = st.Warn.Render(latest)
		}
		proxy += " installed " + d.ProxyVersion + ", " + latest
	case d.ProxyVersion != "":
		proxy += " " + d.ProxyVersion
	}
	// In display order; prio decides what stays when space is short.
	parts := []struct {
		text string
		prio int
	}{
		{st.Title.Render("whisgee " + d.Version), 9},
		{d.Host, 8},
		{"up " + fmtAge(m.now.Sub(d.StartedAt)), 7},
		{proxy, 6},
		{"supervisor " + d.Supervisor, 5},
		{strings.TrimSpace(d.Python + " " + d.Server), 3},
		{d.Listen, 4},
	}
	sep := st.Faint.Render(" · ")
	keep := make([]bool, len(parts))
	used := 0
	for prio := 9; prio >= 0; prio-- {
		for i, p := range parts {
			if p.prio != prio || p.text == "" {
				continue
			}
			w := ansi.StringWidth(p.text) + 3
			if used+w <= m.width+3 {
				keep[i] = true
				used += w
			}
		}
	}
	var out []string
	for i, p := range parts {
		if keep[i] {
			out = append(out, p.text)
		}
	}
	return fit(strings.Join(out, sep), m.width)
}

// banners are full-width warnings under the header.
func (m *Model) banners() []string {
	var out []string
	st := m.styles
	if m.stale {
		msg := fmt.Sprintf("STALE since %s, retrying every %s: %s",
			m.staleSince.Format("15:04:05"), m.refresh, m.lastErr)
		out = append(out, st.Banner.Render(fit(msg, m.width-2)))
	}
	if m.ro {
		out = append(out, st.Info.Render(fit("read-only: watching only, actions are off", m.width)))
	}
	if m.notice != "" {
		out = append(out, st.Warn.Render(fit(m.notice, m.width)))
	}
	return out
}

func (m *Model) footer() string {
	switch {
	case m.filtering:
		return fit(m.filter.View(), m.width)
	case m.dialog != nil:
		return m.help.ShortHelpView(m.dialog.ShortHelp())
	case m.logs != nil:
		return ""
	}
	return m.help.ShortHelpView(m.keys.ShortHelp())
}

func (m *Model) helpView() string {
	h := m.help
	h.ShowAll = true
	body := rule(m.styles, "keys", m.width) + "\n" + h.View(m.keys) + "\n\n" +
		m.styles.Faint.Render(ansi.Wordwrap("Restart, rolling restart, stop and scale-down ask first, with the focus on No. "+
			"In a worker's log: / filters, j/k scroll, G follows, esc goes back. Any key closes this help.", m.width, ""))
	lines := strings.Split(body, "\n")
	for len(lines) < m.body() {
		lines = append(lines, "")
	}
	return strings.Join(lines[:m.body()], "\n")
}

// mainView is the traffic, workers and events panes.
func (m *Model) mainView() string {
	l := m.plan()
	var b strings.Builder
	b.WriteString(m.trafficView(l.chart))
	b.WriteString("\n")
	b.WriteString(m.workersRule())
	b.WriteString("\n")
	b.WriteString(m.table.View(m.now))
	// Pad the table to its rows so the panes below do not move.
	shown := max(len(m.table.visible), 1)
	for i := min(shown, l.workers); i < l.workers; i++ {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if m.dialog != nil {
		b.WriteString(rule(m.styles, "confirm", m.width))
		b.WriteString("\n")
		lines := strings.Split(m.dialog.View(m.width), "\n")
		for i := 0; i < l.events; i++ {
			if i > 0 {
				b.WriteString("\n")
			}
			if i < len(lines) {
				b.WriteString(lines[i])
			}
		}
		return b.String()
	}
	title := "events"
	if m.table.filter != "" {
		title += " · filter " + strconv.Quote(m.table.filter)
	}
	b.WriteString(rule(m.styles, title, m.width))
	if l.events > 0 {
		b.WriteString("\n")
		ev := m.events.View(m.width, l.events)
		b.WriteString(ev)
		for i := strings.Count(ev, "\n") + 1; i < l.events; i++ {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (m *Model) workersRule() string {
	n := len(m.frame.Rows)
	title := fmt.Sprintf("workers %d/%d running", m.frame.Running(), n)
	if m.frame.Status.ProxyError != "" {
		title += " · proxy stats: " + m.frame.Status.ProxyError
	}
	if m.table.filter != "" {
		title += fmt.Sprintf(" · %d match", len(m.table.visible))
	}
	return rule(m.styles, title, m.width)
}

// rule is a section title drawn as a horizontal line.
func rule(st *theme.Styles, title string, w int) string {
	head := "── " + title + " "
	n := w - ansi.StringWidth(head)
	if n < 0 {
		return st.Title.Render(fit(head, w))
	}
	return st.Title.Render(head) + st.Faint.Render(strings.Repeat("─", n))
}
