package wizard

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/tui/theme"
)

// The choices that exist before a plan is made.
const (
	fieldEnvoy = iota
	fieldRepo
	fieldPython
	fieldVenv
	fieldConfig
	fieldWorkers
	fieldCount
)

var envoySources = []installer.EnvoySource{installer.EnvoyRelease, installer.EnvoyRepo, installer.EnvoySkip}

var envoySourceText = map[installer.EnvoySource]string{
	// Short enough for the row to fit 80 columns; the plan says more.
	installer.EnvoyRelease: "release binary",
	installer.EnvoyRepo:    "my mirror",
	installer.EnvoySkip:    "skip (built-in proxy)",
}

// choices is the form: Envoy source, mirror URL, interpreter, venv path,
// config file and worker count.
type choices struct {
	st     theme.Styles
	keys   KeyMap
	focus  int
	source int // index into envoySources
	inputs [fieldCount]textinput.Model
	err    string
	// hints say which choice clears a step the last plan found blocked.
	hints []string
	width int // the screen's, to wrap hints
}

func newChoices(st theme.Styles, keys KeyMap, o installer.Options, defaultPython string) choices {
	c := choices{st: st, keys: keys, width: 80}
	for i := range c.inputs {
		in := textinput.New()
		in.Prompt = ""
		in.CharLimit = 256
		in.Width = 48
		c.inputs[i] = in
	}
	c.inputs[fieldRepo].Placeholder = "https://mirror.example/envoy.repo"
	c.inputs[fieldRepo].SetValue(o.EnvoyRepo)
	c.inputs[fieldPython].SetValue(firstNonEmpty(o.Python, defaultPython))
	c.inputs[fieldVenv].SetValue(firstNonEmpty(o.Venv, "/opt/whisgee/venv"))
	c.inputs[fieldConfig].SetValue(firstNonEmpty(o.ConfigPath, "/etc/whisgee/whisgee.yaml"))
	workers := o.Workers
	if workers == 0 {
		workers = 4
	}
	c.inputs[fieldWorkers].SetValue(strconv.Itoa(workers))
	for i, s := range envoySources {
		if s == o.EnvoySource || (o.EnvoySource == "" && o.EnvoyRepo != "" && s == installer.EnvoyRepo) {
			c.source = i
		}
	}
	return c
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// visible reports whether a field is shown (the URL only for a mirror).
func (c choices) visible(f int) bool {
	return f != fieldRepo || envoySources[c.source] == installer.EnvoyRepo
}

func (c *choices) move(delta int) {
	for {
		c.focus = (c.focus + delta + fieldCount) % fieldCount
		if c.visible(c.focus) {
			break
		}
	}
	c.focusOn(c.focus)
}

// focusOn puts the focus on field f.
func (c *choices) focusOn(f int) {
	c.focus = f
	for i := range c.inputs {
		c.inputs[i].Blur()
	}
	if c.focus != fieldEnvoy {
		c.inputs[c.focus].Focus()
	}
}

// submitted is returned by Update when the form is complete.
type submitted struct{}

// Update handles a key; it returns submitted{} as its Msg via a Cmd when
// enter is pressed on the last field.
func (c choices) Update(msg tea.Msg) (choices, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		if c.focus != fieldEnvoy {
			var cmd tea.Cmd
			c.inputs[c.focus], cmd = c.inputs[c.focus].Update(msg)
			return c, cmd
		}
		return c, nil
	}
	switch {
	case key.Matches(k, c.keys.Confirm):
		if c.focus == fieldWorkers {
			return c, func() tea.Msg { return submitted{} }
		}
		c.move(1)
		return c, nil
	case key.Matches(k, c.keys.Next):
		c.move(1)
		return c, nil
	case key.Matches(k, c.keys.Prev):
		c.move(-1)
		return c, nil
	}
	if c.focus == fieldEnvoy {
		switch {
		case key.Matches(k, c.keys.Left):
			c.source = (c.source + len(envoySources) - 1) % len(envoySources)
		case key.Matches(k, c.keys.Right):
			c.source = (c.source + 1) % len(envoySources)
		}
		return c, nil
	}
	var cmd tea.Cmd
	c.inputs[c.focus], cmd = c.inputs[c.focus].Update(msg)
	return c, cmd
}

// apply copies the choices into options, or says what is wrong.
func (c choices) apply(o installer.Options) (installer.Options, error) {
	o.EnvoySource = envoySources[c.source]
	o.EnvoyRepo = ""
	if o.EnvoySource == installer.EnvoyRepo {
		o.EnvoyRepo = strings.TrimSpace(c.inputs[fieldRepo].Value())
	}
	o.Python = strings.TrimSpace(c.inputs[fieldPython].Value())
	o.Venv = expandHome(strings.TrimSpace(c.inputs[fieldVenv].Value()))
	o.ConfigPath = expandHome(strings.TrimSpace(c.inputs[fieldConfig].Value()))
	n, err := strconv.Atoi(strings.TrimSpace(c.inputs[fieldWorkers].Value()))
	if err != nil || n < 1 || n > 1024 {
		return o, fmt.Errorf("workers: want a number from 1 to 1024, got %q", c.inputs[fieldWorkers].Value())
	}
	o.Workers = n
	return o, nil
}

// expandHome turns a leading ~/ into this user's home, as a shell would:
// the fixes suggest ~/whisgee/venv, and the installer wants absolute paths.
func expandHome(p string) string {
	rest, ok := strings.CutPrefix(p, "~/")
	if !ok {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p // the installer says the path is not absolute
	}
	return filepath.Join(home, rest)
}

func (c choices) View() string {
	var b strings.Builder
	b.WriteString(c.st.Title.Render("Choices") + "\n\n")
	label := func(f int, text string) string {
		l := fmt.Sprintf("%-18s", text)
		if c.focus == f {
			return c.st.Key.Render("> " + l)
		}
		return c.st.Muted.Render("  " + l)
	}
	var opts []string
	for i, s := range envoySources {
		text := envoySourceText[s]
		if i == c.source {
			opts = append(opts, c.st.SelectedRow.Render("("+text+")"))
		} else {
			opts = append(opts, c.st.Faint.Render(" "+text+" "))
		}
	}
	b.WriteString(label(fieldEnvoy, "Envoy from") + strings.Join(opts, " ") + "\n")
	rows := []struct {
		f    int
		text string
	}{{fieldRepo, "Mirror .repo URL"}, {fieldPython, "Python"}, {fieldVenv, "Virtualenv"}, {fieldConfig, "Config file"}, {fieldWorkers, "Workers"}}
	for _, r := range rows {
		if c.visible(r.f) {
			b.WriteString(label(r.f, r.text) + c.inputs[r.f].View() + "\n")
		}
	}
	if len(c.hints) > 0 {
		b.WriteString("\n" + c.st.Warn.Render("Blocked in the last plan:") + "\n")
		for _, h := range c.hints {
			for i, l := range wrapWords(h, max(20, c.width-6)) {
				if i > 0 {
					l = "  " + l
				}
				b.WriteString(c.st.Warn.Render("  "+l) + "\n")
			}
		}
	}
	if c.err != "" {
		b.WriteString("\n" + c.st.Error.Render(c.err) + "\n")
	}
	return b.String()
}
