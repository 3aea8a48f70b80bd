package installer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// More step outcomes, for reports of a run that stopped.
const (
	OutcomeNotRun      Outcome = "not run"     // a step before it failed
	OutcomeInterrupted Outcome = "interrupted" // ctrl+c while it ran
)

// StepReport is how one step of a run ended, for the summary left after
// `whisgee install --yes`.
type StepReport struct {
	Name    string
	Outcome Outcome
	// Duration is how long the step ran (zero when it did not).
	Duration time.Duration
	// Err is the failure (a *StepError) when Outcome is OutcomeFailed.
	Err error
}

// RenderReport is a run's plain summary: each step with its result and
// duration, the failure with its hint, and where the full log is. It is
// plain text (no colour, no cursor moves) so a terminal's scrollback and
// a CI log keep it as it is.
func RenderReport(reports []StepReport, logPath string) string {
	var b strings.Builder
	var total time.Duration
	counts := map[Outcome]int{}
	var failed *StepReport
	for i, r := range reports {
		total += r.Duration
		counts[r.Outcome]++
		if r.Outcome == OutcomeFailed && failed == nil {
			failed = &reports[i]
		}
	}
	switch {
	case failed != nil:
		fmt.Fprintf(&b, "==> failed at step %s after %s\n", failed.Name, roundDuration(total))
	case counts[OutcomeInterrupted] > 0:
		fmt.Fprintf(&b, "==> interrupted after %s\n", roundDuration(total))
	default:
		var parts []string
		for _, o := range []Outcome{OutcomeDone, OutcomeSatisfied, OutcomeSkipped} {
			if counts[o] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
			}
		}
		if len(parts) == 0 {
			parts = []string{"no steps"}
		}
		fmt.Fprintf(&b, "==> finished: %s in %s\n", strings.Join(parts, ", "), roundDuration(total))
	}
	for _, r := range reports {
		took := ""
		if r.Outcome != OutcomeNotRun {
			took = roundDuration(r.Duration)
		}
		b.WriteString(strings.TrimRight(fmt.Sprintf("    %-9s %-11s %7s", r.Name, r.Outcome, took), " ") + "\n")
	}
	if failed != nil && failed.Err != nil {
		var se *StepError
		if errors.As(failed.Err, &se) {
			fmt.Fprintf(&b, "    error: %s: %v\n", se.Action, se.Err)
			for _, l := range se.Tail[max(0, len(se.Tail)-reportTail):] {
				fmt.Fprintf(&b, "    | %s\n", l)
			}
			if se.Hint != "" {
				fmt.Fprintf(&b, "    hint: %s\n", se.Hint)
			}
		} else {
			fmt.Fprintf(&b, "    error: %v\n", failed.Err)
		}
	}
	if logPath != "" {
		fmt.Fprintf(&b, "    full log: %s\n", logPath)
	}
	return b.String()
}

// reportTail is how many of a failed command's last output lines the
// report repeats (the log has them all).
const reportTail = 5

// roundDuration prints durations as people read them: 0.4s, 12.3s, 2m05s.
func roundDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
