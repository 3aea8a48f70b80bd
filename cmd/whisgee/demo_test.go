package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/testenv"
)

// tmuxTerm is a real terminal for an end-to-end test: tmux runs the
// program in a pane of a detached session on its own server socket; the
// test types with send-keys and reads the screen with capture-pane.
type tmuxTerm struct {
	t    *testing.T
	tmux string
	sock string
}

// startTmux runs argv (no shell) in a w x h terminal with extra env.
func startTmux(t *testing.T, w, h int, env []string, argv ...string) *tmuxTerm {
	t.Helper()
	tm := &tmuxTerm{t: t, tmux: testenv.Tool(t, "tmux", "apt-get install tmux"), sock: filepath.Join(shortDir(t), "tmux")}
	// Keep the pane after the program exits, to read its exit status.
	// The terminal's colour settings are the test's, not the caller's:
	// termenv takes a set CI variable (every CI sets it) to mean "not a
	// terminal", and NO_COLOR/CLICOLOR from outside would switch colour
	// off too; tests that want them pass them in env.
	args := []string{"-S", tm.sock, "-f", "/dev/null", "new-session", "-d", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h),
		"-s", "e2e", "--", "env", "-u", "CI", "-u", "NO_COLOR", "-u", "CLICOLOR", "-u", "CLICOLOR_FORCE"}
	args = append(append(append(args, env...), "TERM=xterm-256color"), argv...)
	tm.run(args...)
	tm.run("-S", tm.sock, "set-option", "-t", "e2e", "remain-on-exit", "on")
	tm.run("-S", tm.sock, "set-option", "-t", "e2e", "history-limit", "10000")
	t.Cleanup(func() { _ = exec.Command(tm.tmux, "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmuxTerm) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command(tm.tmux, args...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is the pane's text; with escapes, its SGR codes too.
func (tm *tmuxTerm) screen(escapes bool) string {
	args := []string{"-S", tm.sock, "capture-pane", "-p", "-t", "e2e"}
	if escapes {
		args = append(args, "-e")
	}
	return tm.run(args...)
}

func (tm *tmuxTerm) keys(keys ...string) {
	tm.run(append([]string{"-S", tm.sock, "send-keys", "-t", "e2e"}, keys...)...)
}

// waitScreen polls the screen until cond holds.
func (tm *tmuxTerm) waitScreen(what string, timeout time.Duration, cond func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.screen(false)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waited %s for %s; the screen shows:\n%s", timeout, what, s)
		}
		time.Sleep(50 * time.Millisecond) // tmux has no change notification; poll with a deadline
	}
}

// exitStatus waits for the program to end and returns its exit status.
func (tm *tmuxTerm) exitStatus(timeout time.Duration) int {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := strings.Fields(tm.run("-S", tm.sock, "display-message", "-p", "-t", "e2e", "#{pane_dead} s#{pane_dead_status} g#{pane_dead_signal}"))
		if len(out) == 3 && out[0] == "1" {
			if scr := tm.screen(false); strings.Contains(scr, "panic:") || strings.Contains(scr, "goroutine ") {
				tm.t.Fatalf("the program crashed:\n%s", scr)
			}
			if sig := strings.TrimPrefix(out[2], "g"); sig != "" {
				tm.t.Fatalf("the program was killed by signal %s; the pane shows:\n%s", sig, tm.screen(false))
			}
			// tmux may close a pane on the terminal's EOF before it reaps
			// the process, and then knows no status: count that as 0, the
			// screen checks that follow still catch a crash.
			n, _ := strconv.Atoi(strings.TrimPrefix(out[1], "s"))
			return n
		}
		if time.Now().After(deadline) {
			// Ask the Go runtime where it is stuck: SIGQUIT prints every
			// goroutine's stack on the pane.
			pid, _ := strconv.Atoi(strings.TrimSpace(tm.run("-S", tm.sock, "display-message", "-p", "-t", "e2e", "#{pane_pid}")))
			tty := strings.TrimPrefix(strings.TrimSpace(tm.run("-S", tm.sock, "display-message", "-p", "-t", "e2e", "#{pane_tty}")), "/dev/")
			tm.t.Logf("pane pid %d; processes holding %s:\n%s", pid, tty, holders("/dev/"+tty))
			if pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGQUIT)
				time.Sleep(time.Second) // let the dump reach the pane
			}
			hist := tm.run("-S", tm.sock, "capture-pane", "-p", "-S", "-5000", "-t", "e2e")
			tm.t.Fatalf("the program did not exit within %s; the pane shows:\n%s", timeout, hist)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

// holders lists the processes with dev open, and their state, to tell a
// program that did not exit from a child that kept its terminal.
func holders(dev string) string {
	var b strings.Builder
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	seen := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == dev {
			proc := strings.Split(fd, "/")[2]
			if seen[proc] {
				continue
			}
			seen[proc] = true
			stat, _ := os.ReadFile("/proc/" + proc + "/stat")
			cmdline, _ := os.ReadFile("/proc/" + proc + "/cmdline")
			fmt.Fprintf(&b, "%s %s\n", strings.TrimSpace(string(stat))[:min(60, len(stat))], strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return b.String()
}
