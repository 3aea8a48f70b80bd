package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"

	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/tui/theme"
	"github.com/whisgee/whisgee/tui/wizard"
)

// runBootstrap is `whisgee bootstrap`: `whisgee install` as an interactive
// wizard (choices, the probed plan, a confirm, steps with a live tail).
func runBootstrap(ctx context.Context, args []string) error {
	var f installFlags
	fs := newFlags("bootstrap", "[flags]")
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; flags only", fs.Arg(0))}
	}
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		return usageError{"bootstrap is interactive and needs a terminal; without one use `whisgee install --yes` (or --dry-run)"}
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	host, err := installer.DetectHost(opts.Root)
	if err != nil {
		return err
	}
	logFile, err := f.openLog()
	if err != nil {
		return err
	}
	defer logFile.Close()
	m := wizard.New(wizard.Config{
		Styles: theme.NewStyles(theme.Default()), Host: host, Options: opts,
		LogPath: logFile.Name(), Log: logFile,
	})
	final, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return err
	}
	res := final.(wizard.Model).Result()
	switch {
	case res.Aborted:
		return fmt.Errorf("aborted; full log: %s", logFile.Name())
	case len(res.Failed) > 0:
		return fmt.Errorf("steps %s failed and were skipped; full log: %s", strings.Join(res.Failed, ", "), logFile.Name())
	case !res.Ran:
		fmt.Println("nothing done")
	}
	return nil
}
