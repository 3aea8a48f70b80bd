package installer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
)

// TestAHostileImageCannotRedirectWritesOutOfTheRoot runs every in-process
// action of a --root plan (the .repo files, whisgee.yaml, the demo app,
// the mirror's .repo, the wheelhouse copy, moving GetEnvoy's repo aside)
// against an image whose directories are symlinks out of it: absolute
// ones, and relative ones climbing with "..". What they write must land
// inside the root, where the link resolves once the image boots.
func TestAHostileImageCannotRedirectWritesOutOfTheRoot(t *testing.T) {
	base := t.TempDir()
	root, victim := filepath.Join(base, "image"), filepath.Join(base, "victim")
	inside := filepath.Join(root, victim) // where victim resolves in the image
	for _, d := range []string{root + "/etc", root + "/var/cache", victim, inside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(root+"/etc/os-release", []byte(osReleases["centos-7"]), 0o644))
	climb := strings.Repeat("../", 12) + strings.TrimPrefix(victim, "/")
	must(os.Symlink(victim, root+"/etc/yum.repos.d"))
	must(os.Symlink(climb, root+"/etc/whisgee"))
	must(os.Symlink(victim, root+"/var/cache/whisgee"))
	// A GetEnvoy repo on this machine, where the link points: the old code
	// found it through the link and moved it aside.
	getenvoy := filepath.Join(victim, "tetrate-getenvoy.repo")
	must(os.WriteFile(getenvoy, []byte("[getenvoy]\nbaseurl=https://getenvoy.io/x\n"), 0o644))
	mirror := filepath.Join(base, "mirror.repo")
	must(os.WriteFile(mirror, []byte("[mirror]\nname=m\nbaseurl=http://127.0.0.1:1/\ngpgcheck=1\n"), 0o644))
	wheels := t.TempDir()
	testenv.WriteWheel(t, wheels, "six", "1.16.0")

	host, err := DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := BuildPlan(host, Options{Root: root, EnvoyRepo: "file://" + mirror, Wheelhouse: wheels})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(RunnerOptions{Log: &bytes.Buffer{}, Host: host})
	ran := 0
	for _, s := range plan.Steps {
		for _, a := range s.Actions {
			if a.Argv != nil || a.Do == nil {
				continue
			}
			var out bytes.Buffer
			err := a.Do(context.Background(), r, &out)
			t.Logf("%s: %v\n%s", a.Desc, err, out.String())
			ran++
		}
	}
	if ran < 4 {
		t.Fatalf("only %d in-process actions ran; the plan lacks the writes this test is about", ran)
	}
	names, _ := os.ReadDir(victim)
	if len(names) != 1 || names[0].Name() != "tetrate-getenvoy.repo" {
		var got []string
		for _, n := range names {
			got = append(got, n.Name())
		}
		t.Fatalf("the directory outside the root changed: %v", got)
	}
	for _, want := range []string{"whisgee-centos7-vault.repo", "whisgee-epel7-archive.repo", "whisgee-envoy.repo", "whisgee.yaml", "demoapp.py", "wheelhouse/six-1.16.0-py3-none-any.whl"} {
		if _, err := os.Stat(filepath.Join(inside, want)); err != nil {
			t.Errorf("%s did not land inside the root, where the link resolves: %v", want, err)
		}
	}
}

func TestOSReleaseValuesReachTheConfigAsPlainText(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(root+"/etc", 0o755)
	hostile := "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n" +
		"PRETTY_NAME=\"Fedora\rcontrol:\r  socket: /tmp/wgevil/ctl.sock #\x1b]52;c;ZXZpbA==\x07\u0085\u2028 Linux 40\"\n"
	if err := os.WriteFile(root+"/etc/os-release", []byte(hostile), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range h.PrettyName {
		if !unicode.IsPrint(r) {
			t.Fatalf("PRETTY_NAME keeps %U: %q", r, h.PrettyName)
		}
	}
	data := RenderConfig(h, &Options{Venv: "/opt/whisgee/venv", Workers: 2, ProxyEngine: "builtin", SupervisorEngine: "builtin"}, DemoModule)
	cfg, err := config.Parse(data, "/etc/whisgee/whisgee.yaml")
	if err != nil {
		t.Fatalf("the config does not load: %v\n%s", err, data)
	}
	if strings.Contains(cfg.Control.Socket, "wgevil") {
		t.Fatalf("os-release set control.socket to %s:\n%q", cfg.Control.Socket, data)
	}
	// A VERSION_ID that is not a version is refused, not passed to dnf.
	fields, _ := ParseOSRelease(strings.NewReader("ID=fedora\nVERSION_ID=\"40 --setopt=gpgcheck=0\"\n"))
	if _, err := HostFromOSRelease(fields); err == nil {
		t.Fatal("a VERSION_ID with spaces and options was accepted")
	}
	// And values stay bounded.
	long, _ := ParseOSRelease(strings.NewReader("PRETTY_NAME=" + strings.Repeat("x", 10000) + "\n"))
	if n := len(long["PRETTY_NAME"]); n > 256 {
		t.Fatalf("a %d-byte PRETTY_NAME was kept", n)
	}
}
