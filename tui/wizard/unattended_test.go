package wizard

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/installer"
)

// steppingClock advances by step on every reading, so durations are
// known without sleeping.
func steppingClock(step time.Duration) func() time.Time {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		now = now.Add(step)
		return now
	}
}

func newUnattended(t *testing.T, plan *installer.Plan) Model {
	t.Helper()
	cfg := testConfig(plan)
	cfg.Unattended, cfg.Plan, cfg.Title, cfg.Now = true, plan, "whisgee install", steppingClock(1500*time.Millisecond)
	return New(cfg)
}

// stepDone finds the step's end among a Cmd's Msgs.
func stepDone(t *testing.T, cmd tea.Cmd) stepDoneMsg {
	t.Helper()
	for _, msg := range msgsOf(cmd) {
		if d, ok := msg.(stepDoneMsg); ok {
			return d
		}
	}
	t.Fatal("the Cmd did not run a step")
	return stepDoneMsg{}
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// TestUnattendedRunsEveryStepAndQuits: the run starts with the first step
// (no choices, no confirm), goes on to the next, quits after the last and
// leaves an empty view; Result has each step's outcome and duration.
func TestUnattendedRunsEveryStepAndQuits(t *testing.T) {
	h := testHost(t, rocky9)
	plan := stepPlan(h, doStep("packages", func() error { return nil }), doStep("config", func() error { return nil }))
	m := newUnattended(t, plan)
	if m.phase != phaseRunning || m.status[0] != "running" {
		t.Fatalf("an unattended run starts running: phase %d, status %q", m.phase, m.status)
	}
	if !strings.Contains(m.View(), "whisgee install") || strings.Contains(m.View(), "Run the plan?") {
		t.Errorf("the running view:\n%s", m.View())
	}
	m, cmd := send(m, stepDone(t, m.Init()))
	if m.status[0] != "done" || m.status[1] != "running" || isQuit(cmd) {
		t.Fatalf("after the first step: status %q", m.status)
	}
	m, cmd = send(m, stepDone(t, cmd))
	if !isQuit(cmd) || m.View() != "" {
		t.Fatalf("after the last step the run quits and clears its view; view:\n%s", m.View())
	}
	steps := m.Result().Steps
	if len(steps) != 2 || steps[0].Outcome != installer.OutcomeDone || steps[1].Outcome != installer.OutcomeDone {
		t.Fatalf("result steps %+v", steps)
	}
	if steps[0].Duration != 1500*time.Millisecond {
		t.Errorf("step duration %s, want the clock's 1.5s", steps[0].Duration)
	}
}

// TestUnattendedStopsAtAFailure: a failing step ends the run at once with
// the failure (and its hint) in the result, later steps not run, and no
// retry, skip or abort: those keys do nothing.
func TestUnattendedStopsAtAFailure(t *testing.T) {
	h := testHost(t, rocky9)
	plan := stepPlan(h,
		doStep("packages", func() error { return errors.New("x.c:1:10: fatal error: ev.h: No such file or directory") }),
		doStep("config", func() error { t.Error("a step after the failure ran"); return nil }))
	m := newUnattended(t, plan)
	m, cmd := send(m, stepDone(t, m.Init()))
	if !isQuit(cmd) || m.phase != phaseDone {
		t.Fatal("a failure ends an unattended run")
	}
	m, cmd = press(t, m, "r")
	if cmd != nil || m.status[0] != "failed" {
		t.Fatal("r does nothing in an unattended run")
	}
	res := m.Result()
	if len(res.Failed) != 1 || res.Steps[1].Outcome != installer.OutcomeNotRun {
		t.Fatalf("result %+v", res)
	}
	var se *installer.StepError
	if !errors.As(res.Steps[0].Err, &se) || !strings.Contains(se.Hint, "install libev-devel") {
		t.Fatalf("the failure lacks its hint: %v", res.Steps[0].Err)
	}
	golden(t, "unattended-report-failed", installer.RenderReport(res.Steps, "/var/log/whisgee/install.log"))
}

// TestUnattendedCtrlC: ctrl+c interrupts the running step and quits when
// it has returned; the result says which step was interrupted.
func TestUnattendedCtrlC(t *testing.T) {
	h := testHost(t, rocky9)
	release := make(chan struct{})
	plan := stepPlan(h, doStep("venv", func() error { <-release; return errors.New("interrupted") }))
	m := newUnattended(t, plan)
	cmd := m.Init()
	m, quit := press(t, m, "ctrl+c")
	if quit != nil || !m.quitting {
		t.Fatal("ctrl+c waits for the running step")
	}
	close(release)
	m, quit = send(m, stepDone(t, cmd))
	if !isQuit(quit) || m.Result().Steps[0].Outcome != installer.OutcomeInterrupted {
		t.Fatalf("result %+v", m.Result().Steps)
	}
}

func TestUnattendedEmptyPlanQuits(t *testing.T) {
	m := newUnattended(t, stepPlan(testHost(t, rocky9)))
	if !isQuit(m.Init()) || m.View() != "" {
		t.Fatal("an empty plan has nothing to run")
	}
}

func TestUnattendedGoldenView(t *testing.T) {
	h := testHost(t, rocky9)
	satisfied := doStep("repos", nil)
	satisfied.Root = true
	plan := stepPlan(h, satisfied, doStep("packages", nil), doStep("config", nil))
	m := newUnattended(t, plan)
	m, _ = send(m, stepDoneMsg{index: 0, outcome: installer.OutcomeSatisfied})
	m, _ = send(m, lineMsg("$ dnf install -y gcc python3 python3-devel libev-devel"))
	m, _ = send(m, lineMsg("Installing: libev-devel-4.33-5.el9.x86_64"))
	golden(t, "unattended-running", m.View())
}
