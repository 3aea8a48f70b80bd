package safefs

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileReplacesASymlinkInsteadOfWritingThroughIt(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "whisgee_runner.py")
	if err := os.Symlink(victim, target); err != nil {
		t.Fatal(err)
	}
	// The name the old code used for its temp file, planted too.
	if err := os.Symlink(victim, target+".tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(dir, "whisgee_runner.py", []byte("runner"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	if m := mode(t, target); !m.IsRegular() || m.Perm() != 0o644 {
		t.Fatalf("%s: mode %v, want a regular 0644 file", target, m)
	}
	if b, _ := os.ReadFile(target); string(b) != "runner" {
		t.Fatalf("content %q", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".whisgee_runner.py.*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestWriteFileGivesAKeyMode0600WhateverWasThere(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(key, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key, 0o666)
	if _, err := WriteFile(dir, "key.pem", []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, key); m.Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", m)
	}
}

func TestWriteFileRefusesAPath(t *testing.T) {
	if _, err := WriteFile(t.TempDir(), "../escape", nil, 0o600); err == nil {
		t.Fatal("a name with a slash was accepted")
	}
}

func TestListenUnixGivesTheSocketItsModeAndRestoresTheUmask(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, m := range []os.FileMode{0o600, 0o660} {
		path := filepath.Join(dir, m.String()+".sock")
		ln, err := ListenUnix(path, m)
		if err != nil {
			t.Fatal(err)
		}
		if got := mode(t, path); got&os.ModeSocket == 0 || got.Perm() != m {
			t.Fatalf("socket mode %v, want %v", got, m)
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		ln.Close()
	}
	if now := syscall.Umask(0o022); now != 0o022 {
		t.Fatalf("umask is %04o after ListenUnix, want it restored to 0022", now)
	}
}

func TestASecondLockOnADirectoryIsRefusedWithTheHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir, "/run/a/control.sock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir, "/run/b/control.sock")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder != "/run/a/control.sock" || busy.Dir != dir {
		t.Fatalf("second lock: %v, want busy, held by /run/a/control.sock", err)
	}
	if m := mode(t, filepath.Join(dir, LockName)); m.Perm() != 0o600 {
		t.Fatalf("lock file mode %v", m)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := Lock(dir, "/run/b/control.sock")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	second.Release()
}

func TestLockRefusesASymlinkedLockFile(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.Symlink(victim, filepath.Join(dir, LockName))
	if l, err := Lock(dir, "x"); err == nil {
		l.Release()
		t.Fatal("locked through a symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("victim changed: %q", b)
	}
}
