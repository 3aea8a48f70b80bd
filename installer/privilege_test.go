package installer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeSaysWhichStepsNeedRoot: as a non-root user whose sudo does not
// work (the prefix `false` stands in for a `sudo -n` that asks for a
// password), a step with root work left is marked with the fix and is
// refused by RunStep without running anything; a satisfied step, or one
// whose root actions are all skipped, needs nothing. With a working sudo
// (the prefix `env`), the step runs through it. The write-access half is
// proven by running the real binary as nobody (cmd/whisgee).
func TestProbeSaysWhichStepsNeedRoot(t *testing.T) {
	uid := 1000
	ran := filepath.Join(t.TempDir(), "ran")
	pkgStep := func(done bool) *Step {
		done1 := []string{"false"}
		if done {
			done1 = []string{"true"}
		}
		return &Step{Name: StepPackages, Root: true, Title: "install things",
			DoneIf:  []Check{{Desc: "things installed", Argv: done1}},
			Actions: []*Action{{Desc: "install", Argv: []string{"touch", ran}, Root: true}}}
	}
	skipped := &Step{Name: StepRepos, Root: true, Title: "enable a repo",
		DoneIf:  []Check{{Desc: "the repo is enabled", Argv: []string{"false"}}},
		Actions: []*Action{{Desc: "enable", Argv: []string{"touch", ran}, Root: true, SkipIf: []Check{{Desc: "already", Argv: []string{"true"}}}}}}
	envoyish := &Step{Name: StepEnvoy, Root: true, Instead: "pass --envoy-source skip",
		Actions: []*Action{{Desc: "download", Root: true, Do: nil}}}

	noSudo := NewRunner(RunnerOptions{Euid: &uid, Sudo: []string{"false"}})
	todo, done := pkgStep(false), pkgStep(true)
	plan := &Plan{Host: hostOf(t, "debian-12"), Steps: []*Step{todo, done, skipped, envoyish}}
	noSudo.Probe(context.Background(), plan)
	if want := "not root, and `false true` fails here: " + FixRunAsRoot; todo.NeedsRoot != want {
		t.Errorf("packages to do: NeedsRoot %q, want %q", todo.NeedsRoot, want)
	}
	if todo.RootFix != FixRunAsRoot {
		t.Errorf("packages to do: RootFix %q, want %q", todo.RootFix, FixRunAsRoot)
	}
	if done.NeedsRoot != "" || skipped.NeedsRoot != "" {
		t.Errorf("satisfied or all-skipped steps need nothing: %q, %q", done.NeedsRoot, skipped.NeedsRoot)
	}
	if !strings.HasSuffix(envoyish.NeedsRoot, FixRunAsRoot+", or pass --envoy-source skip") {
		t.Errorf("the step's own alternative is not in the fix: %q", envoyish.NeedsRoot)
	}
	blocked := plan.Blocked()
	if len(blocked) != 2 || blocked[0] != "packages: needs root: "+todo.NeedsRoot {
		t.Errorf("Blocked() = %q", blocked)
	}
	text := plan.Render()
	if !strings.Contains(text, "   needs root: "+todo.NeedsRoot+"\n") {
		t.Errorf("the plan does not show the fix:\n%s", text)
	}
	if _, err := noSudo.RunStep(context.Background(), todo); err == nil || !strings.Contains(err.Error(), FixRunAsRoot) {
		t.Errorf("RunStep of a step needing root: %v", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("a step that needs root ran its action anyway")
	}

	withSudo := NewRunner(RunnerOptions{Euid: &uid, Sudo: []string{"env"}})
	todo = pkgStep(false)
	withSudo.ProbeStep(context.Background(), todo)
	if todo.NeedsRoot != "" || !todo.ViaSudo {
		t.Fatalf("with a working sudo: NeedsRoot %q, ViaSudo %v", todo.NeedsRoot, todo.ViaSudo)
	}
	if !strings.Contains((&Plan{Host: hostOf(t, "debian-12"), Steps: []*Step{todo}}).Render(), "needs root: runs through `sudo -n`") {
		t.Error("the plan does not say the step runs through sudo")
	}
}

// TestPlanStepsDeclareTheirWrites: the venv and config steps name the
// paths they create, so Probe can check write access before running.
func TestPlanStepsDeclareTheirWrites(t *testing.T) {
	plan, err := BuildPlan(hostOf(t, "debian-12"), Options{Arch: "x86_64", EnvoySource: EnvoySkip, Venv: "/home/op/venv", ConfigPath: "/home/op/cfg/whisgee.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if w := plan.Step(StepVenv).Writes; len(w) != 1 || w[0] != "/home/op/venv" {
		t.Errorf("venv writes %q", w)
	}
	cfg := plan.Step(StepConfig)
	if len(cfg.Writes) != 2 || cfg.Writes[0] != "/home/op/cfg/whisgee.yaml" || cfg.Writes[1] != "/home/op/cfg/demoapp.py" || !cfg.SudoWrites {
		t.Errorf("config writes %q (sudo %v)", cfg.Writes, cfg.SudoWrites)
	}
}

func TestNearestExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for path, want := range map[string]string{
		filepath.Join(dir, "a/b/c"): dir,
		dir:                         dir,
		file:                        dir, // a file is replaced by a rename in its directory
	} {
		if got, err := nearestExisting(path); err != nil || got != want {
			t.Errorf("nearestExisting(%s) = %s, %v; want %s", path, got, err, want)
		}
	}
}
