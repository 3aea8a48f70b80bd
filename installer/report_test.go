package installer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRenderReport: the plain summary a run leaves behind counts the
// outcomes, gives each step its duration, and on failure the error and
// its hint; the log path always ends it.
func TestRenderReport(t *testing.T) {
	ok := RenderReport([]StepReport{
		{Name: StepPackages, Outcome: OutcomeSatisfied, Duration: 400 * time.Millisecond},
		{Name: StepVenv, Outcome: OutcomeDone, Duration: 2*time.Minute + 5*time.Second},
		{Name: StepConfig, Outcome: OutcomeDone, Duration: 10 * time.Millisecond},
	}, "/tmp/install.log")
	want := "==> finished: 2 done, 1 satisfied in 2m05s\n" +
		"    packages  satisfied      0.4s\n" +
		"    venv      done          2m05s\n" +
		"    config    done           0.0s\n" +
		"    full log: /tmp/install.log\n"
	if ok != want {
		t.Errorf("report:\n%s\nwant:\n%s", ok, want)
	}
	failed := RenderReport([]StepReport{
		{Name: StepVenv, Outcome: OutcomeFailed, Duration: time.Second, Err: &StepError{Step: StepVenv, Action: "pip install bjoern", Err: errors.New("exited 1"), Hint: "install libev-devel", Tail: []string{"a", "b", "c", "d", "e", "f"}}},
		{Name: StepConfig, Outcome: OutcomeNotRun},
	}, "/tmp/install.log")
	for _, line := range []string{"==> failed at step venv after 1.0s\n", "    config    not run\n", "    error: pip install bjoern: exited 1\n", "    hint: install libev-devel\n", "    | b\n    | c\n    | d\n    | e\n    | f\n    hint"} {
		if !strings.Contains(failed, line) {
			t.Errorf("failure report lacks %q:\n%s", line, failed)
		}
	}
	if s := RenderReport([]StepReport{{Name: StepVenv, Outcome: OutcomeInterrupted, Duration: time.Second}}, ""); !strings.HasPrefix(s, "==> interrupted after 1.0s\n") {
		t.Errorf("interrupted report:\n%s", s)
	}
}
