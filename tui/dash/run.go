package dash

import (
	"context"
	"errors"

	tea "github.com/charmbracelet/bubbletea"
)

// Run shows the dashboard in the terminal until the operator quits or ctx
// ends. Quitting leaves the stack running: the dashboard is a client.
func Run(ctx context.Context, opts Options, progOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the event and log streams
	opts.Context = ctx
	all := append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}, progOpts...)
	_, err := tea.NewProgram(New(opts), all...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		// Stopped by a signal (SIGTERM) rather than a key: not an error.
		return nil
	}
	return err
}
