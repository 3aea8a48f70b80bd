package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// RunnerOptions configure a Runner. The zero value runs commands as this
// user with sudo -n for root actions and logs nowhere.
type RunnerOptions struct {
	// Log receives every command, its full output and every result.
	Log io.Writer
	// Output receives each output line of the running step as it comes
	// (the live tail). It may be nil.
	Output func(step, line string)
	// Euid is the effective user id; root actions of a non-root user run
	// through Sudo. If nil, os.Geteuid().
	Euid *int
	// Sudo prefixes root commands when not root. If nil, ["sudo", "-n"]:
	// it fails at once rather than asking for a password nobody can type.
	Sudo []string
	// Env is added to every command's environment.
	Env []string
	// Host, if set, makes failure hints name this host's packages and
	// repositories (e.g. which repo carries libev-devel).
	Host *Host
	// Arch is used with Host in hints. If empty, x86_64.
	Arch string
	// CheckTimeout bounds one probe. If zero, 2 minutes (dnf may fetch
	// repo metadata).
	CheckTimeout time.Duration
}

// Runner probes and runs a plan's steps. It is safe for one step at a
// time; the wizard runs it from a tea.Cmd.
type Runner struct {
	opts RunnerOptions
	euid int
	mu   sync.Mutex // serialises writes to Log

	sudoOnce sync.Once // asks `sudo -n true` once
	sudoOK   bool
}

// NewRunner makes a Runner.
func NewRunner(o RunnerOptions) *Runner {
	r := &Runner{opts: o, euid: os.Geteuid()}
	if o.Euid != nil {
		r.euid = *o.Euid
	}
	if r.opts.Sudo == nil {
		r.opts.Sudo = []string{"sudo", "-n"}
	}
	if r.opts.CheckTimeout == 0 {
		r.opts.CheckTimeout = 2 * time.Minute
	}
	return r
}

// IsRoot reports whether the runner runs as root.
func (r *Runner) IsRoot() bool { return r.euid == 0 }

// StepError is a failed step: which action, what went wrong, the last
// lines of its output and, for known failures, what to do.
type StepError struct {
	Step   string
	Action string
	Err    error
	// Hint says what to do about a known failure ("" when unknown).
	Hint string
	// Tail is the last lines of the action's output.
	Tail []string
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %s: %s: %v", e.Step, e.Action, e.Err)
	if e.Hint != "" {
		msg += "\n  hint: " + e.Hint
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// notApplicable is returned by an action that finds its step cannot run
// here for a reason that is not a failure.
type notApplicable struct{ reason string }

func (n notApplicable) Error() string { return n.reason }

// NotApplicable makes an action's error that skips the rest of its step,
// reporting reason instead of failing.
func NotApplicable(reason string) error { return notApplicable{reason} }

// Outcome is how a step ended.
type Outcome string

// Step outcomes.
const (
	OutcomeSatisfied Outcome = "satisfied" // nothing to do
	OutcomeDone      Outcome = "done"      // ran and changed the system
	OutcomeSkipped   Outcome = "skipped"   // not applicable here
	OutcomeFailed    Outcome = "failed"
)

// Probe runs every step's checks and marks what is already done. It
// changes nothing.
func (r *Runner) Probe(ctx context.Context, p *Plan) {
	for _, s := range p.Steps {
		r.ProbeStep(ctx, s)
	}
}

// ProbeStep runs one step's checks.
func (r *Runner) ProbeStep(ctx context.Context, s *Step) {
	s.Probed = true
	s.Satisfied, s.Detail, s.NeedsRoot, s.RootFix, s.ViaSudo = false, "", "", "", false
	if s.Blocked != "" {
		s.Detail = "blocked"
		return
	}
	if len(s.DoneIf) > 0 {
		s.Satisfied, s.Detail = r.allPass(ctx, s.DoneIf)
	}
	for _, a := range s.Actions {
		a.Skipped, _ = r.anyPass(ctx, a.SkipIf)
	}
	if why, fix := r.needsRoot(ctx, s); why != "" {
		s.NeedsRoot, s.RootFix = why+": "+fix, fix
	}
	s.ViaSudo = s.NeedsRoot == "" && !s.Satisfied && !r.IsRoot() && s.hasRootWork() && r.sudoWorks(ctx)
}

// allPass runs checks until one fails; detail joins their findings.
func (r *Runner) allPass(ctx context.Context, checks []Check) (bool, string) {
	var details []string
	for _, c := range checks {
		ok, detail := r.check(ctx, c)
		if detail != "" {
			details = append(details, detail)
		}
		if !ok {
			if detail == "" {
				details = append(details, "not yet true: "+c.Desc)
			}
			return false, strings.Join(details, "; ")
		}
	}
	if len(details) == 0 {
		var descs []string
		for _, c := range checks {
			descs = append(descs, c.Desc)
		}
		return true, strings.Join(descs, "; ")
	}
	return true, strings.Join(details, "; ")
}

func (r *Runner) anyPass(ctx context.Context, checks []Check) (bool, string) {
	for _, c := range checks {
		if ok, _ := r.check(ctx, c); ok {
			return true, c.Desc
		}
	}
	return false, ""
}

// check runs one check; a check that cannot run has simply not passed.
func (r *Runner) check(ctx context.Context, c Check) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CheckTimeout)
	defer cancel()
	if c.Argv == nil {
		ok, detail, err := c.Func(ctx, r)
		if err != nil {
			return false, "could not check " + c.Desc + ": " + err.Error()
		}
		return ok, detail
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = append(os.Environ(), r.opts.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r.logf("check %s: $ %s: %s\n", c.Desc, QuoteArgv(c.Argv), exitText(err))
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return false, "could not check " + c.Desc + ": " + err.Error()
		}
		return false, ""
	}
	if c.Accept != nil && !c.Accept(stdout.String()) {
		return false, ""
	}
	return true, ""
}

