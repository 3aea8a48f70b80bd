package wizard

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/installer"
)

// The plans below carry the privilege facts as installer.Runner.Probe
// sets them for a user without root and without sudo: the probe's write
// check cannot be made to fail for the root these tests run as, so the
// facts are set here, worded as the installer words them; the real probe
// as a real unprivileged user is cmd/whisgee's TestBootstrapAsNonRoot.

func needsRoot(s *installer.Step, why, fix string) *installer.Step {
	s.Probed, s.NeedsRoot, s.RootFix = true, why+": "+fix, fix
	return s
}

// blockedPlan is a non-root user's plan on a host whose glibc is too old
// for Envoy's release binary: packages need root, envoy cannot run here,
// and the default venv and config paths are not the user's to write.
// ran counts the steps whose work ran.
func blockedPlan(h *installer.Host, ran map[string]int) *installer.Plan {
	step := func(name string) *installer.Step {
		return doStep(name, func() error { ran[name]++; return nil })
	}
	repos := step("repos")
	repos.Satisfied, repos.Probed, repos.Detail, repos.Root = true, true, "libev-devel installed or installable", true
	repos.DoneIf = []installer.Check{{Desc: "libev-devel installed or installable", Func: func(context.Context, *installer.Runner) (bool, string, error) {
		return true, "", nil
	}}}
	pkgs := needsRoot(step("packages"), "not root, and `sudo -n true` fails here", installer.FixRunAsRoot)
	pkgs.Root = true
	envoy := step("envoy")
	envoy.Blocked = "this host's glibc is 2.28 and Envoy's release binaries need 2.29 or newer"
	venv := needsRoot(step("venv"), "this user cannot write /opt (for /opt/whisgee/venv)", installer.FixUserPaths)
	cfg := needsRoot(step("config"), "this user cannot write /etc (for /etc/whisgee/whisgee.yaml)", installer.FixUserPaths)
	return stepPlan(h, repos, pkgs, envoy, venv, cfg)
}

// fitsScreen fails the test when a view is taller or wider than w x h.
func fitsScreen(t *testing.T, name, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) > h {
		t.Errorf("%s: %d lines on a %d-line screen:\n%s", name, len(lines), h, view)
	}
	for _, l := range lines {
		if lipgloss.Width(l) > w {
			t.Errorf("%s: line wider than %d: %q", name, w, l)
		}
	}
}

// screenShows checks an 80x24 view against its golden file, that it fits
// the screen, and that it shows each of wants.
func screenShows(t *testing.T, name, view string, wants ...string) {
	t.Helper()
	golden(t, name, view)
	fitsScreen(t, name, view, 80, 24)
	for _, want := range wants {
		if !strings.Contains(view, want) {
			t.Errorf("%s lacks %q:\n%s", name, want, view)
		}
	}
}

