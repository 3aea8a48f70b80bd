// Package installer takes a bare CentOS/RHEL/Fedora (or Debian/Ubuntu) host
// to one that can run a whisgee stack: it detects the host from
// /etc/os-release, builds a plan of named steps (repos, packages, envoy,
// venv, config), probes which are already satisfied, and runs the rest as
// argv (never through a shell), streaming their output.
//
//	host, err := installer.DetectHost("")
//	plan, err := installer.BuildPlan(host, installer.Options{EnvoySource: installer.EnvoyRelease})
//	run := installer.NewRunner(installer.RunnerOptions{Log: logFile})
//	run.Probe(ctx, plan)              // mark satisfied steps
//	fmt.Print(plan.Render())          // what --dry-run prints
//	for _, s := range plan.Steps {
//		res := run.RunStep(ctx, s)    // *StepError with a Hint on failure
//	}
//
// The package never imports bubbletea: `whisgee install` prints plain lines
// and tui/wizard wraps RunStep in tea.Cmds.
package installer

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Step names, for --only and --skip.
const (
	StepRepos    = "repos"
	StepPackages = "packages"
	StepEnvoy    = "envoy"
	StepVenv     = "venv"
	StepConfig   = "config"
)

// StepNames lists every step in the order they run.
var StepNames = []string{StepRepos, StepPackages, StepEnvoy, StepVenv, StepConfig}

// Plan is what the installer will do on one host.
type Plan struct {
	Host    *Host
	Options Options
	// Steps in the order they run; steps with nothing to do on this host
	// are left out.
	Steps []*Step
	// Notes are facts the operator should read before starting (EOL
	// mirrors, glibc, skipped steps).
	Notes []string
}

// Step is one named part of the plan.
type Step struct {
	// Name is one of the Step* constants.
	Name string
	// Title says what the step achieves, in a few words.
	Title string
	// Root is set when the step changes the system (packages, /etc, /usr).
	Root bool
	// DoneIf: the step is satisfied when every check passes. Empty means
	// the step always runs its actions (each may still be skipped).
	DoneIf []Check
	// Actions run in order; each is skipped when one of its SkipIf checks
	// passes.
	Actions []*Action
	// Blocked, if set, says why the step cannot succeed on this host and
	// what to do instead; it is not run.
	Blocked string
	// Notes are facts about this step (why an action is there).
	Notes []string
	// Writes are the paths the step creates or replaces as this user, as
	// this process sees them (under Options.Root): it needs write access to
	// the nearest existing parent of each. Root actions need root instead.
	Writes []string
	// SudoWrites is set when the step installs files this user cannot
	// write through `sudo -n` (Runner.WriteFile), so sudo will do too.
	SudoWrites bool
	// Instead is what a user without root can do instead, for the fix
	// NeedsRoot gives ("pass --envoy-source skip"). If empty, the fix for
	// root actions is FixRunAsRoot and for writes FixUserPaths.
	Instead string

	// Satisfied and Detail are set by Runner.Probe and Runner.RunStep.
	Satisfied bool
	// Detail is the probe's finding, e.g. "envoy 1.39.1 at /usr/local/bin/envoy".
	Detail string
	// Probed is set once Probe has looked at the step.
	Probed bool
	// NeedsRoot is set by Probe when the step has work to do that this
	// user lacks the privileges for: why, and the fix, in one line. The
	// step is not run.
	NeedsRoot string
	// RootFix is NeedsRoot's fix alone (FixRunAsRoot, FixUserPaths, or
	// one that names the step's Instead), for a UI that words it its own
	// way; NeedsRoot ends with it.
	RootFix string
	// ViaSudo is set by Probe when the step's root actions will run
	// through `sudo -n` (not root, and sudo works without a password).
	ViaSudo bool
}

// Action is one command or one piece of in-process work.
type Action struct {
	// Desc says what the action does.
	Desc string
	// Argv is the command run; nil for in-process work (Do).
	Argv []string
	// Env is added to the command's environment.
	Env []string
	// Do is in-process work (write a file, download and verify a binary),
	// used when Argv is nil. It writes progress lines to out.
	Do func(ctx context.Context, r *Runner, out io.Writer) error
	// Root is set when the action needs root; run as `sudo -n` otherwise.
	Root bool
	// SkipIf: the action is skipped when any of these checks passes.
	SkipIf []Check
	// Skipped is set by Probe and RunStep when SkipIf passed.
	Skipped bool
}

// Check is a probe: a command that exits 0 (and whose output Accept
// likes, if set), or an in-process test.
type Check struct {
	// Desc says what is checked, e.g. "libev-devel is installed or installable".
	Desc string
	// Argv runs the check; never with sudo.
	Argv []string
	// Accept, if set, must also return true for the command's output.
	Accept func(out string) bool
	// Func is an in-process check, used when Argv is nil; detail explains
	// the finding ("envoy 1.39.1 at /usr/local/bin/envoy").
	Func func(ctx context.Context, r *Runner) (ok bool, detail string, err error)
}

// Step returns the plan's step of that name, or nil.
func (p *Plan) Step(name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// RootSteps names the steps that need root.
func (p *Plan) RootSteps() []string {
	var names []string
	for _, s := range p.Steps {
		if s.Root && !s.Satisfied {
			names = append(names, s.Name)
		}
	}
	return names
}

// Blocked lists "step: reason" for steps that cannot run on this host,
// or not as this user ("step: needs root: why: fix"); Probe finds the
// latter.
func (p *Plan) Blocked() []string {
	var out []string
	for _, s := range p.Steps {
		switch {
		case s.Blocked != "":
			out = append(out, s.Name+": "+s.Blocked)
		case s.NeedsRoot != "":
			out = append(out, s.Name+": needs root: "+s.NeedsRoot)
		}
	}
	return out
}

// BuildPlan makes the plan for a host. It does not touch the system:
// Runner.Probe finds out what is already done.
func BuildPlan(h *Host, opts Options) (*Plan, error) {
	if err := opts.complete(h); err != nil {
		return nil, err
	}
	p := &Plan{Host: h, Options: opts}
	if n := h.eolNote(); n != "" {
		p.Notes = append(p.Notes, n)
	}
	var steps []*Step
	if h.PackageManager() == Apt {
		steps = aptSteps(h, &opts, p)
	} else {
		steps = rpmSteps(h, &opts, p)
	}
	if s := envoyStep(h, &opts, p); s != nil {
		steps = append(steps, s)
	}
	steps = append(steps, venvStep(h, &opts, p), configStep(h, &opts, p))
	for _, s := range steps {
		if s == nil || !opts.wants(s.Name) {
			continue
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// wants applies --only and --skip.
func (o *Options) wants(step string) bool {
	if len(o.Only) > 0 && !contains(o.Only, step) {
		return false
	}
	return !contains(o.Skip, step)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckStepNames rejects names that are not steps, for --only and --skip.
func CheckStepNames(names []string) error {
	for _, n := range names {
		if !contains(StepNames, n) {
			return fmt.Errorf("no step %q; steps are %s", n, strings.Join(StepNames, ", "))
		}
	}
	return nil
}
