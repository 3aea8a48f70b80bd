package safefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockName is the lock file a daemon holds in its run directory.
const LockName = "whisgee.lock"

// DirLock is an flock held on a directory's lock file for as long as a
// daemon uses the directory; the kernel drops it when the process dies,
// so a crash never leaves a directory locked.
type DirLock struct {
	f *os.File
}

// BusyError is a directory another process holds the lock of.
type BusyError struct {
	// Dir is the locked directory.
	Dir string
	// Holder is what the holder wrote in the lock file (whisgee writes its
	// control socket); empty if it had not written it yet.
	Holder string
}

func (e *BusyError) Error() string {
	if e.Holder == "" {
		return e.Dir + " is in use by another process"
	}
	return fmt.Sprintf("%s is in use by %s", e.Dir, e.Holder)
}

// Lock takes dir's lock without waiting and records holder (one line) in
// the lock file for whoever is refused next. A lock someone else holds is
// a *BusyError. dir must be one EnsureDir accepted.
func Lock(dir, holder string) (*DirLock, error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock %s: not a regular file; remove it", path)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 4096))
			return nil, &BusyError{Dir: dir, Holder: strings.TrimSpace(string(b))}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	line := strings.ReplaceAll(holder, "\n", " ") + "\n"
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(line), 0)
	return &DirLock{f: f}, nil
}

// Release drops the lock. The file stays: removing it would let a process
// that opened it just before lock a file nobody else can find.
func (l *DirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
