// Command whisgee takes a CentOS/Fedora host to a running Python web stack
// (proxy, process manager, WSGI workers) and lets an operator watch and
// steer it from the terminal.
//
//	whisgee demo                     the demo stack and its dashboard
//	whisgee up -c whisgee.yaml       run a stack in the foreground
//	whisgee ctl -c whisgee.yaml status
//	whisgee dash -c whisgee.yaml     attach the dashboard to a running stack
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/whisgee/whisgee/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands lists every subcommand; each lives in its own cmd_*.go file.
func commands() map[string]command {
	return map[string]command{
		"version":        {"print whisgee's version", runVersion},
		"envoy":          {"render or validate Envoy configs; show the newest Envoy release", runEnvoy},
		"up":             {"run the stack (proxy + workers) in the foreground", runUp},
		"ctl":            {"control a running stack: status, restart, scale, stop, start, logs", runCtl},
		"dash":           {"the live dashboard of a running stack (quitting leaves it running)", runDash},
		"demo":           {"the demo stack with its traffic generator and the dashboard; q stops all", runDemo},
		"install":        {"set this host up for a stack: repos, packages, Envoy, venv, config (--dry-run shows the plan)", runInstall},
		"bootstrap":      {"the install plan as an interactive wizard", runBootstrap},
		"circus":         {"circus.ini from whisgee.yaml (render) and back (import)", runCircus},
		"prometheus":     {"alerting rules, a Grafana dashboard, and scrape targets from an Ansible inventory", runPrometheus},
		"bench-upstream": {"", runBenchUpstream}, // hidden: the proxy benchmark's workers
	}
}

// usageError is a mistake in how whisgee was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	// When whisgee re-executes itself to start a worker, become the worker.
	supervisor.MaybeRunShim()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "whisgee: unknown command %q; run `whisgee help` for the list\n", args[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "whisgee %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func printUsage(cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if c.summary != "" { // hidden commands have none
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("whisgee: a Python web stack (proxy, process manager, WSGI workers), run and watched from the terminal\n\nUsage: whisgee COMMAND [flags]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun `whisgee COMMAND -h` for a command's flags.\n")
	fmt.Print(b.String())
}

func runVersion(ctx context.Context, args []string) error {
	fmt.Println("whisgee", version)
	return nil
}

// newFlags makes a flag set whose errors are usage errors with one line.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("whisgee "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: whisgee %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments (`logs 2 -n 50`), and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
