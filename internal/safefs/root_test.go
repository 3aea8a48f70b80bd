package safefs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// hostileImage is an image root whose symlinks point out of it: absolute
// ones (meant for the booted image) and relative ones climbing with "..".
// victim is a directory outside the root that must stay untouched.
func hostileImage(t *testing.T) (root, victim string) {
	t.Helper()
	base := t.TempDir()
	root, victim = filepath.Join(base, "image"), filepath.Join(base, "victim")
	for _, d := range []string{root + "/etc", root + "/tmp/victim", victim} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"etc/yum.repos.d":    victim,                  // absolute, to the host's dir
		"etc/pki":            "../../../../../victim", // relative, climbing out
		"etc/whisgee":        "/etc/../../../victim",  // absolute with ..
		"usr":                victim,                  // a whole tree
		"etc/os-release":     victim + "/os-release",  // a file
		"opt":                "loop",
		"loop":               "opt",
		"etc/yum.repos.d.ok": "/tmp/victim", // absolute, inside the root
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(victim+"/os-release", []byte("ID=host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, victim
}

func untouched(t *testing.T, victim string) {
	t.Helper()
	names, _ := os.ReadDir(victim)
	if len(names) != 1 || names[0].Name() != "os-release" {
		var got []string
		for _, n := range names {
			got = append(got, n.Name())
		}
		t.Fatalf("the directory outside the root was written: %v", got)
	}
	if b, _ := os.ReadFile(victim + "/os-release"); string(b) != "ID=host\n" {
		t.Fatalf("the file outside the root changed: %q", b)
	}
}

// bothResolvers runs f with openat2 and with the fallback walk.
func bothResolvers(t *testing.T, f func(t *testing.T, r *Root, root, victim string)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			root, victim := hostileImage(t)
			r, err := OpenRoot(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !walk && r.walk {
				t.Skip("this kernel has no openat2; the walk is tested below")
			}
			r.walk = walk
			f(t, r, root, victim)
			untouched(t, victim)
		})
	}
}

func TestRootWritesFollowTheImagesSymlinksInsideIt(t *testing.T) {
	bothResolvers(t, func(t *testing.T, r *Root, root, victim string) {
		// Links to the host's directories dangle inside the root: the
		// write fails (as mkdir -p does in a chroot) or lands inside.
		for _, name := range []string{
			"/etc/yum.repos.d/whisgee-envoy.repo",
			"/etc/pki/rpm-gpg/KEY",
			"/etc/whisgee/whisgee.yaml",
			"/usr/local/bin/envoy",
		} {
			if err := r.WriteFile(name, []byte("x"), 0o644); err == nil {
				if _, err := r.Stat(name); err != nil {
					t.Fatalf("%s was written but cannot be found inside the root: %v", name, err)
				}
			}
		}
		for name, inRoot := range map[string]string{
			"/etc/yum.repos.d.ok/inside.repo": "tmp/victim/inside.repo", // an absolute link, resolved in the root
			"/../../etc/escape":               "etc/escape",
			"/etc/os-release":                 "etc/os-release", // a link out, replaced
		} {
			if err := r.WriteFile(name, []byte("x"), 0o644); err != nil {
				t.Fatalf("write %s: %v", name, err)
			}
			if fi, err := os.Lstat(filepath.Join(root, inRoot)); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("%s: want a regular file at %s inside the root, got %v %v", name, inRoot, fi, err)
			}
		}
		if err := r.WriteFile("/opt/x", nil, 0o644); err == nil {
			t.Fatal("a symlink loop resolved")
		}
	})
}

func TestRootReadsRenamesAndListsInsideIt(t *testing.T) {
	bothResolvers(t, func(t *testing.T, r *Root, root, victim string) {
		if err := os.WriteFile(filepath.Join(root, "tmp/victim/getenvoy.repo"), []byte("in the image"), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := r.ReadFile("/etc/yum.repos.d/../yum.repos.d.ok/getenvoy.repo")
		if err != nil || string(b) != "in the image" {
			t.Fatalf("read: %q %v", b, err)
		}
		if _, err := r.ReadFile("/etc/pki/../os-release"); err == nil {
			// etc/pki -> ../../victim resolves to <root>/victim, absent.
			t.Fatal("read a file through a link that climbs out of the root")
		}
		// etc/yum.repos.d links to the host's victim dir, which the
		// image does not have: nothing to list, not the host's files.
		if names, err := r.ReadDir("/etc/yum.repos.d"); err == nil {
			t.Fatalf("listed %v through a link out of the root", names)
		}
		if names, err := r.ReadDir("/etc/yum.repos.d.ok"); err != nil || len(names) != 1 {
			t.Fatalf("listing a linked dir inside the root: %v %v", names, err)
		}
		if err := r.Rename("/etc/yum.repos.d.ok/getenvoy.repo", "/etc/yum.repos.d.ok/getenvoy.repo.off"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "tmp/victim/getenvoy.repo.off")); err != nil {
			t.Fatal(err)
		}
		host, err := r.HostPath("/etc/yum.repos.d.ok/x.repo")
		if want := filepath.Join(root, "tmp/victim/x.repo"); err != nil || host != want {
			t.Fatalf("host path %q (%v), want %s", host, err, want)
		}
		if _, err := r.HostPath("/etc/yum.repos.d/x.repo"); err == nil {
			t.Fatal("a host path through a link out of the root")
		}
		if fi, err := r.Stat("/etc/yum.repos.d.ok"); err != nil || !fi.IsDir() {
			t.Fatalf("stat: %v %v", fi, err)
		}
	})
}

func TestTheWalkResolvesAsOpenat2Does(t *testing.T) {
	root, _ := hostileImage(t)
	r, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.walk {
		// Not a tool to install: the kernel (or its seccomp filter) has
		// no openat2, and the walk is all there is to test.
		t.Skip("this kernel has no openat2 to compare the walk with")
	}
	os.MkdirAll(filepath.Join(root, "tmp/victim/sub"), 0o755)
	os.Symlink("../..", filepath.Join(root, "tmp/victim/sub/up"))
	os.Symlink("sub/up/etc", filepath.Join(root, "tmp/victim/etc"))
	for _, name := range []string{
		"/", "etc", "/etc/yum.repos.d.ok", "/etc/yum.repos.d.ok/sub/up", "/etc/yum.repos.d.ok/sub/up/../../..",
		"/etc/yum.repos.d.ok/etc/yum.repos.d.ok/etc", "/etc/pki", "/etc/whisgee", "/usr", "/opt", "/loop/x",
		"/etc/os-release", "tmp/victim/sub/up/up",
	} {
		a, aerr := r.openat2(name, unix.O_PATH)
		b, berr := r.walkOpen(rel(name), unix.O_PATH)
		if (aerr == nil) != (berr == nil) {
			t.Fatalf("%s: openat2 %v, walk %v", name, aerr, berr)
		}
		if aerr == nil {
			var sa, sb unix.Stat_t
			unix.Fstat(a, &sa)
			unix.Fstat(b, &sb)
			unix.Close(a)
			unix.Close(b)
			if sa.Ino != sb.Ino || sa.Dev != sb.Dev {
				t.Fatalf("%s: openat2 and the walk resolved to different files", name)
			}
		}
	}
}
