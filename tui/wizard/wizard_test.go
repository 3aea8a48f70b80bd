package wizard

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/tui/theme"
	"github.com/whisgee/whisgee/tui/tuitest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) {
	// Golden views are plain text: no colours, whatever the terminal.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("view differs from %s (go test -update rewrites it):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

const rocky9 = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n"

func testHost(t *testing.T, osRelease string) *installer.Host {
	t.Helper()
	f, _ := installer.ParseOSRelease(strings.NewReader(osRelease))
	h, err := installer.HostFromOSRelease(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stepPlan is a plan of in-process steps whose work the test controls:
// the real Runner runs them.
func stepPlan(h *installer.Host, steps ...*installer.Step) *installer.Plan {
	return &installer.Plan{Host: h, Steps: steps, Notes: []string{"a note for the operator"}}
}

func doStep(name string, work func() error) *installer.Step {
	return &installer.Step{Name: name, Title: "do " + name, Actions: []*installer.Action{{
		Desc: name + " work",
		Do: func(ctx context.Context, r *installer.Runner, out io.Writer) error {
			io.WriteString(out, name+" says hello\n")
			return work()
		},
	}}}
}

// testConfig is a wizard config as root whose plan is always plan.
func testConfig(plan *installer.Plan) Config {
	root := 0
	return Config{
		Styles: theme.NewStyles(theme.Default()), Host: plan.Host,
		Options: installer.Options{Arch: "x86_64"}, LogPath: "/var/log/whisgee/install.log", Euid: &root,
		BuildPlan: func(*installer.Host, installer.Options) (*installer.Plan, error) { return plan, nil },
	}
}

func newTestModel(t *testing.T, plan *installer.Plan) Model {
	t.Helper()
	return New(testConfig(plan))
}

func press(t *testing.T, m Model, keys ...string) (Model, tea.Cmd) {
	t.Helper()
	var cmd tea.Cmd
	var tm tea.Model = m
	for _, k := range keys {
		tm, cmd = tm.Update(tuitest.Key(k))
	}
	return tm.(Model), cmd
}

func send(m Model, msg tea.Msg) (Model, tea.Cmd) {
	tm, cmd := m.Update(msg)
	return tm.(Model), cmd
}

// msgsOf runs a Cmd (a Batch's Cmds concurrently) and returns their Msgs,
// leaving out the spinner's ticks.
func msgsOf(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	b, ok := msg.(tea.BatchMsg)
	if !ok {
		return []tea.Msg{msg}
	}
	results := make(chan []tea.Msg, len(b))
	for _, c := range b {
		go func() { results <- msgsOf(c) }()
	}
	var out []tea.Msg
	for range b {
		for _, m := range <-results {
			if _, tick := m.(spinner.TickMsg); !tick {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestChoicesForm(t *testing.T) {
	h := testHost(t, rocky9)
	m := newTestModel(t, stepPlan(h))
	if m.phase != phaseChoices || m.Init() == nil {
		t.Fatal("the wizard starts on the choices and listens for output")
	}
	if strings.Contains(m.View(), "Mirror .repo URL") {
		t.Error("the mirror URL shows while the source is the release binary")
	}
	m, _ = press(t, m, "right")
	if envoySources[m.choices.source] != installer.EnvoyRepo || !strings.Contains(m.View(), "Mirror .repo URL") {
		t.Error("right on the Envoy source should pick the mirror and show its URL field")
	}
	m, _ = press(t, m, "tab", "tab", "tab", "tab", "tab")
	if m.choices.focus != fieldWorkers {
		t.Fatalf("focus %d after five tabs, want the workers field", m.choices.focus)
	}
	m.choices.inputs[fieldWorkers].SetValue("zero")
	m, cmd := press(t, m, "enter")
	if cmd == nil {
		t.Fatal("enter on the last field submits")
	}
	m, cmd = send(m, cmd())
	if cmd != nil || !strings.Contains(m.View(), `workers: want a number from 1 to 1024, got "zero"`) {
		t.Fatalf("a bad worker count must be refused in place:\n%s", m.View())
	}
	m.choices.inputs[fieldWorkers].SetValue("6")
	m, cmd = press(t, m, "enter")
	m, cmd = send(m, cmd())
	if cmd == nil {
		t.Fatal("a good form makes a plan in a Cmd")
	}
	msg := cmd()
	if pm, ok := msg.(planMsg); !ok || pm.err != nil {
		t.Fatalf("got %#v, want a planMsg", msg)
	}
	opts, _ := m.choices.apply(installer.Options{})
	if opts.Workers != 6 || opts.EnvoySource != installer.EnvoyRepo || opts.Python != "python3" || opts.Venv != "/opt/whisgee/venv" || opts.ConfigPath != "/etc/whisgee/whisgee.yaml" {
		t.Errorf("choices applied: %+v", opts)
	}
}

func TestPlanErrorReturnsToChoices(t *testing.T) {
	h := testHost(t, rocky9)
	m := newTestModel(t, stepPlan(h))
	m, _ = send(m, planMsg{err: errors.New("--envoy-repo x: want an http(s):// or file:// URL")})
	if m.phase != phaseChoices || !strings.Contains(m.View(), "want an http(s)://") {
		t.Fatalf("phase %d, view:\n%s", m.phase, m.View())
	}
}

// TestConfirmStartsOnNo: enter on the confirm does nothing but go back;
// only moving to Yes (or pressing y) runs the plan.
func TestConfirmStartsOnNo(t *testing.T) {
	h := testHost(t, rocky9)
	ran := 0
	plan := stepPlan(h, doStep("config", func() error { ran++; return nil }))
	m := newTestModel(t, plan)
	m, _ = send(m, planMsg{plan: plan})
	m, _ = press(t, m, "enter")
	if m.phase != phaseConfirm || m.yes {
		t.Fatal("enter on the plan opens the confirm with No focused")
	}
	m, cmd := press(t, m, "enter")
	if m.phase != phasePlan || cmd != nil {
		t.Fatal("enter on No goes back to the plan and runs nothing")
	}
	m, _ = press(t, m, "enter", "right")
	if !m.yes {
		t.Fatal("right moves the focus to Yes")
	}
	m, cmd = press(t, m, "enter")
	if m.phase != phaseRunning || cmd == nil || m.status[0] != "running" {
		t.Fatal("enter on Yes runs the first step")
	}
	for _, msg := range msgsOf(cmd) {
		m, _ = send(m, msg)
	}
	if ran != 1 || m.phase != phaseDone || m.Result().Outcomes["config"] != "done" {
		t.Fatalf("ran %d, phase %d, result %+v", ran, m.phase, m.Result())
	}
}

// TestFailedStepRetrySkipAbort: a failing step offers retry, skip, abort
// and the log; each does what it says.
func TestFailedStepRetrySkipAbort(t *testing.T) {
	h := testHost(t, rocky9)
	fails := 2
	plan := stepPlan(h,
		doStep("packages", func() error {
			if fails > 0 {
				fails--
				return errors.New("x.c:1:10: fatal error: ev.h: No such file or directory")
			}
			return nil
		}),
		doStep("config", func() error { return nil }))
	m := newTestModel(t, plan)
	m, _ = send(m, planMsg{plan: plan})
	m, cmd := press(t, m, "enter", "y")
	m, _ = send(m, msgsOf(cmd)[0])
	if m.failure == nil || m.status[0] != "failed" {
		t.Fatal("the failed step should show its failure")
	}
	view := m.View()
	for _, want := range []string{"step packages failed", "hint: bjoern's build needs ev.h: install libev-devel; it is in crb", "[r] retry", "[s] skip this step", "[a] abort", "[v] view log"} {
		if !strings.Contains(view, want) {
			t.Errorf("failure view lacks %q:\n%s", want, view)
		}
	}
	m, cmd = press(t, m, "r")
	if m.status[0] != "running" || cmd == nil {
		t.Fatal("r retries the step")
	}
	m, _ = send(m, msgsOf(cmd)[0])
	if m.failure == nil {
		t.Fatal("the retry failed again and should say so")
	}
	m, cmd = press(t, m, "v")
	if !m.showLog || cmd == nil {
		t.Fatal("v shows the log, read in a Cmd")
	}
	m, _ = press(t, m, "v", "s")
	if m.status[0] != "skipped by you" || m.current != 1 {
		t.Fatalf("s skips to the next step; status %q current %d", m.status[0], m.current)
	}

	// Abort: a fresh run whose first step fails.
	fails = 1
	m2 := newTestModel(t, plan)
	m2, _ = send(m2, planMsg{plan: plan})
	m2, cmd = press(t, m2, "enter", "y")
	m2, _ = send(m2, msgsOf(cmd)[0])
	m2, cmd = press(t, m2, "a")
	if m2.phase != phaseDone || !m2.Result().Aborted || cmd != nil || !strings.Contains(m2.View(), "Aborted.") {
		t.Fatalf("a aborts: phase %d result %+v", m2.phase, m2.Result())
	}
}

// TestCtrlCWhileRunningWaitsForTheStep: ctrl+c cancels the step's context
// (its command gets SIGINT) and quits once the step has returned.
func TestCtrlCWhileRunningWaitsForTheStep(t *testing.T) {
	h := testHost(t, rocky9)
	var stepCtx context.Context
	step := &installer.Step{Name: "venv", Title: "wait", Actions: []*installer.Action{{Desc: "wait", Do: func(ctx context.Context, _ *installer.Runner, _ io.Writer) error {
		stepCtx = ctx
		<-ctx.Done()
		return ctx.Err()
	}}}}
	plan := stepPlan(h, step)
	m := newTestModel(t, plan)
	m, _ = send(m, planMsg{plan: plan})
	m, cmd := press(t, m, "enter", "y")
	m, quit := press(t, m, "ctrl+c")
	if quit != nil || !m.quitting {
		t.Fatal("ctrl+c during a step waits for it")
	}
	m, quit = send(m, msgsOf(cmd)[0])
	if stepCtx.Err() == nil || quit == nil || !m.Result().Aborted {
		t.Fatal("the step's context is cancelled and the wizard quits when it returns")
	}
	if _, ok := quit().(tea.QuitMsg); !ok {
		t.Fatal("want tea.Quit")
	}
}

func TestLiveTail(t *testing.T) {
	h := testHost(t, rocky9)
	plan := stepPlan(h, doStep("repos", func() error { return nil }))
	m := newTestModel(t, plan)
	m.cfg.TailLines = 3
	m, _ = send(m, planMsg{plan: plan})
	m, _ = press(t, m, "enter", "y")
	for _, l := range []string{"one", "two", "three", "four"} {
		var cmd tea.Cmd
		m, cmd = send(m, lineMsg(l))
		if cmd == nil {
			t.Fatal("each line re-arms the wait for the next")
		}
	}
	if got := strings.Join(m.tail, ","); got != "two,three,four" {
		t.Fatalf("tail %q, want the last three lines", got)
	}
	if !strings.Contains(m.View(), "  four") {
		t.Errorf("the tail is not shown:\n%s", m.View())
	}
}

func TestGoldenViews(t *testing.T) {
	h := testHost(t, rocky9)
	satisfied := doStep("repos", nil)
	satisfied.Satisfied, satisfied.Probed, satisfied.Detail, satisfied.Root = true, true, "libev-devel installed or installable", true
	pkgs := doStep("packages", func() error { return errors.New("`dnf install -y libev-devel` exited 1") })
	pkgs.Root = true
	plan := stepPlan(h, satisfied, pkgs, doStep("envoy", nil), doStep("config", nil))
	m := newTestModel(t, plan)
	golden(t, "choices", m.View())
	m, _ = send(m, planMsg{plan: plan})
	golden(t, "plan", m.View())
	m, _ = press(t, m, "enter")
	golden(t, "confirm", m.View())
	m, _ = press(t, m, "right")
	golden(t, "confirm-yes", m.View())
	m, _ = press(t, m, "enter")
	m, _ = send(m, stepDoneMsg{index: 0, outcome: installer.OutcomeSatisfied})
	m, _ = send(m, lineMsg("$ dnf install -y gcc python3 python3-devel libev-devel"))
	m, _ = send(m, lineMsg("Last metadata expiration check: 0:00:01 ago"))
	golden(t, "running", m.View())
	m, _ = send(m, stepDoneMsg{index: 1, outcome: installer.OutcomeFailed, err: &installer.StepError{
		Step: "packages", Action: "install the build tools", Err: errors.New("`dnf install -y libev-devel` exited 1"),
		Hint: installer.Diagnose(h, "x86_64", "No match for argument: libev-devel"), Tail: []string{"No match for argument: libev-devel", "Error: Unable to find a match: libev-devel"},
	}})
	golden(t, "failed", m.View())
	m, _ = press(t, m, "a")
	golden(t, "aborted", m.View())
}
