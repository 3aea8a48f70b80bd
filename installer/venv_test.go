package installer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// PyPI cannot be reached here, so the venv tests give pip a wheelhouse
// made in the test: real wheels (zip files pip installs like any other)
// of tiny pure-Python packages named as the recipe's, and a real sdist of
// a "bjoern" whose C extension includes ev.h.

// writeSdist writes NAME-VERSION.tar.gz holding the given files.
func writeSdist(t *testing.T, dir, name, version string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files["PKG-INFO"] = fmt.Sprintf("Metadata-Version: 1.1\nName: %s\nVersion: %s\n", name, version)
	for path, body := range files {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s-%s/%s", name, version, path), Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.tar.gz", name, version)), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVenvWithWheelhouse runs the recipe's venv step for real (python3 -m
// venv, pip install --upgrade pip, wheel six, circus chaussette bjoern)
// offline from a wheelhouse, then again: satisfied, nothing run.
func TestVenvWithWheelhouse(t *testing.T) {
	py := testenv.PythonWith(t, "venv", "ensurepip")
	testenv.HermeticPip(t)
	wh := t.TempDir()
	for name, v := range map[string]string{"wheel": "0.42.0", "six": "1.16.0", "circus": "0.19.0", "chaussette": "1.3.0", "bjoern": "3.2.2"} {
		testenv.WriteWheel(t, wh, name, v)
	}
	venv := filepath.Join(t.TempDir(), "venv")
	host := hostOf(t, "fedora-41") // Python 3.13: circus>=0.19 is required
	plan, err := BuildPlan(host, Options{Only: []string{StepVenv}, Venv: venv, Wheelhouse: wh, Python: py})
	if err != nil {
		t.Fatal(err)
	}
	step := plan.Steps[0]
	if !strings.Contains(plan.Render(), "--no-index --find-links "+wh+" 'circus>=0.19' chaussette bjoern") {
		t.Fatalf("plan does not pip install offline with circus>=0.19:\n%s", plan.Render())
	}
	var log bytes.Buffer
	var live []string
	r := NewRunner(RunnerOptions{Log: &log, Host: host, Output: func(_, line string) { live = append(live, line) }})
	r.ProbeStep(context.Background(), step)
	if step.Satisfied {
		t.Fatal("no venv yet, but the step probed satisfied")
	}
	o, err := r.RunStep(context.Background(), step)
	if err != nil || o != OutcomeDone {
		t.Fatalf("got %s, %v\n%s", o, err, log.String())
	}
	if out, err := exec.Command(filepath.Join(venv, "bin/python"), "-c", "import circus, chaussette, bjoern, six, wheel; print(circus.__version__)").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "0.19.0" {
		t.Fatalf("venv lacks the packages: %v %s", err, out)
	}
	if !containsLine(live, "Successfully installed") {
		t.Errorf("pip's output was not streamed live: %q", live)
	}

	plan2, _ := BuildPlan(host, Options{Only: []string{StepVenv}, Venv: venv, Wheelhouse: wh, Python: py})
	live = nil
	o, err = r.RunStep(context.Background(), plan2.Steps[0])
	if err != nil || o != OutcomeSatisfied {
		t.Fatalf("second run: got %s, %v; want satisfied", o, err)
	}
	if containsLine(live, "$ ") {
		t.Errorf("second run ran commands: %q", live)
	}

	// An old circus does not satisfy Python 3.13's circus>=0.19.
	old := t.TempDir()
	testenv.WriteWheel(t, old, "circus", "0.18.0")
	run(t, filepath.Join(venv, "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", old, "circus==0.18.0")
	r.ProbeStep(context.Background(), plan2.Steps[0])
	if plan2.Steps[0].Satisfied {
		t.Error("circus 0.18.0 on Python 3.13 probed satisfied")
	}
}

// TestVenvMissingEvH builds a bjoern sdist whose C extension includes
// ev.h with real pip and gcc, on a sysroot that hides ev.h (this machine
// has libev-dev), and checks the failure is recognised with a hint naming
// this host's repo.
func TestVenvMissingEvH(t *testing.T) {
	py := testenv.PythonWith(t, "venv", "ensurepip", "sysconfig")
	testenv.Tool(t, "gcc", "apt-get install gcc")
	testenv.HermeticPip(t)
	inc, _ := exec.Command(py, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])").Output()
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(inc)), "Python.h")); err != nil {
		testenv.Missing(t, "Python.h", "apt-get install python3-dev")
	}
	setuptools, _ := filepath.Glob("/usr/share/python-wheels/setuptools-*.whl")
	if len(setuptools) == 0 {
		testenv.Missing(t, "setuptools wheel", "apt-get install python3-venv (brings python3-setuptools-whl)")
	}
	wh := t.TempDir()
	run(t, "cp", append(setuptools, wh)...)
	writeSdist(t, wh, "bjoern", "3.2.2", map[string]string{
		"setup.py":  "from setuptools import setup, Extension\nsetup(name='bjoern', version='3.2.2', ext_modules=[Extension('_bjoern', ['_bjoern.c'])])\n",
		"_bjoern.c": "#include <Python.h>\n#include <ev.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, \"_bjoern\"};\nPyMODINIT_FUNC PyInit__bjoern(void) { return PyModule_Create(&m); }\n",
	})
	sysroot := sysrootWithout(t, "ev.h", "ev++.h", "libev")

	venv := filepath.Join(t.TempDir(), "venv")
	host := hostOf(t, "centos-stream-9")
	plan, err := BuildPlan(host, Options{Only: []string{StepVenv}, Venv: venv, Wheelhouse: wh, Python: py, PipGroups: [][]string{{"bjoern"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(RunnerOptions{Host: host, Arch: "x86_64", Env: []string{"CFLAGS=--sysroot=" + sysroot}})
	_, err = r.RunStep(context.Background(), plan.Steps[0])
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a StepError", err)
	}
	if !containsLine(se.Tail, "fatal error: ev.h: No such file or directory") {
		t.Errorf("the tail does not show gcc's error: %q", se.Tail)
	}
	if !strings.Contains(se.Hint, "install libev-devel") || !strings.Contains(se.Hint, "crb") {
		t.Errorf("hint %q does not say to install libev-devel from crb", se.Hint)
	}
}

// TestMissingHeaderFromGCC classifies gcc's real error for a header that
// exists nowhere.
func TestMissingHeaderFromGCC(t *testing.T) {
	gcc := testenv.Tool(t, "gcc", "apt-get install gcc")
	src := filepath.Join(t.TempDir(), "x.c")
	os.WriteFile(src, []byte("#include <whisgee_absent_header.h>\nint x;\n"), 0o644)
	out, err := exec.Command(gcc, "-c", src, "-o", os.DevNull).CombinedOutput()
	if err == nil {
		t.Fatal("gcc compiled an include of a header that does not exist")
	}
	hint := Diagnose(hostOf(t, "rocky-9"), "x86_64", string(out))
	if !strings.Contains(hint, "whisgee_absent_header.h") || !strings.Contains(hint, "dnf provides") {
		t.Errorf("hint %q for gcc output %q", hint, out)
	}
}

// sysrootWithout makes a directory whose usr/include links to every entry
// of /usr/include except the names given, for gcc --sysroot.
func sysrootWithout(t *testing.T, hide ...string) string {
	t.Helper()
	dir := t.TempDir()
	inc := filepath.Join(dir, "usr/include")
	if err := os.MkdirAll(inc, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/usr/include")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if contains(hide, e.Name()) {
			continue
		}
		if err := os.Symlink(filepath.Join("/usr/include", e.Name()), filepath.Join(inc, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
