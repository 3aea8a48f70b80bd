package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/testenv"
)

var liveRate = regexp.MustCompile(`req/s [0-9]`)

// TestDemoEndToEnd runs the real `whisgee demo` in a terminal: the screen
// fills with live data, `whisgee ctl` reaches its daemon, a restart from
// the keyboard gives worker 0 a new process, and q leaves nothing behind.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo stack")
	}
	testenv.PythonWith(t)
	tmp := shortDir(t)
	start := time.Now()
	tm := startTmux(t, 120, 36, []string{"TMPDIR=" + tmp}, whisgeeBin, "demo")
	s := tm.waitScreen("4 running workers and a live req/s", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "workers 4/4 running") && liveRate.MatchString(s)
	})
	t.Logf("first frame with live data after %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"latency p50", "PID", "STATE", "HEALTH", "events", "r restart worker"} {
		if !strings.Contains(s, want) {
			t.Errorf("the screen lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(tm.screen(true), "\x1b[3") {
		t.Error("no colour on the screen, though NO_COLOR is not set")
	}

	// The demo's run directory is a temp dir; ctl reaches it by its config.
	cfgs, _ := filepath.Glob(filepath.Join(tmp, "wgdemo*", "whisgee.yaml"))
	if len(cfgs) != 1 {
		t.Fatalf("want one demo run directory in %s, found %v", tmp, cfgs)
	}
	out, err := exec.Command(whisgeeBin, "ctl", "-c", cfgs[0], "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "worker") {
		t.Fatalf("whisgee ctl status against the demo: %v\n%s", err, out)
	}
	c := control.NewClient(filepath.Join(filepath.Dir(cfgs[0]), "control.sock"))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, w := range st.Workers {
		pids = append(pids, w.PID)
	}
	old := st.Workers[0].PID

	// A restart from the keyboard: the cursor starts on worker 0.
	tm.keys("r")
	tm.waitScreen("the confirm dialog", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "Restart worker-0") && strings.Contains(s, "[ No ]")
	})
	tm.keys("y")
	tm.waitScreen("the audit line of the restart", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "restart worker 0 → ok")
	})
	st, err = c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Workers[0].PID == old || st.Workers[0].PID == 0 {
		t.Errorf("worker 0 pid %d after the restart, was %d", st.Workers[0].PID, old)
	}
	pids = append(pids, st.Workers[0].PID)

	tm.keys("q")
	if code := tm.exitStatus(30 * time.Second); code != 0 {
		t.Errorf("whisgee demo exited %d after q; the screen:\n%s", code, tm.screen(false))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker pid %d still exists after q (kill 0: %v)", pid, err)
		}
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}

// TestDemoHonoursNoColor: with NO_COLOR set, the screen has no colour codes.
func TestDemoHonoursNoColor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo stack")
	}
	testenv.PythonWith(t)
	tmp := shortDir(t)
	tm := startTmux(t, 100, 30, []string{"TMPDIR=" + tmp, "NO_COLOR=1"}, whisgeeBin, "demo", "--workers", "2", "--no-traffic")
	tm.waitScreen("2 running workers", 30*time.Second, func(s string) bool { return strings.Contains(s, "workers 2/2 running") })
	if s := tm.screen(true); regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7])[;m]`).MatchString(s) {
		t.Errorf("colour codes on the screen under NO_COLOR:\n%q", s)
	}
	tm.keys("q")
	if code := tm.exitStatus(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after q", code)
	}
}

// TestDemoPlainWithoutTerminal: with stdout not a terminal the demo prints
// plain summaries, and --dir keeps the config but no socket.
func TestDemoPlainWithoutTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo stack")
	}
	testenv.PythonWith(t)
	dir := filepath.Join(shortDir(t), "run")
	cmd := exec.Command(whisgeeBin, "demo", "--dir", dir, "--count", "3", "--every", "500ms")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("whisgee demo --count 3: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "\x1b[") {
		t.Errorf("escape codes in plain output:\n%q", text)
	}
	if n := strings.Count(text, "workers running"); n != 3 {
		t.Errorf("%d summaries, want 3:\n%s", n, text)
	}
	for _, want := range []string{"traffic:", "w0 worker-0 pid", "demo traffic: on"} {
		if !strings.Contains(text, want) {
			t.Errorf("plain output lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "whisgee.yaml")); err != nil {
		t.Errorf("--dir did not keep the config: %v", err)
	}
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	if len(socks) > 0 {
		t.Errorf("sockets left in the kept run directory: %v", socks)
	}
}
