package main

// The terminal harness of the end-to-end tests: a real terminal (tmux)
// to run the whisgee binary in, type into and read, and a wrapper that
// records the exit status tmux may lose.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// recordExitFlag makes the test binary a wrapper that runs a command on
// its terminal and writes the command's exit status to a file: tmux may
// close a dead pane before it knows the status (see exitStatus), and a
// failing run must be told from a good one.
const recordExitFlag = "-whisgee-record-exit"

// maybeRecordExit is the wrapper: TEST-BINARY -whisgee-record-exit FILE
// ARGV... runs ARGV with this terminal and writes its status to FILE.
func maybeRecordExit() {
	if len(os.Args) < 4 || os.Args[1] != recordExitFlag {
		return
	}
	cmd := exec.Command(os.Args[3], os.Args[4:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := 127 // could not start
	if err := cmd.Run(); cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	os.WriteFile(os.Args[2], []byte(strconv.Itoa(code)), 0o644)
	os.Exit(code)
}

// startRecorded runs argv in a terminal as startTmux does, through the
// wrapper; the returned func waits for the end and returns the status.
func startRecorded(t *testing.T, w, h int, env []string, argv ...string) (*tmuxTerm, func(time.Duration) int) {
	t.Helper()
	status := filepath.Join(shortDir(t), "status")
	tm := startTmux(t, w, h, env, append([]string{os.Args[0], recordExitFlag, status}, argv...)...)
	return tm, func(timeout time.Duration) int {
		t.Helper()
		tm.exitStatus(timeout)
		data, err := os.ReadFile(status)
		if err != nil {
			t.Fatalf("no exit status recorded: %v\n%s", err, tm.screen(false))
		}
		code, _ := strconv.Atoi(string(data))
		return code
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
