package dash

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/theme"
)

// logBacklog is how many past lines the log view asks for on opening.
const logBacklog = 500

// maxLogLines bounds the log view's memory.
const maxLogLines = 5000

// logKeys are the log view's own keys.
type logKeys struct {
	Up, Down, PageUp, PageDown, Top, Bottom, Filter, Back key.Binding
}

func defaultLogKeys() logKeys {
	return logKeys{
		Up:       key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "scroll up")),
		Down:     key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "scroll down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f", " "), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "oldest")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "follow")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// logView shows one worker's live stdout and stderr, with a filter that
// keeps matching lines and highlights the match.
type logView struct {
	styles *theme.Styles
	keys   logKeys
	worker int
	name   string
	lines  []supervisor.LogLine
	// back is how many lines the view is scrolled up from the newest; 0
	// follows new lines as they come.
	back   int
	input  textinput.Model
	filter string
	ended  string // why the stream ended, "" while it runs
	width  int
	height int
}

func newLogView(st *theme.Styles, worker int, name string) logView {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "text to find"
	in.CharLimit = 200
	return logView{styles: st, keys: defaultLogKeys(), worker: worker, name: name, input: in}
}

// Filtering reports whether the filter input has the keyboard.
func (v logView) Filtering() bool { return v.input.Focused() }

// SetSize sets the view's size.
func (v *logView) SetSize(w, h int) { v.width, v.height = w, h }

// Append adds a line from the stream.
func (v *logView) Append(l supervisor.LogLine) {
	if len(v.lines) >= maxLogLines {
		n := copy(v.lines, v.lines[len(v.lines)-maxLogLines+1:])
		v.lines = v.lines[:n]
	}
	v.lines = append(v.lines, l)
	if v.back > 0 && v.matches(l.Text) {
		// Keep the lines in view still while scrolled back.
		v.back++
	}
}

// Update handles keys: scrolling, and the filter input while it is open.
func (v logView) Update(msg tea.Msg) (logView, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		var cmd tea.Cmd
		v.input, cmd = v.input.Update(msg)
		return v, cmd
	}
	if v.input.Focused() {
		switch k.Type {
		case tea.KeyEnter:
			v.input.Blur()
			return v, nil
		case tea.KeyEsc:
			v.input.Blur()
			v.input.SetValue("")
			v.filter = ""
			return v, nil
		}
		var cmd tea.Cmd
		v.input, cmd = v.input.Update(msg)
		v.filter = v.input.Value()
		v.back = 0
		return v, cmd
	}
	page := max(v.bodyHeight()-1, 1)
	switch {
	case key.Matches(k, v.keys.Filter):
		return v, v.input.Focus()
	case key.Matches(k, v.keys.Up):
		v.back++
	case key.Matches(k, v.keys.Down):
		v.back--
	case key.Matches(k, v.keys.PageUp):
		v.back += page
	case key.Matches(k, v.keys.PageDown):
		v.back -= page
	case key.Matches(k, v.keys.Top):
		v.back = len(v.lines)
	case key.Matches(k, v.keys.Bottom):
		v.back = 0
	}
	v.back = max(0, min(v.back, v.countMatching()-v.bodyHeight()))
	return v, nil
}

func (v *logView) bodyHeight() int { return max(v.height-2, 1) }

func (v *logView) matches(text string) bool {
	return v.filter == "" || strings.Contains(strings.ToLower(text), strings.ToLower(v.filter))
}

func (v *logView) countMatching() int {
	if v.filter == "" {
		return len(v.lines)
	}
	n := 0
	for i := range v.lines {
		if v.matches(v.lines[i].Text) {
			n++
		}
	}
	return n
}

// View draws a title line, the lines, and the filter line.
func (v logView) View() string {
	st := v.styles
	h := v.bodyHeight()
	// Walk back from the newest, skipping `back` matching lines.
	picked := make([]*supervisor.LogLine, 0, h)
	skip := v.back
	for i := len(v.lines) - 1; i >= 0 && len(picked) < h; i-- {
		if !v.matches(v.lines[i].Text) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		picked = append(picked, &v.lines[i])
	}
	var b strings.Builder
	title := "log of " + v.name
	state := "following"
	if v.back > 0 {
		state = "scrolled back (G follows)"
	}
	if v.ended != "" {
		state = "stream ended: " + v.ended
	}
	b.WriteString(rule(st, title+" · "+state, v.width))
	for i := h - 1; i >= 0; i-- {
		b.WriteString("\n")
		if i >= len(picked) {
			if i == h-1 && len(picked) == 0 {
				msg := "  no output yet"
				if v.filter != "" {
					msg = "  no line matches " + v.filter
				}
				b.WriteString(st.Faint.Render(fit(msg, v.width)))
			}
			continue
		}
		b.WriteString(v.lineView(picked[i]))
	}
	b.WriteString("\n")
	switch {
	case v.input.Focused():
		b.WriteString(fit(v.input.View(), v.width))
	case v.filter != "":
		b.WriteString(fit(st.Muted.Render("filter: "+v.filter+"  (/ to change, esc back)"), v.width))
	default:
		b.WriteString(fit(st.Faint.Render("/ filter · j/k scroll · g oldest · G follow · esc back"), v.width))
	}
	return b.String()
}

func (v *logView) lineView(l *supervisor.LogLine) string {
	st := v.styles
	stream := "out"
	if l.Stream == "stderr" {
		stream = st.Warn.Render("err")
	}
	head := st.Faint.Render(l.Time.Format("15:04:05.000")) + " " + stream + " "
	const headW = 17
	text := l.Text
	textW := max(v.width-headW, 1)
	if v.filter != "" {
		text = highlight(text, v.filter, textW, st)
	} else {
		text = fit(text, textW)
	}
	return head + text
}

// highlight cuts text to w cells and marks each match of needle (any
// case). The text is plain worker output. Where the terminal shows no
// styling (NO_COLOR, TERM=dumb: the highlight renders as the bare text),
// each match is put between » and « instead, so a filter still shows
// where it matched.
func highlight(text, needle string, w int, st *theme.Styles) string {
	text = strings.ToValidUTF8(text, "?")
	cut := ansi.Truncate(text, w, "…") // unpadded: markers may follow
	lower := strings.ToLower(cut)
	n := strings.ToLower(needle)
	if n == "" || len(lower) != len(cut) {
		return fit(cut, w)
	}
	mark := st.Highlight.Render
	if mark("x") == "x" {
		mark = func(strs ...string) string { return "»" + strings.Join(strs, "") + "«" }
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, n)
		if i < 0 {
			b.WriteString(cut)
			// Markers widen the line; cut it back to w.
			return fit(b.String(), w)
		}
		b.WriteString(cut[:i])
		b.WriteString(mark(cut[i : i+len(n)]))
		cut, lower = cut[i+len(n):], lower[i+len(n):]
	}
}
