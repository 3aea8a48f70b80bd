package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/proxyctl/envoy"
	"github.com/whisgee/whisgee/tui/theme"
	"github.com/whisgee/whisgee/tui/wizard"
)

// installFlags are the flags `whisgee install` and `whisgee bootstrap`
// share.
type installFlags struct {
	root, envoySource, envoyVersion, envoyRepo, envoyPackage string
	wheelhouse, python, venv, configPath, app, proxy, sup    string
	githubAPI, logPath, only, skip                           string
	workers                                                  int
	dnfArgs                                                  stringList
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (f *installFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.root, "root", "", "install into this image root (dnf --installroot; files under DIR)")
	fs.StringVar(&f.envoySource, "envoy-source", "", "where Envoy comes from: release (GitHub binary, the default), repo (--envoy-repo) or skip")
	fs.StringVar(&f.envoyVersion, "envoy-version", "", "Envoy release to install, e.g. 1.39.1 (default: the newest stable)")
	fs.StringVar(&f.envoyRepo, "envoy-repo", "", "URL of your mirror's .repo file to install Envoy from")
	fs.StringVar(&f.envoyPackage, "envoy-package", "envoy", "Envoy's package name in your mirror")
	fs.StringVar(&f.wheelhouse, "wheelhouse", "", "install Python packages offline from this directory (pip --no-index --find-links)")
	fs.StringVar(&f.python, "python", "", "interpreter to make the venv with (default: python3; python3.11 on EL8)")
	fs.StringVar(&f.venv, "venv", "", "virtualenv directory (default /opt/whisgee/venv)")
	fs.StringVar(&f.configPath, "config", "", "whisgee.yaml to write (default /etc/whisgee/whisgee.yaml)")
	fs.StringVar(&f.app, "app", "", "WSGI callable module:attribute (default: the demo app, written next to the config)")
	fs.IntVar(&f.workers, "workers", 0, "worker count written to the config (default 4)")
	fs.StringVar(&f.proxy, "proxy", "", "proxy engine for the config: builtin or envoy (default envoy when Envoy is installed)")
	fs.StringVar(&f.sup, "supervisor", "", "process manager for the config: builtin (default) or circus")
	fs.StringVar(&f.only, "only", "", "run only these steps (comma-separated: repos,packages,envoy,venv,config)")
	fs.StringVar(&f.skip, "skip", "", "skip these steps (comma-separated)")
	fs.StringVar(&f.logPath, "log", "", "full log file (default /var/log/whisgee/install.log as root, else under ~/.local/state/whisgee)")
	fs.StringVar(&f.githubAPI, "github-api", "", "GitHub API root for Envoy's releases (default api.github.com; for a GitHub Enterprise mirror)")
	fs.Var(&f.dnfArgs, "dnf-arg", "extra option for every dnf/yum command (repeatable), e.g. --dnf-arg=--setopt=proxy=http://proxy:3128")
}

