package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBin runs the whisgee binary and returns its output and exit status.
func runBin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(whisgeeBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("whisgee %s: %v", strings.Join(args, " "), err)
	return "", -1
}

func TestDashWithoutDaemonSaysWhatToDo(t *testing.T) {
	sock := filepath.Join(shortDir(t), "none.sock")
	out, code := runBin(t, "dash", "--socket", sock)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 {
		t.Errorf("want one line, got %d:\n%s", len(lines), out)
	}
	for _, want := range []string{"no whisgee daemon", sock, "whisgee up -c FILE"} {
		if !strings.Contains(out, want) {
			t.Errorf("message lacks %q: %s", want, out)
		}
	}
}

func TestDashAndDemoUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"dash", "--refresh", "1ms"},
		{"dash", "stray"},
		{"dash", "--count", "-1"},
		{"dash", "--nope"},
		{"dash", "--envoy-admin", "127.0.0.1:9901"},
		{"demo", "--workers", "0"},
		{"demo", "--rate", "0"},
		{"demo", "stray"},
	} {
		out, code := runBin(t, args...)
		if code != 2 {
			t.Errorf("whisgee %s: exit status %d, want 2; output:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// TestDashAttachesAndQuitLeavesStackRunning attaches the real dashboard in
// a terminal to a real `whisgee up`; q ends the dashboard, not the stack.
func TestDashAttachesAndQuitLeavesStackRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a stack")
	}
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 2, health: {interval: 200ms}}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 2)
	before := pids(s.status().Workers)

	tm := startTmux(t, 100, 30, nil, whisgeeBin, "dash", "-c", cfg, "--readonly")
	scr := tm.waitScreen("2 running workers", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "workers 2/2 running")
	})
	if !strings.Contains(scr, "read-only") {
		t.Errorf("--readonly is not shown:\n%s", scr)
	}
	// Read-only: r is refused with a note, nothing restarts.
	tm.keys("r")
	tm.waitScreen("the read-only note", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "actions are off (the dashboard was started with --readonly)")
	})
	tm.keys("q")
	if code := tm.exitStatus(20 * time.Second); code != 0 {
		t.Errorf("whisgee dash exited %d after q", code)
	}
	after := pids(s.status().Workers)
	for id, pid := range before {
		if after[id] != pid {
			t.Errorf("worker %d pid %d→%d: the dashboard changed the stack", id, pid, after[id])
		}
	}
}

func TestDashPlainSummaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a stack")
	}
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 2}\n", py))
	startUp(t, dir, cfg, listen, admin, 2)
	out, code := runBin(t, "dash", "-c", cfg, "--count", "2", "--every", "300ms")
	if code != 0 {
		t.Fatalf("exit status %d:\n%s", code, out)
	}
	if n := strings.Count(out, "2/2 workers running"); n != 2 {
		t.Errorf("%d summaries, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "w1 worker-1 pid") {
		t.Errorf("no worker lines:\n%s", out)
	}
}

// TestDashEnvoyAdmin reads the proxy's stats from an Envoy-format admin
// endpoint: the built-in proxy's, which serves Envoy's formats (the envoy
// binary itself is not on this machine).
func TestDashEnvoyAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a stack")
	}
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 2}\n", py))
	startUp(t, dir, cfg, listen, admin, 2)
	out, code := runBin(t, "dash", "-c", cfg, "--envoy-admin", "http://"+admin, "--count", "2", "--every", "300ms")
	if code != 0 || strings.Contains(out, "unavailable") || !strings.Contains(out, "w1 worker-1 pid") {
		t.Fatalf("exit %d, or no stats through the admin endpoint:\n%s", code, out)
	}
	// Pointed at nothing, the stats say why, and the workers still show.
	out, code = runBin(t, "dash", "-c", cfg, "--envoy-admin", "http://"+freePort(t), "--count", "1")
	if code != 0 || !strings.Contains(out, "proxy stats unavailable: envoy admin") || !strings.Contains(out, "w1 worker-1 pid") {
		t.Errorf("exit %d; want the admin error and the workers:\n%s", code, out)
	}
}
