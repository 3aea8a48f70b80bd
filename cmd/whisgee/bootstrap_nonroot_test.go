package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
)

// TestBootstrapAsNonRoot drives the real `whisgee bootstrap` in an 80x24
// terminal (tmux) as a user without root or sudo (nobody), on this host's
// real probe: the plan marks venv and config "needs root" with the fix;
// the confirm's first focus goes back to the choices, which name the
// choices that clear them; a config path in the user's home re-plans and
// clears the config step's block; the confirm then skips the still
// blocked venv step and runs the rest: the config is written as the user,
// the summary lists the venv step with its fix, and the command exits 1
// naming how to run it as root later.
func TestBootstrapAsNonRoot(t *testing.T) {
	u := newUnprivileged(t)
	if !hostPackagesInstalled() {
		testenv.Missing(t, "gcc libev-dev python3-venv python3-dev", "apt-get install gcc libev-dev python3-venv python3-dev (the packages step must be satisfied)")
	}
	argv := []string{whisgeeBin, "bootstrap", "--envoy-source", "skip"}
	if u.cred != nil {
		setpriv := testenv.Tool(t, "setpriv", "apt-get install util-linux")
		argv = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, argv...)
	}
	// Through the exit-recording wrapper: tmux may lose a dead pane's
	// status, and this test wants 1, not 0.
	tm, exitStatus := startRecorded(t, 80, 24, []string{"HOME=" + u.home, "LANG=C.UTF-8"}, argv...)
	shows := func(what string, wants ...string) string {
		t.Helper()
		return tm.waitScreen(what, 20*time.Second, func(s string) bool {
			for _, w := range wants {
				if !strings.Contains(s, w) {
					return false
				}
			}
			return true
		})
	}

	shows("the choices", "Envoy from", "Config file")
	tm.keys("Enter", "Enter", "Enter", "Enter", "Enter") // envoy, python, venv, config, workers: submit
	shows("the plan with the blocked steps",
		"venv      needs root", "this user cannot write /opt (for /opt/whisgee/venv)", "fix: run as root, or choose a Virtualenv this user can",
		"config    needs root", "fix: run as root, or choose a Config file this user can")
	tm.keys("Enter")
	shows("the blocked confirm", "2 of 3 steps cannot run", "Back to the choices", "Skip them, run the rest")
	tm.keys("Enter") // the first focus: back to the choices
	shows("the choices with what clears the blocks", "Blocked in the last plan:", "venv: this user cannot write /opt", "config: this user cannot write /etc")

	// The focus is on Virtualenv (the first blocked choice): keep it,
	// move to the config file, and pick one in the user's home.
	tm.keys("Tab", "C-u")
	tm.keys("-l", "~/whisgee/whisgee.yaml")
	tm.keys("Tab", "Enter")
	cfgPath := filepath.Join(u.home, "whisgee/whisgee.yaml")
	scr := shows("the plan made again", "STEP", "config    to do", "venv      needs root")
	if strings.Contains(scr, "Blocked in the last plan") {
		t.Fatalf("still on the choices:\n%s", scr)
	}
	tm.keys("Enter")
	shows("the confirm, with one step blocked", "1 of 3 steps cannot run", "venv      run as root")
	tm.keys("Right", "Enter") // skip them, run the rest
	done := shows("the summary", "Finished the rest.", "Not run, because they cannot run here", "venv: needs root: this user cannot write /opt")
	// Each step's row keeps its outcome on an 80-column screen, however
	// long its title.
	for _, want := range []string{"venv      create the virtualenv", "skipped: needs root", "config    write " + u.home} {
		if !strings.Contains(done, want) || strings.Contains(done, "failed") {
			t.Errorf("the summary lacks %q:\n%s", want, done)
		}
	}
	tm.keys("q")
	if code := exitStatus(20 * time.Second); code != 1 {
		t.Errorf("exit status %d after skipping a blocked step, want 1", code)
	}
	// The error line after the view, joined where the terminal wrapped it.
	joined := tm.run("-S", tm.sock, "capture-pane", "-p", "-J", "-t", "e2e")
	wantCmd := "to run them as root: whisgee install --yes --only venv --envoy-source skip --python python3 --venv /opt/whisgee/venv --config " + cfgPath
	if !strings.Contains(joined, "steps venv did not run") || !strings.Contains(joined, wantCmd) {
		t.Errorf("the last line should name the skipped step and %q:\n%s", wantCmd, joined)
	}

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the config step did not write a config that loads: %v", err)
	}
	if cfg.App.Python != "/opt/whisgee/venv/bin/python" {
		t.Errorf("config python %q, want the chosen venv's", cfg.App.Python)
	}
	if fi, err := os.Stat(cfgPath); err == nil && u.cred != nil && fi.Sys().(*syscall.Stat_t).Uid != nobodyUID {
		t.Errorf("the config is owned by uid %d, not the user who ran bootstrap", fi.Sys().(*syscall.Stat_t).Uid)
	}
	log, err := os.ReadFile(filepath.Join(u.home, ".local/state/whisgee/install.log"))
	if err != nil || !strings.Contains(string(log), "==> step config") || strings.Contains(string(log), "==> step venv") {
		t.Errorf("the log should show the config step run and the venv step never started (%v):\n%s", err, log)
	}
}
