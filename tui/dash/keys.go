package dash

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key the dashboard answers to. Action keys are disabled
// (and drop out of the help) in read-only mode.
type KeyMap struct {
	Up, Down       key.Binding
	Top, Bottom    key.Binding
	Restart        key.Binding
	RollingRestart key.Binding
	ScaleUp        key.Binding
	ScaleDown      key.Binding
	StopStart      key.Binding
	Logs           key.Binding
	Filter         key.Binding
	Traffic        key.Binding
	RateDown       key.Binding
	RateUp         key.Binding
	Window1        key.Binding
	Window5        key.Binding
	Window15       key.Binding
	Help           key.Binding
	Back           key.Binding
	Quit           key.Binding
	ForceQuit      key.Binding
}

// DefaultKeyMap is the dashboard's keys: operator conventions (k9s, ctop,
// htop) where they exist.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:             key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "up")),
		Down:           key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "down")),
		Top:            key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "first")),
		Bottom:         key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "last")),
		Restart:        key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart worker")),
		RollingRestart: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "rolling restart")),
		ScaleUp:        key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "add worker")),
		ScaleDown:      key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "remove worker")),
		StopStart:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "stop/start worker")),
		Logs:           key.NewBinding(key.WithKeys("l", "enter"), key.WithHelp("l/enter", "worker log")),
		Filter:         key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Traffic:        key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "traffic on/off")),
		RateDown:       key.NewBinding(key.WithKeys("["), key.WithHelp("[", "slower traffic")),
		RateUp:         key.NewBinding(key.WithKeys("]"), key.WithHelp("]", "faster traffic")),
		Window1:        key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "1 min chart")),
		Window5:        key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "5 min chart")),
		Window15:       key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "15 min chart")),
		Help:           key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Back:           key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:           key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit:      key.NewBinding(key.WithKeys("ctrl+c")),
	}
}

// actions are the bindings that change the stack.
func (k *KeyMap) actions() []*key.Binding {
	return []*key.Binding{&k.Restart, &k.RollingRestart, &k.ScaleUp, &k.ScaleDown,
		&k.StopStart, &k.Traffic, &k.RateDown, &k.RateUp}
}

// SetReadOnly disables (or enables) every key that changes the stack.
func (k *KeyMap) SetReadOnly(ro bool) {
	for _, b := range k.actions() {
		b.SetEnabled(!ro)
	}
}

// setTraffic shows the traffic keys only when there is a generator.
func (k *KeyMap) setTraffic(has, readOnly bool) {
	for _, b := range []*key.Binding{&k.Traffic, &k.RateDown, &k.RateUp} {
		b.SetEnabled(has && !readOnly)
	}
}

// ShortHelp is the one-line help under the dashboard.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Restart, k.RollingRestart, k.ScaleUp, k.StopStart, k.Logs, k.Traffic, k.Help, k.Quit}
}

// FullHelp is the help `?` shows, in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.Logs, k.Filter},
		{k.Restart, k.RollingRestart, k.StopStart, k.ScaleUp, k.ScaleDown},
		{k.Traffic, k.RateDown, k.RateUp, k.Window1, k.Window5, k.Window15},
		{k.Help, k.Back, k.Quit},
	}
}