// RunStep runs a step: nothing when it is satisfied, else each action not
// skipped, then its checks again. A failure is a *StepError.
func (r *Runner) RunStep(ctx context.Context, s *Step) (Outcome, error) {
	r.logf("==> step %s: %s\n", s.Name, s.Title)
	if s.Blocked != "" {
		return OutcomeFailed, &StepError{Step: s.Name, Action: "start", Err: errors.New("cannot run on this host"), Hint: s.Blocked}
	}
	if len(s.DoneIf) > 0 {
		if ok, detail := r.allPass(ctx, s.DoneIf); ok {
			s.Satisfied, s.Detail, s.Probed = true, detail, true
			r.emit(s.Name, "satisfied: "+detail)
			return OutcomeSatisfied, nil
		}
	}
	if s.NeedsRoot != "" {
		return OutcomeFailed, &StepError{Step: s.Name, Action: "start", Err: errors.New("needs root"), Hint: s.NeedsRoot}
	}
	changed := false
	for _, a := range s.Actions {
		if skip, why := r.anyPass(ctx, a.SkipIf); skip {
			a.Skipped = true
			r.emit(s.Name, "skip "+a.Desc+": "+why)
			continue
		}
		a.Skipped = false
		err := r.runAction(ctx, s.Name, a)
		var na notApplicable
		if errors.As(err, &na) {
			s.Detail = na.reason
			r.emit(s.Name, "skipped: "+na.reason)
			return OutcomeSkipped, nil
		}
		if err != nil {
			return OutcomeFailed, err
		}
		changed = true
	}
	if len(s.DoneIf) > 0 {
		ok, detail := r.allPass(ctx, s.DoneIf)
		if !ok {
			return OutcomeFailed, &StepError{Step: s.Name, Action: "verify", Err: fmt.Errorf("the step ran but %s", detail),
				Hint: Diagnose(r.opts.Host, r.opts.Arch, detail)}
		}
		s.Detail = detail
	}
	s.Satisfied, s.Probed = true, true
	if !changed {
		return OutcomeSatisfied, nil
	}
	return OutcomeDone, nil
}

// runAction runs one action, streaming its output; a failure is
// classified into a StepError with a hint.
func (r *Runner) runAction(ctx context.Context, step string, a *Action) error {
	tail := newTailWriter(func(line string) { r.emit(step, line) })
	var err error
	if a.Argv != nil {
		argv := a.Argv
		if a.Root && !r.IsRoot() {
			argv = append(append([]string{}, r.opts.Sudo...), argv...)
		}
		r.emit(step, "$ "+QuoteArgv(argv))
		err = r.exec(ctx, argv, a.Env, tail)
	} else {
		r.emit(step, "- "+a.Desc)
		err = a.Do(ctx, r, tail)
	}
	tail.Flush()
	if err == nil {
		return nil
	}
	var na notApplicable
	if errors.As(err, &na) {
		return err
	}
	out := tail.Text() + "\n" + err.Error()
	r.logf("FAILED %s: %v\n", a.Desc, err)
	return &StepError{Step: step, Action: a.Desc, Err: err, Hint: Diagnose(r.opts.Host, r.opts.Arch, out), Tail: tail.Lines(20)}
}

// exec runs argv with its output going to w. On cancel the child gets
// SIGINT, then SIGKILL 10s later.
func (r *Runner) exec(ctx context.Context, argv, env []string, w io.Writer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), r.opts.Env...), env...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Stdin = nil
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if err != nil {
		return fmt.Errorf("`%s` %s", QuoteArgv(argv), exitText(err))
	}
	return nil
}

// emit sends one line to the live output and the log.
func (r *Runner) emit(step, line string) {
	r.logf("[%s] %s\n", step, line)
	if r.opts.Output != nil {
		r.opts.Output(step, line)
	}
}

func (r *Runner) logf(format string, a ...any) {
	if r.opts.Log == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.opts.Log, format, a...)
}

func exitText(err error) string {
	if err == nil {
		return "ok"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return fmt.Sprintf("exited %d", ee.ExitCode())
		}
		return "was killed: " + ee.String()
	}
	return "could not run: " + err.Error()
}

// QuoteArgv renders an argv for people: words with spaces or shell
// characters in single quotes. (Display only: nothing is run by a shell.)
func QuoteArgv(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$*?[]{}()<>|&;#~`!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
