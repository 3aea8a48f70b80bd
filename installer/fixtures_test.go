package installer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// Fixtures for tests that drive real rpm, rpmbuild, createrepo_c, gpg and
// dnf against an --installroot. Nothing here fakes a tool: packages are
// built, signed and served for real; only their contents are tiny.

// rpmFile is one file a fixture package installs.
type rpmFile struct {
	Path    string // absolute path on the target, e.g. /usr/include/ev.h
	Content string
	Mode    string // e.g. "0644"; if empty, 0644
}

// rpmPkg is a fixture package: noarch, no dependencies (AutoReqProv: no).
type rpmPkg struct {
	Name, Version string
	Files         []rpmFile
}

func needRPMTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"dnf", "rpm", "rpmbuild", "createrepo_c"} {
		testenv.Tool(t, tool, "apt-get install dnf rpm createrepo-c (the installer tests drive them against an --installroot)")
	}
}

// buildRPMs builds the packages into dir and returns their paths.
func buildRPMs(t *testing.T, dir string, pkgs ...rpmPkg) []string {
	t.Helper()
	top := t.TempDir()
	var out []string
	for _, p := range pkgs {
		var spec, install, files strings.Builder
		fmt.Fprintf(&spec, "Name: %s\nVersion: %s\nRelease: 1\nSummary: whisgee test fixture %s\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\n", p.Name, p.Version, p.Name)
		for i, f := range p.Files {
			src := fmt.Sprintf("%s-%d", p.Name, i)
			if err := os.MkdirAll(filepath.Join(top, "SOURCES"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(top, "SOURCES", src), []byte(f.Content), 0o644); err != nil {
				t.Fatal(err)
			}
			mode := f.Mode
			if mode == "" {
				mode = "0644"
			}
			fmt.Fprintf(&spec, "Source%d: %s\n", i, src)
			fmt.Fprintf(&install, "install -D -m %s %%{SOURCE%d} %%{buildroot}%s\n", mode, i, f.Path)
			fmt.Fprintf(&files, "%s\n", f.Path)
		}
		fmt.Fprintf(&spec, "%%description\nwhisgee test fixture\n%%install\n%s%%files\n%s", install.String(), files.String())
		specPath := filepath.Join(top, p.Name+".spec")
		if err := os.WriteFile(specPath, []byte(spec.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "rpmbuild", "--define", "_topdir "+top, "--define", "_rpmdir "+dir, "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm", "-bb", specPath)
		out = append(out, filepath.Join(dir, fmt.Sprintf("%s-%s-1.noarch.rpm", p.Name, p.Version)))
	}
	return out
}

// createRepo turns a directory of RPMs into a repository.
func createRepo(t *testing.T, dir string) {
	t.Helper()
	run(t, "createrepo_c", "-q", dir)
}

// gpgKey is a signing key made for one test, in a GNUPGHOME of its own.
type gpgKey struct {
	Home, Name string
	// PublicPath is the armored public key, for gpgkey=file://...
	PublicPath string
	Public     []byte
}

var gpgOnce sync.Mutex

func newGPGKey(t *testing.T) *gpgKey {
	t.Helper()
	testenv.Tool(t, "gpg", "apt-get install gnupg")
	// A short home: gpg-agent's socket lives in it.
	home, err := os.MkdirTemp("", "wg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	k := &gpgKey{Home: home, Name: "whisgee test <test@whisgee.invalid>"}
	gpgOnce.Lock()
	defer gpgOnce.Unlock()
	runEnv(t, []string{"GNUPGHOME=" + home}, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", k.Name, "rsa2048", "sign", "never")
	k.Public = runEnv(t, []string{"GNUPGHOME=" + home}, "gpg", "--armor", "--export", "test@whisgee.invalid")
	k.PublicPath = filepath.Join(home, "public.asc")
	if err := os.WriteFile(k.PublicPath, k.Public, 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// sign adds the key's signature to each RPM with rpmsign.
func (k *gpgKey) sign(t *testing.T, rpms ...string) {
	t.Helper()
	testenv.Tool(t, "rpmsign", "apt-get install rpm")
	args := []string{"--define", "_gpg_name test@whisgee.invalid", "--define", "__gpg /usr/bin/gpg", "--addsign"}
	runEnv(t, []string{"GNUPGHOME=" + k.Home}, "rpmsign", append(args, rpms...)...)
}

// repoDef is one [section] of the fixture root's .repo file.
type repoDef struct {
	ID, BaseURL string
	Disabled    bool
	GPGKey      string // file path of the armored key; "" means gpgcheck=0
}

// newRoot makes an image root whose /etc/os-release is one of osReleases,
// with its own dnf.conf (so the host's is never read) and repos.
func newRoot(t *testing.T, osRelease string, repos ...repoDef) string {
	t.Helper()
	root := t.TempDir()
	write := func(path, content string) {
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/os-release", osReleases[osRelease])
	write("etc/dnf/dnf.conf", "[main]\ngpgcheck=1\ninstallonly_limit=3\nskip_if_unavailable=False\nretries=1\n")
	var b strings.Builder
	for _, r := range repos {
		fmt.Fprintf(&b, "[%s]\nname=%s\nbaseurl=%s\nenabled=%d\n", r.ID, r.ID, r.BaseURL, map[bool]int{true: 0, false: 1}[r.Disabled])
		if r.GPGKey != "" {
			fmt.Fprintf(&b, "gpgcheck=1\ngpgkey=file://%s\n\n", r.GPGKey)
		} else {
			b.WriteString("gpgcheck=0\n\n")
		}
	}
	write("etc/yum.repos.d/fixtures.repo", b.String())
	return root
}

// testDNFArgs keep the host's dnf plugins out of the way.
var testDNFArgs = []string{"--disableplugin=local"}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	return runEnv(t, nil, name, args...)
}

func runEnv(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// empty is a package with one marker file, standing in for a real one
// whose contents the test does not need (gcc, python3-devel, ...).
func empty(name string) rpmPkg {
	return rpmPkg{Name: name, Version: "1.0", Files: []rpmFile{{Path: "/usr/share/whisgee-fixtures/" + name, Content: name + "\n"}}}
}

var libevDevel = rpmPkg{Name: "libev-devel", Version: "4.33", Files: []rpmFile{{Path: "/usr/include/ev.h", Content: "/* libev fixture header */\n"}}}

// runPlan runs every step, failing the test on an error, and returns the
// outcomes by step name.
func runPlan(t *testing.T, r *Runner, p *Plan) map[string]Outcome {
	t.Helper()
	out := map[string]Outcome{}
	for _, s := range p.Steps {
		o, err := r.RunStep(context.Background(), s)
		if err != nil {
			t.Fatalf("step %s: %v", s.Name, err)
		}
		out[s.Name] = o
	}
	return out
}
