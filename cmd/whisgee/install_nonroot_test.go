package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
)

// nobodyUID is the unprivileged user the tests run the real binary as
// when they run as root: nobody cannot write /opt, /etc or /usr/local/bin.
const nobodyUID = testenv.NobodyUID

// unprivileged is a home directory and a way to run the real whisgee
// binary as a user without root: nobody when the tests run as root, else
// the test's own user.
type unprivileged struct {
	t    *testing.T
	home string
	cred *syscall.Credential
}

func newUnprivileged(t *testing.T) *unprivileged {
	t.Helper()
	if os.Geteuid() != 0 {
		if exec.Command("sudo", "-n", "true").Run() == nil {
			testenv.Missing(t, "a user without root and without passwordless sudo", "run the tests as root (they run whisgee as nobody) or as a user sudo asks for a password")
		}
		return &unprivileged{t: t, home: shortDir(t)}
	}
	// nobody must reach the test binary (its temp dir is 0700) and owns
	// its home (a 0700 dir right under TMPDIR).
	n := testenv.Nobody(t)
	n.Reach(whisgeeBin)
	return &unprivileged{t: t, home: n.Home, cred: &syscall.Credential{Uid: uint32(n.UID), Gid: uint32(n.GID), Groups: []uint32{}}}
}

// run runs `whisgee args...` as the user; it returns stdout, stderr and
// the exit status.
func (u *unprivileged) run(args ...string) (string, string, int) {
	u.t.Helper()
	cmd := exec.Command(whisgeeBin, args...)
	cmd.Dir = u.home
	cmd.Env = []string{"HOME=" + u.home, "PATH=" + os.Getenv("PATH"), "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		u.t.Fatalf("whisgee %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// planSteps splits a rendered plan into its steps' blocks by name.
func planSteps(plan string) map[string]string {
	steps := map[string]string{}
	for _, block := range regexp.MustCompile(`\n\n[0-9]+\. `).Split(plan, -1)[1:] {
		name, _, _ := strings.Cut(block, ":")
		steps[name] = block
	}
	return steps
}

// hostPackagesInstalled reports whether this Debian host's packages step
// is satisfied, as CI's .ci/run makes it: then it must never need root.
func hostPackagesInstalled() bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}\n", "gcc", "libev-dev", "python3", "python3-venv", "python3-dev").Output()
	return err == nil && strings.Count(string(out), "ii") == 5
}

// TestInstallAsNonRootWithDefaultPaths runs the real binary as a user
// without root (nobody) and without sudo: the dry run marks the envoy,
// venv and config steps "needs root" with the fix in one line, and --yes
// refuses before anything runs (non-zero, one line per blocked step, no
// log file opened). The satisfied packages step needs nothing.
func TestInstallAsNonRootWithDefaultPaths(t *testing.T) {
	u := newUnprivileged(t)
	if !hostPackagesInstalled() {
		testenv.Missing(t, "gcc libev-dev python3-venv python3-dev", "apt-get install gcc libev-dev python3-venv python3-dev (the packages step must be satisfied)")
	}
	// A GitHub API that refuses at once: no envoy is installed, so the
	// probe never asks it, and nothing leaves the machine if it did.
	args := []string{"--github-api", "http://127.0.0.1:1/"}
	plan, stderr, code := u.run(append([]string{"install", "--dry-run"}, args...)...)
	if code != 0 {
		t.Fatalf("dry run exited %d: %s\n%s", code, stderr, plan)
	}
	steps := planSteps(plan)
	wants := map[string]*regexp.Regexp{
		"envoy":  regexp.MustCompile(`\n   needs root: this user cannot write /\S* \(for /usr/local/bin/envoy\): run as root, or pass --envoy-source skip`),
		"venv":   regexp.MustCompile(`\n   needs root: this user cannot write /\S* \(for /opt/whisgee/venv\): run as root, or pass --venv ~/whisgee/venv --config ~/whisgee/whisgee.yaml\n`),
		"config": regexp.MustCompile(`\n   needs root: this user cannot write /\S* \(for /etc/whisgee/whisgee.yaml\): run as root, or pass --venv ~/whisgee/venv --config ~/whisgee/whisgee.yaml\n`),
	}
	for name, re := range wants {
		if !re.MatchString(steps[name]) {
			t.Errorf("step %s does not say it needs root with the fix:\n%s", name, steps[name])
		}
	}
	if p := steps["packages"]; !strings.Contains(p, "state: satisfied") || strings.Contains(p, "needs root") {
		t.Errorf("the satisfied packages step should need nothing:\n%s", p)
	}

	out, stderr, code := u.run(append([]string{"install", "--yes"}, args...)...)
	if code != 1 {
		t.Fatalf("--yes as nobody exited %d, want 1:\n%s\n%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "the plan cannot run as it is, nothing was changed") {
		t.Fatalf("want a headline and one line per blocked step, got:\n%s", stderr)
	}
	for i, name := range []string{"envoy", "venv", "config"} {
		if !strings.HasPrefix(lines[i+1], "  "+name+": needs root: ") {
			t.Errorf("line %d is %q, want step %s", i+1, lines[i+1], name)
		}
	}
	if strings.Contains(out, "==> [") || strings.Contains(out, "full log:") {
		t.Errorf("--yes started running before refusing:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(u.home, ".local/state/whisgee/install.log")); err == nil {
		t.Error("--yes opened its log before refusing")
	}
}

// TestInstallAsNonRootPackagesNeedRoot: in an image root this user owns,
// the packages step (dnf --installroot) still needs root, and the fix
// says so; the venv step inside a root runs chroot, which needs root too.
func TestInstallAsNonRootPackagesNeedRoot(t *testing.T) {
	u := newUnprivileged(t)
	testenv.Tool(t, "rpm", "apt-get install rpm")
	root := filepath.Join(u.home, "image")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(fedora40), 0o644); err != nil {
		t.Fatal(err)
	}
	if u.cred != nil {
		for _, p := range []string{root, filepath.Join(root, "etc"), filepath.Join(root, "etc/os-release")} {
			os.Chown(p, nobodyUID, nobodyUID)
		}
	}
	plan, stderr, code := u.run("install", "--dry-run", "--root", root, "--envoy-source", "skip", "--dnf-arg=--disableplugin=local")
	if code != 0 {
		t.Fatalf("dry run exited %d: %s", code, stderr)
	}
	steps := planSteps(plan)
	for _, name := range []string{"packages", "venv"} {
		if !regexp.MustCompile("\n   needs root: not root, and `sudo -n true` fails here: run as root or with sudo\n").MatchString(steps[name]) {
			t.Errorf("step %s does not say it needs root (run as root or with sudo):\n%s", name, steps[name])
		}
	}
	if c := steps["config"]; strings.Contains(c, "needs root") {
		t.Errorf("the config step writes inside a root this user owns, yet:\n%s", c)
	}
}

// TestInstallAsNonRootWithOwnPaths: with --venv and --config under a
// directory the user owns, nothing in the plan is blocked, and the config
// step really runs as that user.
func TestInstallAsNonRootWithOwnPaths(t *testing.T) {
	u := newUnprivileged(t)
	if !hostPackagesInstalled() {
		testenv.Missing(t, "gcc libev-dev python3-venv python3-dev", "apt-get install gcc libev-dev python3-venv python3-dev (the packages step must be satisfied)")
	}
	venv, cfgPath := filepath.Join(u.home, "whisgee/venv"), filepath.Join(u.home, "whisgee/whisgee.yaml")
	args := []string{"--envoy-source", "skip", "--venv", venv, "--config", cfgPath}
	plan, stderr, code := u.run(append([]string{"install", "--dry-run"}, args...)...)
	if code != 0 {
		t.Fatalf("dry run exited %d: %s", code, stderr)
	}
	if strings.Contains(plan, "needs root") {
		t.Errorf("a plan in the user's own directories needs root:\n%s", plan)
	}
	steps := planSteps(plan)
	for _, name := range []string{"packages", "venv", "config"} {
		if steps[name] == "" {
			t.Errorf("the plan has no %s step:\n%s", name, plan)
		}
	}

	out, stderr, code := u.run(append([]string{"install", "--yes", "--only", "config"}, args...)...)
	if code != 0 {
		t.Fatalf("--yes --only config as the user exited %d:\n%s\n%s", code, out, stderr)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the config written as the user does not load: %v\n%s", err, out)
	}
	if cfg.App.Python != filepath.Join(venv, "bin/python") {
		t.Errorf("config python %q", cfg.App.Python)
	}
	if fi, err := os.Stat(cfgPath); err == nil && u.cred != nil && fi.Sys().(*syscall.Stat_t).Uid != nobodyUID {
		t.Errorf("the config is owned by uid %d, not the user who ran install", fi.Sys().(*syscall.Stat_t).Uid)
	}
}
