package installer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// standInEnvoyOf is a script standing in for an envoy binary (none can run
// here) that reports version; ran, if set, is touched when it runs.
func standInEnvoyOf(t *testing.T, path, version, ran string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\n# stand-in for the envoy binary, which cannot run in this test\necho 'envoy  version: 0123456789abcdef0123456789abcdef01234567/%s/Clean/RELEASE/BoringSSL'\n", version)
	if ran != "" {
		script += "touch " + ran + "\n"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestEnvoyVersionIsReadFromTheImage: with --root, the envoy step's probe
// runs the image's envoy (ROOT/usr/local/bin/envoy for the release binary,
// ROOT/usr/bin/envoy for a mirror's package), never the build machine's
// envoy on PATH, and the plan says so.
func TestEnvoyVersionIsReadFromTheImage(t *testing.T) {
	hostBin := t.TempDir()
	hostRan := filepath.Join(t.TempDir(), "host-envoy-ran")
	standInEnvoyOf(t, filepath.Join(hostBin, "envoy"), "1.39.1", hostRan)
	t.Setenv("PATH", hostBin+string(os.PathListSeparator)+os.Getenv("PATH"))

	root := t.TempDir()
	host := hostOf(t, "centos-stream-9")
	plan, err := BuildPlan(host, Options{Root: root, Arch: "x86_64", Only: []string{StepEnvoy}, EnvoyVersion: "1.39.1"})
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(root, "usr/local/bin/envoy")
	if text := plan.Render(); !strings.Contains(text, "done when envoy --version reports 1.39.1 (version read from the image: "+image+")") {
		t.Errorf("the plan does not say the version is read from the image:\n%s", text)
	}
	r := NewRunner(RunnerOptions{})
	step := plan.Steps[0]
	probe := func() {
		t.Helper()
		r.ProbeStep(context.Background(), step)
	}
	probe()
	if step.Satisfied || !strings.Contains(step.Detail, "no envoy at "+image) {
		t.Errorf("the image has no envoy (the build machine's 1.39.1 does not count): satisfied %v, %q", step.Satisfied, step.Detail)
	}
	standInEnvoyOf(t, image, "1.38.0", "")
	probe()
	if step.Satisfied || !strings.Contains(step.Detail, "envoy 1.38.0 at "+image+", want 1.39.1") {
		t.Errorf("the image's envoy 1.38.0: satisfied %v, %q", step.Satisfied, step.Detail)
	}
	standInEnvoyOf(t, image, "1.39.1", "")
	probe()
	if !step.Satisfied {
		t.Errorf("the image's envoy is 1.39.1, yet: %q", step.Detail)
	}

	// Envoy from a mirror's package: the image's /usr/bin/envoy.
	mirror, err := BuildPlan(host, Options{Root: root, Arch: "x86_64", Only: []string{StepEnvoy}, EnvoyRepo: "file:///srv/mirror/envoy.repo"})
	if err != nil {
		t.Fatal(err)
	}
	pkgBinary := filepath.Join(root, "usr/bin/envoy")
	standInEnvoyOf(t, pkgBinary, "1.37.2", "")
	r.ProbeStep(context.Background(), mirror.Steps[0])
	if d := mirror.Steps[0].Detail; !mirror.Steps[0].Satisfied || d != "envoy 1.37.2 at "+pkgBinary {
		t.Errorf("mirror package in the image: satisfied %v, %q", mirror.Steps[0].Satisfied, d)
	}
	if _, err := os.Stat(hostRan); err == nil {
		t.Error("the build machine's envoy on PATH was run")
	}
}
