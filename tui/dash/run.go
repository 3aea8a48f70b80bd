package dash

import (
	"context"
	"errors"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Run shows the dashboard in the terminal until the operator quits or ctx
// ends. Quitting leaves the stack running: the dashboard is a client.
func Run(ctx context.Context, opts Options, progOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the event and log streams
	opts.Context = ctx
	// Ask the terminal for its background (for the adaptive palette) now,
	// while nothing else reads stdin: asked from the first View, the answer
	// can be eaten by the program's input reader and the query time out.
	lipgloss.HasDarkBackground()
	all := append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}, progOpts...)
	_, err := tea.NewProgram(New(opts), all...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		// Stopped by a signal (SIGTERM) rather than a key: not an error.
		return nil
	}
	return err
}
