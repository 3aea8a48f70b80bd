// Package tuitest helps tests of whisgee's Bubble Tea models: key presses
// as a terminal sends them.
package tuitest

import tea "github.com/charmbracelet/bubbletea"

// Key is the KeyMsg a terminal sends for a key named as bubbles/key names
// it: "enter", "esc", "ctrl+c", an arrow ("up"), or plain runes ("r", "/").
func Key(name string) tea.KeyMsg {
	special := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "tab": tea.KeyTab, "esc": tea.KeyEsc,
		"ctrl+c": tea.KeyCtrlC, "backspace": tea.KeyBackspace, " ": tea.KeySpace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"home": tea.KeyHome, "end": tea.KeyEnd, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
	}
	if t, ok := special[name]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(name)}
}
