package dash

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/tui/theme"
)

// confirmMsg is the operator's answer to a confirm dialog.
type confirmMsg struct {
	act action
	yes bool
}

// confirmKeys are the dialog's keys.
type confirmKeys struct {
	Yes, No, Toggle, Choose key.Binding
}

func defaultConfirmKeys() confirmKeys {
	return confirmKeys{
		Yes:    key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:     key.NewBinding(key.WithKeys("n", "N", "esc", "q"), key.WithHelp("n/esc", "no")),
		Toggle: key.NewBinding(key.WithKeys("left", "right", "h", "l", "tab", "shift+tab"), key.WithHelp("←/→", "switch")),
		Choose: key.NewBinding(key.WithKeys("enter", " "), key.WithHelp("enter", "choose")),
	}
}

// confirm asks before a destructive action. Focus starts on "No", so an
// absent-minded enter does nothing harmful.
type confirm struct {
	styles   *theme.Styles
	keys     confirmKeys
	act      action
	question string
	detail   string
	onYes    bool
}

func newConfirm(st *theme.Styles, act action, question, detail string) confirm {
	return confirm{styles: st, keys: defaultConfirmKeys(), act: act, question: question, detail: detail}
}

// Update handles a key; an answer comes back as a confirmMsg.
func (c confirm) Update(msg tea.Msg) (confirm, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return c, nil
	}
	answer := func(yes bool) tea.Cmd {
		act := c.act
		return func() tea.Msg { return confirmMsg{act: act, yes: yes} }
	}
	switch {
	case key.Matches(k, c.keys.Yes):
		return c, answer(true)
	case key.Matches(k, c.keys.No):
		return c, answer(false)
	case key.Matches(k, c.keys.Toggle):
		c.onYes = !c.onYes
	case key.Matches(k, c.keys.Choose):
		return c, answer(c.onYes)
	}
	return c, nil
}

// View draws the dialog centred in w cells.
func (c confirm) View(w int) string {
	// The focused button is marked with brackets as well as colour, so it
	// shows under NO_COLOR too.
	button := func(label string, focused bool) string {
		if focused {
			return c.styles.Key.Render("[ " + label + " ]")
		}
		return c.styles.Muted.Render("  " + label + "  ")
	}
	buttons := button("Yes", c.onYes) + "   " + button("No", !c.onYes)
	hint := c.styles.Faint.Render("y yes · n/esc no · ←/→ switch · enter choose")
	// Border and padding take 6 cells; wrap the text to what is left.
	inner := max(min(w-6, 70), 10)
	wrap := lipgloss.NewStyle().Width(inner).Align(lipgloss.Center)
	body := lipgloss.JoinVertical(lipgloss.Center,
		wrap.Render(c.styles.Header.Render(c.question)), wrap.Render(c.styles.Muted.Render(c.detail)), "", buttons, wrap.Render(hint))
	box := c.styles.Dialog.Padding(0, 2).Render(body)
	return lipgloss.PlaceHorizontal(w, lipgloss.Center, box)
}

// ShortHelp is the dialog's keys.
func (c confirm) ShortHelp() []key.Binding {
	return []key.Binding{c.keys.Yes, c.keys.No, c.keys.Toggle, c.keys.Choose}
}
