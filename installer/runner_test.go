package installer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/config"
)

// TestRootActionsGoThroughSudo: as a non-root user, root actions are run
// with the sudo prefix and others are not. The prefix here is `env
// WHISGEE_VIA_SUDO=1`, standing in for `sudo -n`, which this machine may
// lack or refuse.
func TestRootActionsGoThroughSudo(t *testing.T) {
	uid := 1000
	var lines []string
	r := NewRunner(RunnerOptions{Euid: &uid, Sudo: []string{"env", "WHISGEE_VIA_SUDO=1"}, Output: func(_, l string) { lines = append(lines, l) }})
	step := &Step{Name: StepPackages, Actions: []*Action{
		{Desc: "as root", Argv: []string{"printenv", "WHISGEE_VIA_SUDO"}, Root: true},
		{Desc: "as me", Argv: []string{"printenv", "HOME"}},
	}}
	if _, err := r.RunStep(context.Background(), step); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "$ env WHISGEE_VIA_SUDO=1 printenv WHISGEE_VIA_SUDO\n1\n") || !strings.Contains(got, "$ printenv HOME\n") {
		t.Fatalf("output:\n%s", got)
	}
}

// TestStepVerifiesAfterRunning: a step whose actions succeed but whose
// done-checks still fail is a failure, not "done".
func TestStepVerifiesAfterRunning(t *testing.T) {
	step := &Step{Name: StepRepos,
		DoneIf:  []Check{{Desc: "libev-devel installed or installable", Argv: []string{"false"}}},
		Actions: []*Action{{Desc: "enable nothing", Argv: []string{"true"}}},
	}
	_, err := NewRunner(RunnerOptions{}).RunStep(context.Background(), step)
	if err == nil || !strings.Contains(err.Error(), "the step ran but not yet true: libev-devel installed or installable") {
		t.Fatalf("got %v", err)
	}
}

// TestConfigStepRunsEngineHooks: with circus and Envoy chosen, the config
// step hands the loaded config to the renderer hooks and writes their
// files under the root; an existing config that does not load is never
// overwritten.
func TestConfigStepRunsEngineHooks(t *testing.T) {
	root := t.TempDir()
	var seen *config.Config
	render := func(name string) EngineConfigRenderer {
		return func(cfg *config.Config) ([]EngineFile, error) {
			seen = cfg
			return []EngineFile{{Path: "/etc/whisgee/" + name, Data: []byte("# " + name + " for " + cfg.Supervisor.Endpoint + "\n")}}, nil
		}
	}
	opts := Options{Root: root, Only: []string{StepConfig}, SupervisorEngine: "circus", ProxyEngine: "envoy", EnvoySource: EnvoySkip,
		RenderCircus: render("circus.ini"), RenderEnvoy: render("envoy.yaml"), AppModule: "myapp:app"}
	plan, err := BuildPlan(hostOf(t, "alma-9"), opts)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := NewRunner(RunnerOptions{Log: &log}).RunStep(context.Background(), plan.Steps[0]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "etc/whisgee/circus.ini"))
	if err != nil || string(data) != "# circus.ini for tcp://127.0.0.1:5555\n" {
		t.Fatalf("circus.ini: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/whisgee/envoy.yaml")); err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.App.Module != "myapp:app" || seen.Supervisor.Engine != "circus" {
		t.Fatalf("hook saw %+v", seen)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/whisgee/demoapp.py")); err == nil {
		t.Error("the demo app was written although an app was named")
	}

	broken := filepath.Join(root, "etc/whisgee/whisgee.yaml")
	os.WriteFile(broken, []byte("workers:\n  count: lots\n"), 0o644)
	plan, _ = BuildPlan(hostOf(t, "alma-9"), opts)
	_, err = NewRunner(RunnerOptions{}).RunStep(context.Background(), plan.Steps[0])
	if err == nil || !strings.Contains(err.Error(), "will not overwrite it") {
		t.Fatalf("got %v", err)
	}
	if data, _ := os.ReadFile(broken); string(data) != "workers:\n  count: lots\n" {
		t.Fatal("the operator's broken config was overwritten")
	}
}

// TestThisHostPackagesProbe probes the packages step on this machine for
// real when it is Debian or Ubuntu (CI installs gcc, libev-dev,
// python3-venv and python3-dev): it must be satisfied, and running it
// changes nothing.
func TestThisHostPackagesProbe(t *testing.T) {
	host, err := DetectHost("")
	if err != nil || host.PackageManager() != Apt {
		t.Skipf("this test probes a Debian/Ubuntu host's dpkg; this host: %v %v", host, err)
	}
	plan, err := BuildPlan(host, Options{Only: []string{StepPackages}, Python: "python3"})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(RunnerOptions{})
	r.Probe(context.Background(), plan)
	if !plan.Steps[0].Satisfied {
		t.Fatalf("packages not satisfied on this host: %s (CI's .ci/run installs them)", plan.Steps[0].Detail)
	}
	if o, err := r.RunStep(context.Background(), plan.Steps[0]); err != nil || o != OutcomeSatisfied {
		t.Fatalf("got %s, %v", o, err)
	}
}
