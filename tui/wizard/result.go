package wizard

import "github.com/whisgee/whisgee/installer"

// Result is how the wizard ended.
type Result struct {
	// Ran is set once the operator confirmed the plan.
	Ran bool
	// Aborted is set when the operator aborted after a failure or quit.
	Aborted bool
	// Outcomes are the steps' ends by name ("skipped by you" included).
	Outcomes map[string]string
	// Failed names steps that failed and were skipped or aborted on.
	Failed []string
	// SkippedBlocked are the steps the operator chose to skip because
	// they cannot run (as this user, or on this host), in plan order.
	SkippedBlocked []SkippedStep
	// Options are the options of the plan that ran (after the choices),
	// to say how to run the skipped steps later.
	Options installer.Options
	// Steps are every step of the plan run, in order, with outcome and
	// duration, for installer.RenderReport.
	Steps []installer.StepReport
}

// SkippedStep is a step skipped because it could not run.
type SkippedStep struct {
	Name string
	// NeedsRoot is set when root (or a path this user can write) would
	// let it run; else this host cannot run it.
	NeedsRoot bool
	// Why says what stops it and the fix, as installer.Plan.Blocked
	// does after the step's name ("needs root: why: fix").
	Why string
}

// String is the step as the plain plan's blocked lines show it.
func (s SkippedStep) String() string { return s.Name + ": " + s.Why }

// Result is how the wizard ended; read it from the final model.
func (m Model) Result() Result {
	r := m.result
	if m.plan != nil {
		r.Options = m.plan.Options
	}
	if m.status == nil {
		return r
	}
	for i, s := range m.plan.Steps {
		rep := installer.StepReport{Name: s.Name, Outcome: installer.Outcome(m.status[i]), Duration: m.took[i]}
		switch m.status[i] {
		case "":
			rep.Outcome = installer.OutcomeNotRun
		case "running":
			rep.Outcome, rep.Duration = installer.OutcomeInterrupted, m.cfg.Now().Sub(m.started)
		case "failed":
			rep.Err = m.errs[i]
		}
		r.Steps = append(r.Steps, rep)
	}
	return r
}
