package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// What a step needs of the user who runs it is known before anything
// runs: Probe sets Step.NeedsRoot on each step this user cannot run, so
// `whisgee install --yes` refuses up front instead of failing halfway, and
// --dry-run shows the fix. Satisfied steps never need anything.

// FixRunAsRoot is the fix for steps that install packages or change the
// system as a user without root and without passwordless sudo.
const FixRunAsRoot = "run as root or with sudo"

// FixUserPaths is the fix for the venv and config steps when this user
// cannot write their default places.
const FixUserPaths = "run as root, or pass --venv ~/whisgee/venv --config ~/whisgee/whisgee.yaml"

// sudoWorks reports whether root commands can run through the sudo
// prefix without a password; it asks once (`sudo -n true`).
func (r *Runner) sudoWorks(ctx context.Context) bool {
	r.sudoOnce.Do(func() {
		argv := append(append([]string{}, r.opts.Sudo...), "true")
		ctx, cancel := context.WithTimeout(ctx, r.opts.CheckTimeout)
		defer cancel()
		err := exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
		r.sudoOK = err == nil
		r.logf("check root through %s: %s\n", QuoteArgv(argv), exitText(err))
	})
	return r.sudoOK
}

// needsRoot says what stops this user from running s and the fix, or
// "" twice when nothing does. It looks at what is left to do: actions
// already skipped need nothing.
func (r *Runner) needsRoot(ctx context.Context, s *Step) (why, fix string) {
	if r.IsRoot() || s.Satisfied || s.Blocked != "" {
		return "", ""
	}
	if s.hasRootWork() && !r.sudoWorks(ctx) {
		fix := FixRunAsRoot
		if s.Instead != "" {
			fix += ", or " + s.Instead
		}
		return fmt.Sprintf("not root, and `%s true` fails here", strings.Join(r.opts.Sudo, " ")), fix
	}
	for _, path := range s.Writes {
		dir, err := nearestExisting(path)
		if err == nil {
			err = unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS)
		}
		if err == nil || (s.SudoWrites && r.sudoWorks(ctx)) {
			continue
		}
		fix := FixUserPaths
		if s.Instead != "" {
			fix = "run as root, or " + s.Instead
		}
		return fmt.Sprintf("this user cannot write %s (for %s)", dir, path), fix
	}
	return "", ""
}

// hasRootWork reports whether an action left to run needs root.
func (s *Step) hasRootWork() bool {
	for _, a := range s.Actions {
		if a.Root && !a.Skipped {
			return true
		}
	}
	return false
}

// nearestExisting is the directory that decides whether path can be
// created or replaced: path itself if it is a directory, else the closest
// existing parent (files are replaced by a rename in their directory).
func nearestExisting(path string) (string, error) {
	p := filepath.Clean(path)
	for {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			return p, nil
		}
		if err != nil && !os.IsNotExist(err) {
			return p, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p, fmt.Errorf("no existing parent of %s", path)
		}
		p = parent
	}
}