// blockedModel is the wizard at 80x24 showing blockedPlan.
func blockedModel(t *testing.T, ran map[string]int) (Model, *installer.Plan) {
	t.Helper()
	plan := blockedPlan(testHost(t, rocky9), ran)
	m := newTestModel(t, plan)
	m, _ = send(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = send(m, planMsg{plan: plan})
	return m, plan
}

// TestBlockedPlanAndConfirmViews: at 80x24 the plan marks each step that
// cannot run ("needs root" or "blocked") with what stops it and the fix
// on lines of their own, a choice's fix naming the choice; the confirm
// lists the fixes and offers back, skip-and-run and quit, focused on back.
func TestBlockedPlanAndConfirmViews(t *testing.T) {
	m, _ := blockedModel(t, map[string]int{})
	screenShows(t, "plan-blocked", m.View(),
		"  packages  needs root yes  do packages\n            not root, and `sudo -n true` fails here\n            fix: run as root or with sudo\n",
		"  envoy     blocked         do envoy\n            this host's glibc is 2.28",
		"  venv      needs root      do venv\n            this user cannot write /opt (for /opt/whisgee/venv)\n            fix: run as root, or choose a Virtualenv this user can write\n",
		"fix: run as root, or choose a Config file this user can write\n",
		"            fix: choose Envoy from: skip (built-in proxy) or your mirror\n")
	m, _ = press(t, m, "enter")
	confirm := m.View()
	screenShows(t, "confirm-blocked", confirm,
		"4 of 5 steps cannot run", "packages  run as root or with sudo", "Back to the choices", "Skip them, run the rest", "Quit")
	if strings.Contains(confirm, "Yes") {
		t.Error("the blocked confirm offers to run blocked steps")
	}
}

// TestBlockedConfirmStartsOnBack: enter on the blocked confirm's first
// focus changes nothing and goes back to the choices, focused on the
// first choice that clears a block and saying what to pick; y runs
// nothing; esc goes back to the plan; Quit quits having run nothing.
func TestBlockedConfirmStartsOnBack(t *testing.T) {
	ran := map[string]int{}
	m, _ := blockedModel(t, ran)
	m, _ = press(t, m, "enter")
	if m.phase != phaseConfirm || m.blockedAt != blockedBackToChoices {
		t.Fatalf("phase %d focus %d: the blocked confirm starts on back to the choices", m.phase, m.blockedAt)
	}
	if m2, cmd := press(t, m, "y"); m2.phase != phaseConfirm || cmd != nil {
		t.Error("y on the blocked confirm must not run the plan")
	}
	if m2, _ := press(t, m, "esc"); m2.phase != phasePlan {
		t.Error("esc goes back to the plan")
	}
	m2, cmd := press(t, m, "enter")
	if m2.phase != phaseChoices || cmd != nil {
		t.Fatalf("enter on the first focus: phase %d, cmd %v; want the choices and nothing run", m2.phase, cmd)
	}
	if m2.choices.focus != fieldEnvoy {
		t.Errorf("focus %d: Envoy from is the first choice that clears a block", m2.choices.focus)
	}
	view := m2.View()
	screenShows(t, "choices-blocked", view,
		"envoy: this host's glibc is 2.28 and Envoy's release binaries need 2.29 or",
		"venv: this user cannot write /opt (for /opt/whisgee/venv): choose a\n    Virtualenv",
		"config: this user cannot write /etc (for /etc/whisgee/whisgee.yaml):\n    choose a Config file")
	if strings.Contains(view, "packages:") {
		t.Error("no choice clears the packages step, yet the choices name it")
	}

	m3, cmd := press(t, m, "left", "enter") // left wraps round to Quit
	if m3.blockedAt != blockedQuit || cmd == nil {
		t.Fatal("Quit should quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok || m3.Result().Ran || len(ran) > 0 {
		t.Fatalf("Quit ran something: %v %+v", ran, m3.Result())
	}
}

// TestChoosingWritablePathsReplans: changing the venv and config choices
// makes and probes a new plan with those paths (~ is the user's home);
// the new plan's probe decides what is blocked, and with nothing blocked
// the confirm is the usual one, focused on No.
func TestChoosingWritablePathsReplans(t *testing.T) {
	home, _ := os.UserHomeDir()
	m, _ := blockedModel(t, map[string]int{})
	var got installer.Options
	writable := stepPlan(m.plan.Host, doStep("venv", nil), doStep("config", nil))
	m.cfg.BuildPlan = func(_ *installer.Host, o installer.Options) (*installer.Plan, error) {
		got = o
		return writable, nil
	}
	m, _ = press(t, m, "enter", "enter") // the confirm, then back to the choices
	m.choices.focusOn(fieldVenv)
	m.choices.inputs[fieldVenv].SetValue("~/whisgee/venv")
	m.choices.inputs[fieldConfig].SetValue("~/whisgee/whisgee.yaml")
	m, cmd := press(t, m, "tab", "tab", "enter")
	if m.choices.focus != fieldWorkers || cmd == nil {
		t.Fatalf("focus %d: enter on workers submits", m.choices.focus)
	}
	m, cmd = send(m, cmd())
	if cmd == nil {
		t.Fatal("submitting the choices makes a new plan")
	}
	msg := cmd()
	if got.Venv != filepath.Join(home, "whisgee/venv") || got.ConfigPath != filepath.Join(home, "whisgee/whisgee.yaml") {
		t.Errorf("the new plan was built with venv %q config %q", got.Venv, got.ConfigPath)
	}
	if !writable.Steps[0].Probed {
		t.Error("the new plan was not probed")
	}
	m, _ = send(m, msg)
	if m.phase != phasePlan || m.plan != writable || len(m.choices.hints) > 0 {
		t.Fatalf("phase %d: the new plan should replace the old and its hints", m.phase)
	}
	if strings.Contains(m.View(), "needs root") {
		t.Errorf("the new plan still shows a block:\n%s", m.View())
	}
	m, _ = press(t, m, "enter")
	if m.phase != phaseConfirm || m.yes || !strings.Contains(m.View(), "Run the plan?") {
		t.Fatalf("with nothing blocked the confirm asks, focused on No:\n%s", m.View())
	}
}

// TestSkipBlockedRunsTheRest: "skip them, run the rest" never starts the
// blocked steps, runs the others, and the summary lists each skipped
// step with what stops it and the fix; the result reports them.
func TestSkipBlockedRunsTheRest(t *testing.T) {
	ran := map[string]int{}
	m, plan := blockedModel(t, ran)
	m, cmd := press(t, m, "enter", "right", "enter")
	if m.phase != phaseRunning || cmd == nil {
		t.Fatal("skip and run starts the run")
	}
	want := map[string]string{"packages": statusSkippedNeedsRoot, "envoy": statusSkippedBlocked, "venv": statusSkippedNeedsRoot, "config": statusSkippedNeedsRoot}
	for i, s := range plan.Steps {
		if w, ok := want[s.Name]; ok && m.status[i] != w {
			t.Errorf("step %s: status %q, want %q", s.Name, m.status[i], w)
		}
	}
	if m.current != 0 || m.status[0] != "running" {
		t.Fatalf("the first step that can run (repos) runs first; current %d", m.current)
	}
	for cmd != nil {
		msgs := msgsOf(cmd)
		cmd = nil
		for _, msg := range msgs {
			m, cmd = send(m, msg)
		}
	}
	if m.phase != phaseDone {
		t.Fatalf("phase %d after the runnable steps", m.phase)
	}
	if len(ran) != 0 {
		t.Errorf("steps ran work: %v (repos is satisfied; the rest are blocked)", ran)
	}
	res := m.Result()
	if len(res.SkippedBlocked) != 4 || res.SkippedBlocked[0] != (SkippedStep{"packages", true, "needs root: not root, and `sudo -n true` fails here: run as root or with sudo"}) ||
		res.SkippedBlocked[1] != (SkippedStep{"envoy", false, "this host's glibc is 2.28 and Envoy's release binaries need 2.29 or newer"}) {
		t.Errorf("SkippedBlocked %q", res.SkippedBlocked)
	}
	if res.Outcomes["venv"] != statusSkippedNeedsRoot || res.Steps[3].Outcome != statusSkippedNeedsRoot || res.Outcomes["repos"] != "satisfied" {
		t.Errorf("result %+v", res)
	}
	screenShows(t, "done-skipped-blocked", m.View(), "Not run, because they cannot run here; to finish them later:",
		"  venv: needs root: this user cannot write /opt (for /opt/whisgee/venv): run\n    as root, or pass --venv ~/whisgee/venv --config ~/whisgee/whisgee.yaml\n")
}

// TestSkipBlockedThenFailure: a step that fails after blocked ones were
// skipped still offers retry/skip/abort, and the summary names both.
func TestSkipBlockedThenFailure(t *testing.T) {
	ran := map[string]int{}
	plan := blockedPlan(testHost(t, rocky9), ran)
	plan.Steps = append(plan.Steps, doStep("last", func() error { return errors.New("`false` exited 1") }))
	m := newTestModel(t, plan)
	m, _ = send(m, planMsg{plan: plan})
	m, cmd := press(t, m, "enter", "right", "enter")
	for _, msg := range msgsOf(cmd) {
		m, _ = send(m, msg) // repos: satisfied; the next runnable is last
	}
	if m.plan.Steps[m.current].Name != "last" || m.status[m.current] != "running" {
		t.Fatalf("after repos the run skips to the step after the blocked ones; current %d", m.current)
	}
	m, _ = send(m, stepDoneMsg{index: m.current, outcome: installer.OutcomeFailed, err: errors.New("`false` exited 1")})
	if m.failure == nil {
		t.Fatal("the failing step should offer retry/skip/abort")
	}
	m, _ = press(t, m, "s")
	view := m.View()
	if m.phase != phaseDone || !strings.Contains(view, "Finished, with skipped failures: last") || !strings.Contains(view, "Not run, because they cannot run here") {
		t.Errorf("summary:\n%s", view)
	}
}

// TestSkipWhenEveryStepIsBlocked: with nothing left to run, skipping
// ends at once at the summary, having started nothing.
func TestSkipWhenEveryStepIsBlocked(t *testing.T) {
	ran := map[string]int{}
	plan := blockedPlan(testHost(t, rocky9), ran)
	plan.Steps = plan.Steps[1:] // all but the satisfied repos step
	m := newTestModel(t, plan)
	m, _ = send(m, planMsg{plan: plan})
	m, cmd := press(t, m, "enter", "right", "enter")
	if m.phase != phaseDone || cmd != nil || len(ran) != 0 {
		t.Fatalf("phase %d cmd %v ran %v: want the summary at once", m.phase, cmd, ran)
	}
	if res := m.Result(); !res.Ran || len(res.SkippedBlocked) != 4 || !strings.Contains(m.View(), "Not run, because they cannot run here") {
		t.Errorf("result %+v\n%s", res, m.View())
	}
}
