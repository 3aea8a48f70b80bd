package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

// refused asserts err is one line that names path.
func refused(t *testing.T, err error, path, want string) {
	t.Helper()
	var ue *UnsafeError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an UnsafeError about %s", err, path)
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Fatalf("refusal %q: want one line naming %s and saying %q", msg, path, want)
	}
}

func TestEnsureDirCreatesAPrivateDirectoryAndItsMissingParents(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "run")
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	if err := EnsureDir(dir, Private); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if m := mode(t, d); !m.IsDir() || m.Perm() != 0o700 {
			t.Fatalf("%s: mode %v, want a 0700 directory", d, m)
		}
	}
	// Again: it is ours now, so it is accepted as it is.
	if err := EnsureDir(dir, Private); err != nil {
		t.Fatalf("second EnsureDir: %v", err)
	}
}

func TestEnsureDirAcceptsOnlyARealDirectoryNobodyElseMayWrite(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, perm os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := EnsureDir(mk("readable", 0o755), Private); err != nil {
		t.Fatalf("a 0755 directory of mine: %v", err)
	}
	open := mk("open", 0o777)
	refused(t, EnsureDir(open, Private), open, "writable by other users")
	group := mk("group", 0o770)
	refused(t, EnsureDir(group, Private), group, "writable by other users")

	link := filepath.Join(base, "link")
	if err := os.Symlink(mk("target", 0o700), link); err != nil {
		t.Fatal(err)
	}
	refused(t, EnsureDir(link, Private), link, "symbolic link")

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, EnsureDir(file, Private), file, "not a directory")
}

func TestEnsureDirRefusesADirectoryAnotherUserOwns(t *testing.T) {
	nobody := testenv.Nobody(t)
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody.UID, nobody.GID); err != nil {
		t.Fatal(err)
	}
	refused(t, EnsureDir(dir, Private), dir, "owned by uid 65534")
}

func TestEnsureDirRefusesAParentOthersCouldSwapItOutOf(t *testing.T) {
	base := t.TempDir()
	shared := filepath.Join(base, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777)
	refused(t, EnsureDir(filepath.Join(shared, "run"), Private), shared, "writable by other users")
	// Sticky, as /tmp is: others may not rename what is not theirs.
	os.Chmod(shared, os.ModeSticky|0o777)
	if err := EnsureDir(filepath.Join(shared, "run"), Private); err != nil {
		t.Fatalf("under a sticky shared directory: %v", err)
	}
}

func TestEnsureDirRefusesAParentAnotherUserOwns(t *testing.T) {
	nobody := testenv.Nobody(t)
	parent := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(parent, nobody.UID, nobody.GID)
	refused(t, EnsureDir(filepath.Join(parent, "run"), Private), parent, "owned by uid 65534")
}

func TestServicePolicyAcceptsOnlyRootOrTheServiceUserWithTheGroupAndNoOtherAccess(t *testing.T) {
	testenv.Nobody(t) // needs root, to chown
	const serviceUID, serviceGID = 65534, 4242
	p := Policy{Service: &Service{UID: serviceUID, GID: serviceGID}}
	base := t.TempDir()
	mk := func(name string, uid, gid int, perm os.FileMode) string {
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, perm); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, perm)
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, d := range []string{mk("root", 0, serviceGID, 0o750), mk("service", serviceUID, serviceGID, 0o750), mk("tight", 0, serviceGID, 0o700)} {
		if err := EnsureDir(d, p); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	d := mk("other-owner", 1234, serviceGID, 0o750)
	refused(t, EnsureDir(d, p), d, "owned by uid 1234")
	d = mk("wrong-group", 0, 0, 0o750)
	refused(t, EnsureDir(d, p), d, "not the service group")
	d = mk("world", 0, serviceGID, 0o755)
	refused(t, EnsureDir(d, p), d, "other users may not enter")
	d = mk("group-write", 0, serviceGID, 0o770)
	refused(t, EnsureDir(d, p), d, "group may not write")

	// Created by whisgee: 0750 with the service group.
	made := filepath.Join(base, "made")
	if err := EnsureDir(made, p); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(made)
	if fi.Mode().Perm() != 0o750 || fi.Sys().(*syscall.Stat_t).Gid != serviceGID {
		t.Fatalf("made %v gid %d, want 0750 gid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, serviceGID)
	}
}
