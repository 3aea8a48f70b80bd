package wizard

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key the wizard answers to.
type KeyMap struct {
	Quit     key.Binding
	Next     key.Binding
	Prev     key.Binding
	Left     key.Binding
	Right    key.Binding
	Confirm  key.Binding
	Back     key.Binding
	Yes      key.Binding
	No       key.Binding
	Retry    key.Binding
	Skip     key.Binding
	Abort    key.Binding
	ViewLog  key.Binding
	Scroll   key.Binding
	QuitDone key.Binding
}

// DefaultKeyMap is the wizard's keys.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Quit:     key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Next:     key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab/↓", "next field")),
		Prev:     key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab/↑", "previous field")),
		Left:     key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/→", "choose")),
		Right:    key.NewBinding(key.WithKeys("right", "l")),
		Confirm:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Yes:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:       key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "no")),
		Retry:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry")),
		Skip:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "skip step")),
		Abort:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		ViewLog:  key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "view log")),
		Scroll:   key.NewBinding(key.WithKeys("up", "down", "pgup", "pgdown", "k", "j"), key.WithHelp("↑/↓", "scroll")),
		QuitDone: key.NewBinding(key.WithKeys("q", "enter", "esc"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp lists the keys that work in the current phase.
func (m Model) ShortHelp() []key.Binding {
	k := m.keys
	switch m.phase {
	case phaseChoices:
		return []key.Binding{k.Next, k.Prev, k.Left, k.Confirm, k.Quit}
	case phasePlan:
		return []key.Binding{k.Confirm, k.Back, k.Quit}
	case phaseConfirm:
		if len(blockedSteps(m.plan)) > 0 {
			return []key.Binding{k.Left, k.Confirm, k.Back, k.Quit}
		}
		return []key.Binding{k.Left, k.Yes, k.No, k.Confirm}
	case phaseRunning:
		if m.failure != nil {
			if m.showLog {
				return []key.Binding{k.Scroll, k.ViewLog, k.Retry, k.Skip, k.Abort}
			}
			return []key.Binding{k.Retry, k.Skip, k.Abort, k.ViewLog}
		}
		return []key.Binding{k.Quit}
	}
	return []key.Binding{k.QuitDone}
}

// FullHelp is ShortHelp in one column.
func (m Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }
