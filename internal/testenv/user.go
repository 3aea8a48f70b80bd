package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// User is another local user a test acts as, to try what an attacker on
// the same machine could: tests run as root start whisgee, then try to
// change its files or reach its sockets as this user.
type User struct {
	// Name, UID and GID identify the user.
	Name     string
	UID, GID int
	// Home is a directory the user owns, made for the test; it is the
	// user's HOME and working directory.
	Home string
	t    testing.TB
}

// NobodyUID is the uid (and gid) of the user nobody.
const NobodyUID = 65534

// Nobody returns the user nobody for a test running as root. Without root
// (or without the right to switch users) the test skips, or fails under
// WHISGEE_REQUIRE_INTEGRATION=1, saying so.
func Nobody(t testing.TB) *User {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root (the test acts as a second user, nobody)", "run the tests as root, as CI does")
	}
	u := &User{Name: "nobody", UID: NobodyUID, GID: NobodyUID, t: t}
	if err := u.Command("true").Run(); err != nil {
		Missing(t, "running a process as nobody (uid 65534)", "run the tests as root with CAP_SETUID: "+err.Error())
	}
	u.Home = ShortDir(t)
	if err := os.Chown(u.Home, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	return u
}

// Command is exec.Command run as the user, with HOME, PATH and LANG=C only
// in its environment (nothing of the test's, so no XDG_RUNTIME_DIR).
func (u *User) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}}}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C"}
	if u.Home != "" {
		cmd.Dir = u.Home
		cmd.Env = append(cmd.Env, "HOME="+u.Home)
	}
	return cmd
}

// Run runs argv as the user and returns its combined output and exit
// status; a command that cannot start at all fails the test.
func (u *User) Run(name string, args ...string) (string, int) {
	u.t.Helper()
	var out bytes.Buffer
	cmd := u.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		u.t.Fatalf("as %s: %s %s: %v", u.Name, name, strings.Join(args, " "), err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// Reach lets the user search path's directory and its parents (o+x), as a
// real machine's /tmp or /run would, so that what keeps the user out is
// the mode of whisgee's own files, not a test directory's. A test's
// binary can then be run by the user too.
func (u *User) Reach(path string) {
	u.t.Helper()
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			u.t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode()|0o001); err != nil {
				u.t.Fatal(err)
			}
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}
