// Package theme is the one palette and the one Styles struct every whisgee
// screen (the dashboard, the bootstrap wizard) draws with. Build Styles once
// from a Theme and pass it down; nothing here is a mutable global.
//
//	st := theme.NewStyles(theme.Default())
//	fmt.Println(st.Title.Render("whisgee"))
package theme

import "github.com/charmbracelet/lipgloss"

// Theme is a palette of adaptive colours (light and dark terminals).
type Theme struct {
	Primary lipgloss.AdaptiveColor
	Muted   lipgloss.AdaptiveColor
	Faint   lipgloss.AdaptiveColor
	Border  lipgloss.AdaptiveColor
	OK      lipgloss.AdaptiveColor
	Warn    lipgloss.AdaptiveColor
	Error   lipgloss.AdaptiveColor
	Info    lipgloss.AdaptiveColor
	// Selected is the background of a selected row.
	Selected lipgloss.AdaptiveColor
}

// Default is whisgee's palette.
func Default() Theme {
	return Theme{
		Primary:  lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B4A2FF"},
		Muted:    lipgloss.AdaptiveColor{Light: "#555555", Dark: "#A8A8A8"},
		Faint:    lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#6C6C6C"},
		Border:   lipgloss.AdaptiveColor{Light: "#BBBBBB", Dark: "#444444"},
		OK:       lipgloss.AdaptiveColor{Light: "#1E7F3C", Dark: "#5FD787"},
		Warn:     lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#FFD75F"},
		Error:    lipgloss.AdaptiveColor{Light: "#C0392B", Dark: "#FF6B6B"},
		Info:     lipgloss.AdaptiveColor{Light: "#1F6FB2", Dark: "#6CB6FF"},
		Selected: lipgloss.AdaptiveColor{Light: "#E4DEFF", Dark: "#2E2650"},
	}
}

// Styles are the styles built from a Theme. Add fields here rather than
// making styles inline, so every screen looks like one product.
type Styles struct {
	Theme Theme

	// Title is a screen's or pane's title.
	Title lipgloss.Style
	// Header is the top bar.
	Header lipgloss.Style
	// Pane frames a section.
	Pane lipgloss.Style
	// TableHeader is a table's column header row.
	TableHeader lipgloss.Style
	// Row and SelectedRow are table rows.
	Row         lipgloss.Style
	SelectedRow lipgloss.Style
	// Muted and Faint are secondary text.
	Muted lipgloss.Style
	Faint lipgloss.Style
	// OK, Warn, Error and Info colour states and messages.
	OK    lipgloss.Style
	Warn  lipgloss.Style
	Error lipgloss.Style
	Info  lipgloss.Style
	// Key and KeyDesc render help entries.
	Key     lipgloss.Style
	KeyDesc lipgloss.Style
	// Button and FocusedButton render confirm dialogs' choices.
	Button        lipgloss.Style
	FocusedButton lipgloss.Style
	// Dialog frames a modal question.
	Dialog lipgloss.Style
	// Banner is a full-width warning (stale data, read-only).
	Banner lipgloss.Style
	// Highlight marks matches of a filter.
	Highlight lipgloss.Style
}

// NewStyles builds the Styles of a Theme.
func NewStyles(t Theme) Styles {
	return Styles{
		Theme:         t,
		Title:         lipgloss.NewStyle().Bold(true).Foreground(t.Primary),
		Header:        lipgloss.NewStyle().Bold(true),
		Pane:          lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.Border),
		TableHeader:   lipgloss.NewStyle().Bold(true).Foreground(t.Muted),
		Row:           lipgloss.NewStyle(),
		SelectedRow:   lipgloss.NewStyle().Bold(true).Background(t.Selected),
		Muted:         lipgloss.NewStyle().Foreground(t.Muted),
		Faint:         lipgloss.NewStyle().Foreground(t.Faint),
		OK:            lipgloss.NewStyle().Foreground(t.OK),
		Warn:          lipgloss.NewStyle().Foreground(t.Warn),
		Error:         lipgloss.NewStyle().Foreground(t.Error).Bold(true),
		Info:          lipgloss.NewStyle().Foreground(t.Info),
		Key:           lipgloss.NewStyle().Foreground(t.Primary).Bold(true),
		KeyDesc:       lipgloss.NewStyle().Foreground(t.Muted),
		Button:        lipgloss.NewStyle().Padding(0, 2).Foreground(t.Muted).Border(lipgloss.NormalBorder()).BorderForeground(t.Border),
		FocusedButton: lipgloss.NewStyle().Padding(0, 2).Bold(true).Foreground(t.Primary).Border(lipgloss.NormalBorder()).BorderForeground(t.Primary),
		Dialog:        lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.Warn).Padding(1, 2),
		Banner:        lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(t.Warn).Padding(0, 1),
		Highlight:     lipgloss.NewStyle().Bold(true).Reverse(true),
	}
}
