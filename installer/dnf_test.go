package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
)

// TestDNFPlanApplyApplyAgain drives real dnf against a CentOS Stream 9
// image root: libev-devel sits in a disabled crb repo, every package is
// signed by a key made here and checked (gpgcheck=1). Plan, apply, then a
// second plan finds everything satisfied and a second apply changes nothing.
func TestDNFPlanApplyApplyAgain(t *testing.T) {
	needRPMTools(t)
	key := newGPGKey(t)
	base, crb := t.TempDir(), t.TempDir()
	key.sign(t, buildRPMs(t, base, empty("gcc"), empty("python3"), empty("python3-devel"), empty("dnf-plugins-core"))...)
	key.sign(t, buildRPMs(t, crb, libevDevel)...)
	createRepo(t, base)
	createRepo(t, crb)
	root := newRoot(t, "centos-stream-9",
		repoDef{ID: "baseos", BaseURL: "file://" + base, GPGKey: key.PublicPath},
		repoDef{ID: "crb", BaseURL: "file://" + crb, GPGKey: key.PublicPath, Disabled: true})

	host, err := DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: root, DNFArgs: testDNFArgs, EnvoySource: EnvoySkip, Skip: []string{StepVenv}}
	plan, err := BuildPlan(host, opts)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r := NewRunner(RunnerOptions{Log: &log, Host: host})
	r.Probe(context.Background(), plan)
	for _, s := range plan.Steps {
		if s.Satisfied {
			t.Errorf("fresh root: step %s probed satisfied (%s)", s.Name, s.Detail)
		}
	}
	if a := plan.Step(StepRepos).Actions; len(a) != 2 || a[0].Skipped || a[1].Skipped {
		t.Errorf("fresh root: want dnf-plugins-core and crb actions to run")
	}
	if text := plan.Render(); !strings.Contains(text, "$ dnf --disableplugin=local --installroot="+root+" --releasever=9 config-manager --set-enabled crb") {
		t.Errorf("dry-run does not show the exact argv:\n%s", text)
	}

	got := runPlan(t, r, plan)
	want := map[string]Outcome{StepRepos: OutcomeDone, StepPackages: OutcomeDone, StepConfig: OutcomeDone}
	for name, o := range want {
		if got[name] != o {
			t.Errorf("first apply: step %s ended %s, want %s\n%s", name, got[name], o, log.String())
		}
	}
	if out, err := exec.Command("rpm", "--root", root, "-q", "libev-devel", "gcc", "python3-devel", "dnf-plugins-core").CombinedOutput(); err != nil {
		t.Fatalf("packages not installed in the root: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/include/ev.h")); err != nil {
		t.Fatalf("libev-devel's ev.h is missing: %v", err)
	}
	repoFile, _ := os.ReadFile(filepath.Join(root, "etc/yum.repos.d/fixtures.repo"))
	if !strings.Contains(string(repoFile), "[crb]") || !regexpMatch(`(?s)\[crb\][^\[]*enabled\s*=\s*(1|True)`, string(repoFile)) {
		t.Errorf("crb was not enabled by dnf config-manager:\n%s", repoFile)
	}
	cfgPath := filepath.Join(root, "etc/whisgee/whisgee.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	if cfg.App.Python != "/opt/whisgee/venv/bin/python" || cfg.Proxy.Engine != "builtin" || cfg.Workers.Count != 4 {
		t.Errorf("config: python %q, proxy %q, workers %d", cfg.App.Python, cfg.Proxy.Engine, cfg.Workers.Count)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/whisgee/demoapp.py")); err != nil {
		t.Errorf("demo app not written: %v", err)
	}

	// Second run: a new plan, probed, is satisfied everywhere, and applying
	// it changes nothing.
	before := snapshotFiles(t, root, "etc/yum.repos.d/fixtures.repo", "etc/whisgee/whisgee.yaml", "var/lib/rpm")
	plan2, err := BuildPlan(host, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Probe(context.Background(), plan2)
	for _, s := range plan2.Steps {
		if !s.Satisfied {
			t.Errorf("second plan: step %s not satisfied: %s", s.Name, s.Detail)
		}
	}
	for name, o := range runPlan(t, r, plan2) {
		if o != OutcomeSatisfied {
			t.Errorf("second apply: step %s ended %s, want satisfied", name, o)
		}
	}
	if after := snapshotFiles(t, root, "etc/yum.repos.d/fixtures.repo", "etc/whisgee/whisgee.yaml", "var/lib/rpm"); after != before {
		t.Errorf("the second apply changed files:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDNFMirrorOverLoopbackHTTP installs Envoy from "your own mirror" on a
// Rocky 8 root: the .repo file and the repo are served by a loopback HTTP
// server, powertools (disabled) has libev-devel, and the envoy package's
// binary is a stand-in script (no envoy can run here) printing Envoy's
// version line.
func TestDNFMirrorOverLoopbackHTTP(t *testing.T) {
	needRPMTools(t)
	key := newGPGKey(t)
	base, powertools, mirror := t.TempDir(), t.TempDir(), t.TempDir()
	key.sign(t, buildRPMs(t, base, empty("gcc"), empty("python3.11"), empty("python3.11-devel"), empty("dnf-plugins-core"))...)
	key.sign(t, buildRPMs(t, powertools, libevDevel)...)
	key.sign(t, buildRPMs(t, mirror, rpmPkg{Name: "envoy", Version: "1.39.1", Files: []rpmFile{{
		Path: "/usr/bin/envoy", Mode: "0755",
		Content: "#!/bin/sh\n# stand-in for envoy, which cannot run in this test\necho 'envoy  version: 0123456789abcdef0123456789abcdef01234567/1.39.1/Clean/RELEASE/BoringSSL'\n",
	}}})...)
	for _, d := range []string{base, powertools, mirror} {
		createRepo(t, d)
	}
	mux := http.NewServeMux()
	mux.Handle("/repo/", http.StripPrefix("/repo/", http.FileServer(http.Dir(mirror))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/envoy.repo", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("[my-envoy]\nname=my envoy mirror\nbaseurl=" + srv.URL + "/repo/\ngpgcheck=1\ngpgkey=file://" + key.PublicPath + "\n"))
	})
	root := newRoot(t, "rocky-8",
		repoDef{ID: "baseos", BaseURL: "file://" + base, GPGKey: key.PublicPath},
		repoDef{ID: "powertools", BaseURL: "file://" + powertools, GPGKey: key.PublicPath, Disabled: true})

	host, err := DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := BuildPlan(host, Options{Root: root, DNFArgs: testDNFArgs, EnvoyRepo: srv.URL + "/envoy.repo", Skip: []string{StepVenv}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Step(StepEnvoy).Blocked != "" {
		t.Fatalf("the mirror source must not be blocked by EL8's glibc: %s", plan.Step(StepEnvoy).Blocked)
	}
	var log bytes.Buffer
	r := NewRunner(RunnerOptions{Log: &log, Host: host})
	got := runPlan(t, r, plan)
	for _, name := range []string{StepRepos, StepPackages, StepConfig} {
		if got[name] != OutcomeDone {
			t.Errorf("step %s ended %s, want done\n%s", name, got[name], log.String())
		}
	}
	if e := plan.Step(StepEnvoy); !strings.Contains(e.Detail, "envoy 1.39.1 at "+filepath.Join(root, "usr/bin/envoy")) {
		t.Errorf("envoy step detail %q does not report the version", e.Detail)
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/yum.repos.d/whisgee-envoy.repo")); err != nil || !strings.Contains(string(data), srv.URL+"/repo/") {
		t.Errorf("mirror .repo not written: %v %s", err, data)
	}
	cfg, err := config.Load(filepath.Join(root, "etc/whisgee/whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxy.Engine != "envoy" || cfg.Proxy.Envoy.Binary != "/usr/bin/envoy" || cfg.App.Python != "/opt/whisgee/venv/bin/python" {
		t.Errorf("config: engine %q binary %q python %q", cfg.Proxy.Engine, cfg.Proxy.Envoy.Binary, cfg.App.Python)
	}

	plan2, _ := BuildPlan(host, Options{Root: root, DNFArgs: testDNFArgs, EnvoyRepo: srv.URL + "/envoy.repo", Skip: []string{StepVenv}})
	r.Probe(context.Background(), plan2)
	for _, s := range plan2.Steps {
		if !s.Satisfied {
			t.Errorf("second plan: step %s not satisfied: %s", s.Name, s.Detail)
		}
	}
}

// TestDNFFailures: a package in no repo, and an unsigned package where
// gpgcheck=1, fail the packages step with a hint and install nothing.
func TestDNFFailures(t *testing.T) {
	needRPMTools(t)
	key := newGPGKey(t)
	signed, unsigned := t.TempDir(), t.TempDir()
	key.sign(t, buildRPMs(t, signed, empty("gcc"), empty("python3"), empty("python3-devel"))...)
	buildRPMs(t, unsigned, libevDevel) // not signed
	createRepo(t, signed)
	createRepo(t, unsigned)

	t.Run("missing from every repo", func(t *testing.T) {
		root := newRoot(t, "centos-stream-9", repoDef{ID: "baseos", BaseURL: "file://" + signed, GPGKey: key.PublicPath})
		host, _ := DetectHost(root)
		plan, err := BuildPlan(host, Options{Root: root, DNFArgs: testDNFArgs, Only: []string{StepPackages}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewRunner(RunnerOptions{Host: host}).RunStep(context.Background(), plan.Steps[0])
		var se *StepError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want a StepError", err)
		}
		if !strings.Contains(se.Hint, "libev-devel") || !strings.Contains(se.Hint, "dnf config-manager --set-enabled crb") {
			t.Errorf("hint %q does not say to enable crb for libev-devel", se.Hint)
		}
		if exec.Command("rpm", "--root", root, "-q", "gcc").Run() == nil {
			t.Error("gcc was installed although the transaction failed")
		}
	})

	t.Run("unsigned with gpgcheck", func(t *testing.T) {
		root := newRoot(t, "fedora-40",
			repoDef{ID: "fedora", BaseURL: "file://" + signed, GPGKey: key.PublicPath},
			repoDef{ID: "updates", BaseURL: "file://" + unsigned, GPGKey: key.PublicPath})
		host, _ := DetectHost(root)
		plan, err := BuildPlan(host, Options{Root: root, DNFArgs: testDNFArgs, Only: []string{StepRepos, StepPackages}})
		if err != nil {
			t.Fatal(err)
		}
		if plan.Step(StepRepos) != nil {
			t.Error("Fedora has libev-devel in its main repo: no repos step")
		}
		_, err = NewRunner(RunnerOptions{Host: host}).RunStep(context.Background(), plan.Step(StepPackages))
		var se *StepError
		if !errors.As(err, &se) {
			t.Fatalf("got %v, want a StepError", err)
		}
		if !strings.Contains(se.Hint, "signature") || !strings.Contains(strings.Join(se.Tail, "\n"), "not signed") {
			t.Errorf("hint %q / tail %q: want dnf's refusal of the unsigned package", se.Hint, se.Tail)
		}
		if _, err := os.Stat(filepath.Join(root, "usr/include/ev.h")); err == nil {
			t.Error("the unsigned package's file was installed")
		}
	})
}

// TestDNFGetEnvoyRepoIsMovedAside: a leftover GetEnvoy .repo pointing at a
// server that answers 402 (as getenvoy.io does) makes real dnf fail; the
// failure is recognised, and the repos step moves the file aside.
func TestDNFGetEnvoyRepoIsMovedAside(t *testing.T) {
	needRPMTools(t)
	paywall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Payment Required", http.StatusPaymentRequired)
	}))
	t.Cleanup(paywall.Close)
	base := t.TempDir()
	buildRPMs(t, base, empty("gcc"), empty("python3"), empty("python3-devel"), libevDevel)
	createRepo(t, base)
	root := newRoot(t, "fedora-40", repoDef{ID: "fedora", BaseURL: "file://" + base})
	getenvoy := filepath.Join(root, "etc/yum.repos.d/tetrate-getenvoy.repo")
	os.WriteFile(getenvoy, []byte("[tetrate-getenvoy-rpm-stable]\nname=GetEnvoy\nbaseurl="+paywall.URL+"/linux/rpm/stable/$basearch\ngpgcheck=0\n"), 0o644)
	host, _ := DetectHost(root)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dnf", append(testDNFArgs, "--installroot="+root, "--releasever=40", "-q", "list", "libev-devel")...).CombinedOutput()
	if err == nil {
		t.Fatalf("dnf should fail on a repo answering 402:\n%s", out)
	}
	if hint := Diagnose(host, "x86_64", string(out)); !strings.Contains(hint, "GetEnvoy") {
		t.Errorf("dnf's output was not recognised as the dead GetEnvoy repo; hint %q\n%s", hint, out)
	}

	plan, err := BuildPlan(host, Options{Root: root, DNFArgs: testDNFArgs, Only: []string{StepRepos, StepPackages}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Step(StepRepos) == nil {
		t.Fatal("no repos step to move the GetEnvoy repo aside")
	}
	runPlan(t, NewRunner(RunnerOptions{Host: host}), plan)
	if _, err := os.Stat(getenvoy + ".whisgee-disabled"); err != nil {
		t.Errorf("GetEnvoy repo not moved aside: %v", err)
	}
	if exec.Command("rpm", "--root", root, "-q", "libev-devel").Run() != nil {
		t.Error("libev-devel not installed once the dead repo was out of the way")
	}
}

// TestVenvInRootWithoutInterpreter: the venv step inside an image root
// with no Python says so and is skipped, not failed.
func TestVenvInRootWithoutInterpreter(t *testing.T) {
	root := newRoot(t, "centos-stream-9")
	host, _ := DetectHost(root)
	plan, err := BuildPlan(host, Options{Root: root, Only: []string{StepVenv}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewRunner(RunnerOptions{}).RunStep(context.Background(), plan.Steps[0])
	if err != nil || o != OutcomeSkipped {
		t.Fatalf("got %s, %v; want skipped", o, err)
	}
	if !strings.Contains(plan.Steps[0].Detail, "has no python3") {
		t.Errorf("detail %q does not say the root has no interpreter", plan.Steps[0].Detail)
	}
}

// snapshotFiles summarises size and mtime of files (and a directory's
// entries) so a test can tell whether anything changed.
func snapshotFiles(t *testing.T, root string, paths ...string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		filepath.Walk(filepath.Join(root, p), func(path string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b.WriteString(path + ":" + fi.ModTime().String() + ":" + fmt.Sprint(fi.Size()) + "\n")
			}
			return nil
		})
	}
	return b.String()
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
