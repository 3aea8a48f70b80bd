// Package safefs keeps the files of a running stack out of other local
// users' reach. Every other user of the machine is treated as an attacker:
// a directory whisgee did not create is trusted only when this user owns
// it and nobody else may write it, files are never written through a name
// someone could have planted, and sockets are never reachable between bind
// and chmod.
//
//	if err := safefs.EnsureDir(runDir, safefs.Private); err != nil {
//		return fmt.Errorf("run_dir: %w", err) // one line: the directory and the fix
//	}
//	lock, err := safefs.Lock(runDir, controlSocket) // one daemon per run_dir
//	path, err := safefs.WriteFile(runDir, "whisgee_runner.py", src, 0o644)
//	ln, err := safefs.ListenUnix(filepath.Join(runDir, "worker-0.sock"), 0o600)
//
// Root (root.go) is the same care for `whisgee install --root DIR`: every
// path is resolved inside an image root, whose symlinks cannot lead out.
package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Policy says who may own a directory whisgee keeps its files in, and the
// mode a directory it creates gets.
type Policy struct {
	// Mode is the permission of a directory EnsureDir creates. If zero,
	// 0700 (0750 for a Service policy). Other users never get write.
	Mode os.FileMode
	// Service, if set, is the one deliberate exception to "owned by me and
	// nobody else may write": service mode's socket directory, which the
	// operators in the service's group may enter to reach the control
	// socket. Nil means the directory is private to the effective uid.
	Service *Service
}

// Service describes service mode's group-readable socket directory. It
// must be owned by root or the service user and have the service group;
// the group may read and enter it but not write it, and other users get
// no access at all.
type Service struct {
	// UID is the service user (whisgee's system user).
	UID int
	// GID is the group whose members may use the control socket (whisgee).
	GID int
}

// Private is the policy of a directory only this user may change: owned
// by the effective uid, not writable by group or other, created 0700.
var Private = Policy{}

func (p Policy) mode() os.FileMode {
	switch {
	case p.Mode != 0:
		return p.Mode.Perm() &^ 0o002
	case p.Service != nil:
		return 0o750
	}
	return 0o700
}

// UnsafeError is a directory whisgee will not use, with why and the fix.
type UnsafeError struct {
	// Path is the directory refused (or the ancestor that makes it unsafe).
	Path string
	// Why says what is wrong, e.g. "is owned by uid 65534, not by you (uid 0)".
	Why string
	// Fix says what to do about it.
	Fix string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %s; %s", e.Path, e.Why, e.Fix)
}

// EnsureDir makes path a directory this policy trusts. A missing directory
// is created with Mkdir (and missing parents likewise, each with the
// policy's mode), never taken over from a racing user: if it exists, it
// must be a real directory (not a symlink) that passes the policy, and each
// ancestor must be owned by root or this user and, if others may write it,
// carry the sticky bit (as /tmp does), so nobody can swap the directory
// out from under whisgee. The error is one line naming the directory and
// the fix.
func EnsureDir(path string, p Policy) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return ensureDir(filepath.Clean(abs), p, 0)
}

func ensureDir(path string, p Policy, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: too many missing parent directories", path)
	}
	if parent := filepath.Dir(path); parent != path {
		if _, err := os.Lstat(parent); errors.Is(err, fs.ErrNotExist) {
			if err := ensureDir(parent, Policy{Mode: p.mode() | 0o700}, depth+1); err != nil {
				return err
			}
		}
		if err := checkAncestors(parent); err != nil {
			return err
		}
	}
	err := os.Mkdir(path, p.mode())
	switch {
	case err == nil:
		return p.created(path)
	case !errors.Is(err, fs.ErrExist):
		return &UnsafeError{Path: path, Why: "cannot be created: " + errText(err), Fix: "create it yourself with mode 0700, or choose a directory you may write"}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return p.check(path, fi)
}

// created sets the exact mode (the umask may have narrowed it) and, for
// a service directory, its group.
func (p Policy) created(path string) error {
	if err := os.Chmod(path, p.mode()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if p.Service != nil {
		if err := os.Lchown(path, -1, p.Service.GID); err != nil {
			return fmt.Errorf("%s: set group %d: %w", path, p.Service.GID, err)
		}
	}
	return nil
}

// check holds an existing directory against the policy.
func (p Policy) check(path string, fi fs.FileInfo) error {
	remove := "remove it (rm -r " + path + ") and whisgee creates it afresh, or choose another directory"
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return &UnsafeError{Path: path, Why: fmt.Sprintf("is a symbolic link (to %s), not a directory whisgee made", target), Fix: remove}
	}
	if !fi.IsDir() {
		return &UnsafeError{Path: path, Why: "exists and is not a directory", Fix: remove}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	perm := fi.Mode().Perm()
	euid := os.Geteuid()
	if p.Service == nil {
		if int(st.Uid) != euid {
			return &UnsafeError{Path: path, Why: fmt.Sprintf("is owned by uid %d, not by you (uid %d): its owner could replace what whisgee keeps there", st.Uid, euid), Fix: remove}
		}
		if perm&0o022 != 0 {
			return &UnsafeError{Path: path, Why: fmt.Sprintf("is writable by other users (mode %04o)", perm), Fix: "chmod go-w " + path + ", or " + remove}
		}
		return nil
	}
	s := p.Service
	if st.Uid != 0 && int(st.Uid) != s.UID {
		return &UnsafeError{Path: path, Why: fmt.Sprintf("is owned by uid %d, not by root or the service user (uid %d)", st.Uid, s.UID), Fix: remove}
	}
	if int(st.Gid) != s.GID {
		return &UnsafeError{Path: path, Why: fmt.Sprintf("has group %d, not the service group (gid %d)", st.Gid, s.GID), Fix: fmt.Sprintf("chgrp %d %s, or %s", s.GID, path, remove)}
	}
	if perm&0o027 != 0 {
		return &UnsafeError{Path: path, Why: fmt.Sprintf("has mode %04o: the group may not write it and other users may not enter it", perm), Fix: "chmod 0750 " + path}
	}
	return nil
}

// checkAncestors refuses a directory whose parents another user could
// change: each must be owned by root or this user, and one others may
// write must be sticky, so that nobody can rename whisgee's directory away
// and put their own in its place.
func checkAncestors(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	euid := os.Geteuid()
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		fix := "choose a directory inside one that only you or root can change"
		if st.Uid != 0 && int(st.Uid) != euid {
			return &UnsafeError{Path: p, Why: fmt.Sprintf("(a parent of %s) is owned by uid %d, who could replace what is inside", dir, st.Uid), Fix: fix}
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return &UnsafeError{Path: p, Why: fmt.Sprintf("(a parent of %s) is writable by other users (mode %04o) and not sticky", dir, fi.Mode().Perm()), Fix: fix}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// errText is an error without the path os put in front of it.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
