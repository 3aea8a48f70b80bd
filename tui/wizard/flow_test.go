package wizard

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/tui/theme"
	"github.com/whisgee/whisgee/tui/tuitest"
)

// waitFor polls the screen output for text, from offset on.
func waitFor(t *testing.T, out *testenv.Buffer, from int, text string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := out.String()
		if i := strings.Index(s[from:], text); i >= 0 {
			return from + i + len(text)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := out.String()
	t.Fatalf("the screen never showed %q; last output:\n%s", text, s[max(0, len(s)-3000):])
	return 0
}

// TestWizardFlow runs the real program: the choices, the probed plan, a
// confirm whose "No" (the focus) runs nothing, then the steps. The first
// step compiles a C file including a header that does not exist with the
// real gcc; it fails, shows the hint, is retried, fails again, is skipped;
// the real config step then writes whisgee.yaml into an image root.
func TestWizardFlow(t *testing.T) {
	gcc := testenv.Tool(t, "gcc", "apt-get install gcc")
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(rocky9), 0o644)
	host, err := installer.DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "ext.c")
	os.WriteFile(src, []byte("#include <stdio.h>\n#include <whisgee_missing_ev.h>\n"), 0o644)
	var compiles atomic.Int32
	compile := &installer.Step{Name: "packages", Title: "compile a C extension", Actions: []*installer.Action{{
		Desc: "gcc -c ext.c",
		Do: func(ctx context.Context, _ *installer.Runner, out io.Writer) error {
			fmt.Fprintf(out, "attempt %d\n", compiles.Add(1))
			cmd := exec.CommandContext(ctx, gcc, "-c", src, "-o", os.DevNull)
			cmd.Stdout, cmd.Stderr = out, out
			return cmd.Run()
		},
	}}}
	logPath := filepath.Join(t.TempDir(), "install.log")
	logFile, _ := os.Create(logPath)
	defer logFile.Close()
	rootID := 0
	m := New(Config{
		Styles: theme.NewStyles(theme.Default()), Host: host, LogPath: logPath, Log: logFile, Euid: &rootID,
		Options: installer.Options{Root: root, Arch: "x86_64", Only: []string{installer.StepConfig}},
		BuildPlan: func(h *installer.Host, o installer.Options) (*installer.Plan, error) {
			p, err := installer.BuildPlan(h, o)
			if err != nil {
				return nil, err
			}
			p.Steps = append([]*installer.Step{compile}, p.Steps...)
			return p, nil
		},
	})
	out := &testenv.Buffer{}
	p := tea.NewProgram(m, tea.WithInput(nil), tea.WithOutput(out), tea.WithoutSignalHandler())
	done := make(chan tea.Model, 1)
	go func() {
		final, err := p.Run()
		if err != nil {
			t.Error(err)
		}
		done <- final
	}()
	t.Cleanup(func() { p.Kill() })
	keyPress := func(keys ...string) {
		for _, k := range keys {
			p.Send(tuitest.Key(k))
		}
	}

	at := waitFor(t, out, 0, "Envoy from")
	keyPress("left") // Envoy: skip (release wraps round to skip)
	keyPress("enter", "enter", "enter", "enter", "enter")
	at = waitFor(t, out, at, "STEP")
	at = waitFor(t, out, at, "config")
	keyPress("enter")
	at = waitFor(t, out, at, "Run the plan?")
	keyPress("enter") // the focus is on No: back to the plan
	at = waitFor(t, out, at, "esc back")
	keyPress("enter")
	at = waitFor(t, out, at, "Run the plan?")
	if compiles.Load() != 0 {
		t.Fatal("No ran a step")
	}
	keyPress("right", "enter")
	at = waitFor(t, out, at, "step packages failed")
	at = waitFor(t, out, at, "hint: a C header is missing: whisgee_missing_ev.h")
	at = waitFor(t, out, at, "[r] retry")
	keyPress("r")
	// The failure's tail names the attempt, so the screen changes.
	at = waitFor(t, out, at, "| attempt 2")
	keyPress("v")
	at = waitFor(t, out, at, "Log "+logPath)
	keyPress("v", "s")
	at = waitFor(t, out, at, "Finished, with skipped failures: packages")
	keyPress("q")

	var final tea.Model
	select {
	case final = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the wizard did not quit")
	}
	res := final.(Model).Result()
	if !res.Ran || res.Aborted || fmt.Sprint(res.Failed) != "[packages]" || res.Outcomes["config"] != "done" {
		t.Fatalf("result %+v", res)
	}
	cfg, err := config.Load(filepath.Join(root, "etc/whisgee/whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxy.Engine != "builtin" {
		t.Errorf("Envoy was skipped, so the proxy is builtin; got %q", cfg.Proxy.Engine)
	}
	logText, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logText), "whisgee_missing_ev.h: No such file or directory") {
		t.Error("the full log lacks gcc's error")
	}
}
