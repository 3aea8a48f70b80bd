package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
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
	case len(res.SkippedBlocked) > 0:
		return skippedBlockedError(res, logFile.Name())
	case !res.Ran:
		fmt.Println("nothing done")
	}
	return nil
}

// skippedBlockedError says which steps the operator skipped because they
// could not run, and the command that runs them as root later with the
// choices made in the wizard: the run is not complete, so it exits 1.
func skippedBlockedError(res wizard.Result, logPath string) error {
	var names, asRoot []string
	for _, s := range res.SkippedBlocked {
		names = append(names, s.Name)
		if s.NeedsRoot {
			asRoot = append(asRoot, s.Name)
		}
	}
	msg := fmt.Sprintf("steps %s did not run (they cannot run here; the summary above says why)", strings.Join(names, ", "))
	if len(asRoot) > 0 {
		msg += "; to run them as root: " + installer.QuoteArgv(finishArgs(res.Options, asRoot))
	}
	return errors.New(msg + "; full log: " + logPath)
}

// finishArgs is the `whisgee install` command that runs steps with the
// plan's options: the wizard's choices and the command line's flags.
func finishArgs(o installer.Options, steps []string) []string {
	args := []string{"whisgee", "install", "--yes", "--only", strings.Join(steps, ",")}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, flag, value)
		}
	}
	add("--root", o.Root)
	add("--envoy-source", string(o.EnvoySource))
	add("--envoy-repo", o.EnvoyRepo)
	add("--envoy-version", o.EnvoyVersion)
	if o.EnvoySource == installer.EnvoyRepo {
		add("--envoy-package", o.EnvoyPackage)
	}
	add("--github-api", o.GitHubBaseURL)
	add("--python", o.Python)
	add("--venv", o.Venv)
	add("--wheelhouse", o.Wheelhouse)
	add("--config", o.ConfigPath)
	add("--app", o.AppModule)
	if o.Workers != 0 {
		add("--workers", strconv.Itoa(o.Workers))
	}
	add("--proxy", o.ProxyEngine)
	add("--supervisor", o.SupervisorEngine)
	for _, a := range o.DNFArgs {
		args = append(args, "--dnf-arg="+a)
	}
	return args
}
