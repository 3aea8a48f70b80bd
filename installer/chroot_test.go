package installer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// TestVenvInsideAnImageRoot runs the venv step with --root against a real
// image root that has its own interpreter: this machine's Python, its
// standard library and the shared libraries it loads, linked into a
// directory. The venv is made by chroot with the root's interpreter, and
// the wheelhouse (outside the root) reaches pip as a copy inside it.
func TestVenvInsideAnImageRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (chroot needs it)", "run the tests as root, as CI does")
	}
	testenv.Tool(t, "chroot", "apt-get install coreutils")
	testenv.Tool(t, "ldd", "apt-get install libc-bin")
	py := testenv.PythonWith(t, "venv", "ensurepip")
	testenv.HermeticPip(t)
	root := pythonImageRoot(t, py)
	wh := t.TempDir()
	for name, v := range map[string]string{"wheel": "0.42.0", "six": "1.16.0", "circus": "0.19.0", "chaussette": "1.3.0", "bjoern": "3.2.2"} {
		testenv.WriteWheel(t, wh, name, v)
	}
	host := hostOf(t, "centos-stream-9") // --root is for dnf families
	opts := Options{Root: root, Only: []string{StepVenv}, Wheelhouse: wh, Python: "python3"}
	plan, err := BuildPlan(host, opts)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r := NewRunner(RunnerOptions{Log: &log, Host: host})
	o, err := r.RunStep(context.Background(), plan.Steps[0])
	if err != nil || o != OutcomeDone {
		t.Fatalf("got %s, %v\n%s", o, err, log.String())
	}
	venvPython := "/opt/whisgee/venv/bin/python" // the default --venv, a path inside the root
	if _, err := os.Stat(filepath.Join(root, venvPython)); err != nil {
		t.Fatalf("no venv inside the root: %v", err)
	}
	out, err := exec.Command("chroot", root, venvPython, "-c", "import sys, circus, bjoern; print(sys.prefix, circus.__version__)").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0.19.0") {
		t.Fatalf("the venv inside the root lacks the packages: %v %s\n%s", err, out, log.String())
	}
	if _, err := os.Stat(filepath.Join(root, rootWheelhouse, "circus-0.19.0-py3-none-any.whl")); err != nil {
		t.Fatalf("the wheelhouse was not copied into the root: %v", err)
	}

	// Again: every part satisfied, nothing run.
	plan2, _ := BuildPlan(host, opts)
	log.Reset()
	if o, err := r.RunStep(context.Background(), plan2.Steps[0]); err != nil || o != OutcomeSatisfied {
		t.Fatalf("second run: got %s, %v; want satisfied\n%s", o, err, log.String())
	}
}

// pythonImageRoot links this machine's Debian Python into a fresh root:
// the interpreter, its standard library, the wheels ensurepip installs, and
// every shared library the interpreter and its extension modules load.
func pythonImageRoot(t *testing.T, py string) string {
	t.Helper()
	exe, err := filepath.EvalSymlinks(py)
	if err != nil {
		t.Fatal(err)
	}
	ver := strings.TrimPrefix(filepath.Base(exe), "python") // "3.11"
	stdlib := filepath.Join("/usr/lib", "python"+ver)
	if _, err := os.Stat(filepath.Join(stdlib, "venv")); err != nil {
		testenv.Missing(t, "a Debian Python with its stdlib in "+stdlib, "apt-get install python3 python3-venv")
	}
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "etc", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(osReleases["centos-stream-9"]), 0o644)
	linkTree(t, stdlib, filepath.Join(root, stdlib))
	if _, err := os.Stat("/usr/share/python-wheels"); err == nil {
		linkTree(t, "/usr/share/python-wheels", filepath.Join(root, "usr/share/python-wheels"))
	}
	linkFile(t, exe, filepath.Join(root, exe))
	os.Symlink(filepath.Base(exe), filepath.Join(root, "usr/bin/python3"))
	objects := []string{exe}
	filepath.WalkDir(filepath.Join(stdlib, "lib-dynload"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".so") {
			objects = append(objects, p)
		}
		return nil
	})
	for _, lib := range sharedLibraries(t, objects) {
		linkFile(t, lib, filepath.Join(root, lib))
	}
	return root
}

// sharedLibraries lists what ldd says objects load, the loader included.
func sharedLibraries(t *testing.T, objects []string) []string {
	seen := map[string]bool{}
	var libs []string
	for _, obj := range objects {
		out, err := exec.Command("ldd", obj).Output()
		if err != nil {
			continue // not dynamic
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			var path string
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				path = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				path = f[0] // the loader
			}
			if path != "" && !seen[path] {
				seen[path] = true
				libs = append(libs, path)
			}
		}
	}
	return libs
}

// linkTree hard-links (or, across file systems, copies) a tree.
func linkTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		}
		linkFile(t, p, target)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func linkFile(t *testing.T, src, dst string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.Link(real, dst); err == nil || errors.Is(err, os.ErrExist) {
		return
	} else if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) {
		t.Fatal(err)
	}
	in, err := os.Open(real)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, _ := in.Stat()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}