// options turns the flags into installer options, making paths absolute.
func (f *installFlags) options() (installer.Options, error) {
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	o := installer.Options{
		EnvoySource: installer.EnvoySource(f.envoySource), EnvoyVersion: f.envoyVersion,
		EnvoyRepo: f.envoyRepo, EnvoyPackage: f.envoyPackage, Python: f.python,
		AppModule: f.app, Workers: f.workers, ProxyEngine: f.proxy, SupervisorEngine: f.sup,
		GitHubBaseURL: f.githubAPI, DNFArgs: f.dnfArgs,
		Only: splitList(f.only), Skip: splitList(f.skip),
		RenderEnvoy: renderEnvoyForInstall, RenderCircus: renderCircusForInstall,
	}
	var err error
	for _, p := range []struct {
		dst *string
		src string
	}{{&o.Root, f.root}, {&o.Wheelhouse, f.wheelhouse}, {&o.Venv, f.venv}, {&o.ConfigPath, f.configPath}} {
		if *p.dst, err = abs(p.src); err != nil {
			return o, err
		}
	}
	if f.wheelhouse != "" {
		if fi, err := os.Stat(o.Wheelhouse); err != nil || !fi.IsDir() {
			return o, usageError{fmt.Sprintf("--wheelhouse %s: not a directory of wheels", f.wheelhouse)}
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// plan detects the host (or image root) and builds its plan; option
// mistakes are usage errors.
func (f *installFlags) plan() (*installer.Plan, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	host, err := installer.DetectHost(opts.Root)
	if err != nil {
		return nil, err
	}
	p, err := installer.BuildPlan(host, opts)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return p, nil
}

// openLog opens the full log file, creating its directory.
func (f *installFlags) openLog() (*os.File, error) {
	path := f.logPath
	if path == "" {
		if os.Geteuid() == 0 {
			path = "/var/log/whisgee/install.log"
		} else if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".local/state/whisgee/install.log")
		} else {
			path = filepath.Join(os.TempDir(), "whisgee-install.log")
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w; pass --log FILE", err)
	}
	return file, nil
}

func runInstall(ctx context.Context, args []string) error {
	return install(ctx, args, os.Stdin, os.Stdout, term.IsTerminal(os.Stdin.Fd()), canDraw(os.Stdout))
}

// canDraw reports whether out is a terminal that can show a live view
// (cursor moves): not a pipe or file, and not TERM=dumb. NO_COLOR keeps
// the live view, without colour.
func canDraw(out *os.File) bool {
	return term.IsTerminal(out.Fd()) && os.Getenv("TERM") != "dumb"
}

// install is `whisgee install`: print the probed plan, then (with --yes,
// or after a "y" on a terminal) run it. On a terminal that can draw
// (live) each step shows a spinner and the live tail of its output; else
// plain lines. Either way a plain report (step, result, duration, log)
// ends the run.
func install(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, tty, live bool) error {
	var f installFlags
	fs := newFlags("install", "[--dry-run | --yes] [flags]")
	dryRun := fs.Bool("dry-run", false, "print the plan (each step probed: satisfied or not, with its exact commands) and change nothing")
	yes := fs.Bool("yes", false, "run the plan without asking (on a terminal: each step with a spinner and its live output, then a summary)")
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; flags only", fs.Arg(0))}
	}
	if !*dryRun && !*yes && !tty {
		return usageError{"stdin is not a terminal: pass --yes to run the plan, or --dry-run to see it"}
	}
	plan, err := f.plan()
	if err != nil {
		return err
	}
	euid := os.Geteuid()
	runner := installer.NewRunner(installer.RunnerOptions{Host: plan.Host, Arch: plan.Options.Arch, Euid: &euid})
	runner.Probe(ctx, plan)
	fmt.Fprint(stdout, plan.Render())
	if *dryRun {
		return nil
	}
	// Steps this host or this user cannot run (Probe checked root, sudo
	// and write access) stop the plan before anything changes.
	if blocked := plan.Blocked(); len(blocked) > 0 {
		return fmt.Errorf("the plan cannot run as it is, nothing was changed:\n  %s", strings.Join(blocked, "\n  "))
	}
	if !*yes {
		fmt.Fprint(stdout, "\nRun this plan? [y/N] ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "nothing done")
			return nil
		}
	}
	logFile, err := f.openLog()
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintln(stdout)
	if live {
		return runPlanLive(ctx, plan, euid, logFile, tty, stdout)
	}
	return runPlanPlain(ctx, plan, euid, logFile, stdout)
}

// runPlanPlain runs the plan in plain lines: each step's header and
// output as it comes, then the report.
func runPlanPlain(ctx context.Context, plan *installer.Plan, euid int, logFile *os.File, stdout io.Writer) error {
	fmt.Fprintf(stdout, "full log: %s\n", logFile.Name())
	runner := installer.NewRunner(installer.RunnerOptions{
		Host: plan.Host, Arch: plan.Options.Arch, Euid: &euid, Log: logFile,
		Output: func(_, line string) { fmt.Fprintf(stdout, "    %s\n", line) },
	})
	reports := make([]installer.StepReport, len(plan.Steps))
	for i, s := range plan.Steps {
		reports[i] = installer.StepReport{Name: s.Name, Outcome: installer.OutcomeNotRun}
	}
	for i, s := range plan.Steps {
		fmt.Fprintf(stdout, "==> [%d/%d] %s: %s\n", i+1, len(plan.Steps), s.Name, s.Title)
		start := time.Now()
		outcome, err := runner.RunStep(ctx, s)
		reports[i].Outcome, reports[i].Duration, reports[i].Err = outcome, time.Since(start), err
		if err != nil {
			fmt.Fprint(stdout, installer.RenderReport(reports, logFile.Name()))
			return stepFailed(err, logFile.Name(), true)
		}
	}
	fmt.Fprint(stdout, installer.RenderReport(reports, logFile.Name()))
	return nil
}

// runPlanLive runs the plan as the wizard's unattended run: a spinner
// and the live tail per step, no questions. The live view is cleared at
// the end and the plain report takes its place, so scrollback keeps it.
func runPlanLive(ctx context.Context, plan *installer.Plan, euid int, logFile *os.File, stdinTTY bool, stdout io.Writer) error {
	m := wizard.New(wizard.Config{
		Styles: theme.NewStyles(theme.Default()), Host: plan.Host, Options: plan.Options,
		LogPath: logFile.Name(), Log: logFile, Euid: &euid,
		Unattended: true, Plan: plan, Title: "whisgee install", Context: ctx,
	})
	opts := []tea.ProgramOption{tea.WithOutput(stdout)}
	if !stdinTTY {
		// No keyboard: ctrl+c reaches us as SIGINT, which cancels ctx.
		opts = append(opts, tea.WithInput(nil))
	}
	final, err := tea.NewProgram(m, opts...).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		return err
	}
	res := final.(wizard.Model).Result()
	fmt.Fprint(stdout, installer.RenderReport(res.Steps, logFile.Name()))
	for _, r := range res.Steps {
		switch r.Outcome {
		case installer.OutcomeFailed:
			return stepFailed(r.Err, logFile.Name(), false)
		case installer.OutcomeInterrupted:
			return fmt.Errorf("interrupted during step %s; full log: %s", r.Name, logFile.Name())
		}
	}
	return nil
}

// stepFailed is the error of a failed run. The report on stdout already
// has the hint; with again it is repeated on stderr, for scripts that
// keep only that.
func stepFailed(err error, logPath string, again bool) error {
	var se *installer.StepError
	if !errors.As(err, &se) {
		return fmt.Errorf("%v; full log: %s", err, logPath)
	}
	if again && se.Hint != "" {
		return fmt.Errorf("%s: %s: %v\n  hint: %s\n  full log: %s", se.Step, se.Action, se.Err, se.Hint, logPath)
	}
	return fmt.Errorf("step %s failed (the summary above has the error and what to do)", se.Step)
}

// renderEnvoyForInstall gives the installer Envoy's bootstrap and EDS file.
// A self-signed certificate is left to `whisgee up`, which keeps an existing
// valid pair: writing a fresh one on every install would make a second run
// change files.
func renderEnvoyForInstall(cfg *config.Config) ([]installer.EngineFile, error) {
	f, err := envoy.Render(cfg, envoy.RenderOptions{})
	if err != nil {
		return nil, err
	}
	return []installer.EngineFile{
		{Path: f.BootstrapPath(), Data: f.Bootstrap},
		{Path: f.EDSPath(), Data: f.EDS},
	}, nil
}
