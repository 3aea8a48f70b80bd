package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
)

// venvInstallArgs are `whisgee install --yes` arguments whose steps really
// run here: the venv step (python3 -m venv, pip offline from a wheelhouse
// made in the test) and the config step, into a dir of the test's own.
// wheels names the packages the wheelhouse has.
func venvInstallArgs(t *testing.T, dir string, wheels ...string) []string {
	t.Helper()
	py := testenv.PythonWith(t, "venv", "ensurepip")
	testenv.HermeticPip(t) // the tmux server, started after, inherits it
	wh := filepath.Join(dir, "wheels")
	if err := os.Mkdir(wh, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range wheels {
		testenv.WriteWheel(t, wh, name, "1.0.0")
	}
	return []string{"install", "--yes", "--only", "venv,config", "--envoy-source", "skip",
		"--venv", filepath.Join(dir, "venv"), "--config", filepath.Join(dir, "whisgee.yaml"),
		"--wheelhouse", wh, "--python", py, "--log", filepath.Join(dir, "install.log")}
}

var (
	spinnerOnVenv = regexp.MustCompile(`(?m)^[|/\\-] venv `)
	// colourCode is an SGR sequence setting a foreground or background colour.
	colourCode = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])[;m]`)
)

// TestInstallYesOnATerminal runs the real `whisgee install --yes` in a
// terminal: the venv step shows a spinner and the live tail of its
// command, then the live view gives way to a plain summary (step, result,
// duration, log path) that stays on the screen, and the exit status is 0.
func TestInstallYesOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a real venv")
	}
	dir := shortDir(t)
	args := venvInstallArgs(t, dir, "wheel", "six", "circus", "chaussette", "bjoern")
	tm, exitStatus := startRecorded(t, 80, 24, nil, append([]string{whisgeeBin}, args...)...)
	s := tm.waitScreen("the venv step running with a spinner", 60*time.Second, func(s string) bool {
		return spinnerOnVenv.MatchString(s) || strings.Contains(s, "==> ")
	})
	if !spinnerOnVenv.MatchString(s) {
		t.Fatalf("the run ended before a spinner was seen on the venv step:\n%s", s)
	}
	for _, want := range []string{"whisgee install  Debian", "output", "ctrl+c quit"} {
		if !strings.Contains(s, want) {
			t.Errorf("the live view lacks %q:\n%s", want, s)
		}
	}
	tm.waitScreen("the venv command in the live tail", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "-m venv "+filepath.Join(dir, "venv")) || strings.Contains(s, "==> ")
	})
	if code := exitStatus(2 * time.Minute); code != 0 {
		t.Fatalf("whisgee install --yes exited %d:\n%s", code, tm.screen(false))
	}
	final := tm.screen(false)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`==> finished: 2 done in [0-9.]+s`),
		regexp.MustCompile(`\n    venv      done +[0-9.]+s\n`),
		regexp.MustCompile(`\n    config    done +[0-9.]+s\n`),
		regexp.MustCompile(`\n    full log: ` + regexp.QuoteMeta(filepath.Join(dir, "install.log")) + `\n`),
	} {
		if !want.MatchString(final) {
			t.Errorf("the final screen lacks %s:\n%s", want, final)
		}
	}
	if strings.Contains(final, "ctrl+c quit") || spinnerOnVenv.MatchString(final) {
		t.Errorf("the live view was left on the screen:\n%s", final)
	}
	if _, err := config.Load(filepath.Join(dir, "whisgee.yaml")); err != nil {
		t.Errorf("the config step's file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "venv/bin/python")); err != nil {
		t.Errorf("no venv: %v", err)
	}
}

// TestInstallYesOnATerminalFails: a wheelhouse without bjoern makes the
// venv step's pip fail: the run stops there (no retry/skip prompt), the
// summary shows the step failed with the remediation hint, the config
// step not run, and the exit status is 1. Under NO_COLOR the live view
// stays, without colour.
func TestInstallYesOnATerminalFails(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a real venv")
	}
	dir := shortDir(t)
	args := venvInstallArgs(t, dir, "wheel", "six", "circus", "chaussette")
	tm, exitStatus := startRecorded(t, 100, 30, []string{"NO_COLOR=1"}, append([]string{whisgeeBin}, args...)...)
	tm.waitScreen("the venv step running with a spinner", 60*time.Second, func(s string) bool {
		return spinnerOnVenv.MatchString(s)
	})
	if s := tm.screen(true); colourCode.MatchString(s) {
		t.Errorf("colour codes in the live view under NO_COLOR:\n%q", s)
	}
	if code := exitStatus(2 * time.Minute); code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", code, tm.screen(false))
	}
	final := tm.screen(false)
	for _, want := range []string{"==> failed at step venv after", "    config    not run", "    hint: ", "bjoern", "whisgee install: step venv failed"} {
		if !strings.Contains(final, want) {
			t.Errorf("the final screen lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(final, "[r] retry") {
		t.Errorf("install --yes offered a retry:\n%s", final)
	}
	if _, err := os.Stat(filepath.Join(dir, "whisgee.yaml")); err == nil {
		t.Error("the config step ran after the failure")
	}
}

// TestInstallYesOnADumbTerminal: TERM=dumb cannot move the cursor, so the
// run prints plain lines, with no escape codes, and the same summary.
func TestInstallYesOnADumbTerminal(t *testing.T) {
	dir := shortDir(t)
	argv := []string{"env", "TERM=dumb", whisgeeBin, "install", "--yes", "--only", "config", "--envoy-source", "skip",
		"--config", filepath.Join(dir, "whisgee.yaml"), "--venv", filepath.Join(dir, "venv"), "--log", filepath.Join(dir, "install.log")}
	tm, exitStatus := startRecorded(t, 100, 30, nil, argv...)
	if code := exitStatus(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, tm.screen(false))
	}
	final := tm.screen(true)
	for _, want := range []string{"==> [1/1] config: write ", "==> finished: 1 done in", "    config    done"} {
		if !strings.Contains(final, want) {
			t.Errorf("the screen lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(final, "\x1b[") || strings.Contains(final, "ctrl+c quit") {
		t.Errorf("a live view or escape codes under TERM=dumb:\n%q", final)
	}
}
