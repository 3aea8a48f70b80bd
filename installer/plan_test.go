package installer

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name.golden (or rewrites it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the plan made now (go test -update rewrites it):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// osRelease is a minimal os-release of each family, as those releases
// ship it.
var osReleases = map[string]string{
	"centos-7":         "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n",
	"centos-stream-8":  "NAME=\"CentOS Stream\"\nVERSION=\"8\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\nPRETTY_NAME=\"CentOS Stream 8\"\n",
	"centos-stream-9":  "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\nPRETTY_NAME=\"CentOS Stream 9\"\n",
	"centos-stream-10": "NAME=\"CentOS Stream\"\nVERSION=\"10 (Coughlan)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"10\"\nPRETTY_NAME=\"CentOS Stream 10 (Coughlan)\"\n",
	"rhel-8":           "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.10\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 8.10 (Ootpa)\"\n",
	"rhel-9":           "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n",
	"rhel-10":          "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nID_LIKE=\"centos fedora\"\nVERSION_ID=\"10.0\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 10.0 (Coughlan)\"\n",
	"rocky-8":          "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\nPRETTY_NAME=\"Rocky Linux 8.10 (Green Obsidian)\"\n",
	"rocky-9":          "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n",
	"rocky-10":         "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"10.0\"\nPRETTY_NAME=\"Rocky Linux 10.0 (Red Quartz)\"\n",
	"alma-8":           "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\nPRETTY_NAME=\"AlmaLinux 8.10 (Cerulean Leopard)\"\n",
	"alma-9":           "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"AlmaLinux 9.4 (Seafoam Ocelot)\"\n",
	"alma-10":          "NAME=\"AlmaLinux\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"10.0\"\nPRETTY_NAME=\"AlmaLinux 10.0 (Purple Lion)\"\n",
	"fedora-40":        "NAME=\"Fedora Linux\"\nVERSION=\"40 (Server Edition)\"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Server Edition)\"\n",
	"fedora-41":        "NAME=\"Fedora Linux\"\nVERSION=\"41 (Server Edition)\"\nID=fedora\nVERSION_ID=41\nPRETTY_NAME=\"Fedora Linux 41 (Server Edition)\"\n",
	"debian-11":        "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"11\"\nID=debian\n",
	"debian-12":        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
	"ubuntu-22.04":     "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n",
	"ubuntu-24.04":     "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n",
}

func hostOf(t *testing.T, name string) *Host {
	t.Helper()
	fields, err := ParseOSRelease(strings.NewReader(osReleases[name]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := HostFromOSRelease(fields)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h
}

// TestGoldenPlans renders the default plan of every supported family,
// including those that cannot run here (CentOS 7's yum, Fedora 41's dnf5).
func TestGoldenPlans(t *testing.T) {
	for name := range osReleases {
		t.Run(name, func(t *testing.T) {
			p, err := BuildPlan(hostOf(t, name), Options{Arch: "x86_64"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "plans/"+name, p.Render())
		})
	}
}

// TestGoldenPlanVariants covers the options that change a plan's commands.
func TestGoldenPlanVariants(t *testing.T) {
	cases := []struct {
		name, host string
		opts       Options
	}{
		{"fedora-41-mirror", "fedora-41", Options{EnvoyRepo: "https://mirror.example.internal/envoy.repo", EnvoyPackage: "envoy-bin"}},
		{"rocky-8-mirror-circus", "rocky-8", Options{EnvoyRepo: "https://mirror.example.internal/envoy.repo", SupervisorEngine: "circus", Workers: 8}},
		{"centos-stream-9-root-wheelhouse", "centos-stream-9", Options{Root: "/srv/image", Wheelhouse: "/srv/wheels", EnvoyVersion: "1.39.1", Python: "python3.12"}},
		{"rhel-9-aarch64-skip-envoy", "rhel-9", Options{Arch: "aarch64", EnvoySource: EnvoySkip}},
		{"debian-12-only-venv-config", "debian-12", Options{Only: []string{StepVenv, StepConfig}, Python: "python3.13"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.Arch == "" {
				c.opts.Arch = "x86_64"
			}
			p, err := BuildPlan(hostOf(t, c.host), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "plans/"+c.name, p.Render())
		})
	}
}

func TestPlanFamilyFacts(t *testing.T) {
	cases := []struct {
		host     string
		pm       PackageManager
		contains []string
		lacks    []string
	}{
		{"centos-7", Yum, []string{"yum-config-manager --disable base updates extras", "vault.centos.org", "BLOCKED: this host's glibc is 2.17"}, []string{"dnf "}},
		{"centos-stream-8", DNF4, []string{"dnf config-manager --set-enabled powertools", "end of life", "BLOCKED"}, nil},
		{"rocky-9", DNF4, []string{"dnf config-manager --set-enabled crb", "dnf install -y dnf-plugins-core"}, []string{"BLOCKED", "powertools"}},
		{"alma-10", DNF4, []string{"--set-enabled crb"}, nil},
		{"rhel-8", DNF4, []string{"subscription-manager repos --enable codeready-builder-for-rhel-8-x86_64-rpms"}, []string{"config-manager"}},
		{"fedora-40", DNF4, []string{"dnf install -y gcc python3 python3-devel libev-devel"}, []string{"repos:", "config-manager"}},
		{"fedora-41", DNF5, []string{"dnf install -y gcc"}, []string{"--add-repo"}},
		{"debian-12", Apt, []string{"apt-get install -y --no-install-recommends gcc libev-dev python3 python3-venv python3-dev"}, []string{"repos:"}},
		{"ubuntu-24.04", Apt, []string{"add-apt-repository -y universe"}, nil},
	}
	for _, c := range cases {
		h := hostOf(t, c.host)
		if h.PackageManager() != c.pm {
			t.Errorf("%s: package manager %s, want %s", c.host, h.PackageManager(), c.pm)
		}
		p, err := BuildPlan(h, Options{Arch: "x86_64"})
		if err != nil {
			t.Fatal(err)
		}
		text := p.Render()
		for _, s := range c.contains {
			if !strings.Contains(text, s) {
				t.Errorf("%s: plan lacks %q:\n%s", c.host, s, text)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(text, s) {
				t.Errorf("%s: plan has %q:\n%s", c.host, s, text)
			}
		}
	}
}

func TestUnsupportedHosts(t *testing.T) {
	cases := map[string]string{
		"ID=arch\nNAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nBUILD_ID=rolling\n":             `"Arch Linux" (ID=arch VERSION_ID=)`,
		"ID=\"centos\"\nNAME=\"CentOS Linux\"\nVERSION_ID=\"6\"\nPRETTY_NAME=\"CentOS Linux 6\"\n": "centos 6 is not a supported release",
		"ID=debian\nVERSION_ID=\"10\"\nPRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\n":             "debian 10 is not a supported release",
		"ID=ubuntu\nVERSION_ID=\"20.04\"\nPRETTY_NAME=\"Ubuntu 20.04.6 LTS\"\n":                    "ubuntu 20.04",
		"ID=opensuse-leap\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n":              `"openSUSE Leap 15.5" (ID=opensuse-leap VERSION_ID=15.5): not a distribution whisgee knows`,
		"ID=fedora\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39\"\n":                              "fedora 39",
	}
	for osr, want := range cases {
		f, _ := ParseOSRelease(strings.NewReader(osr))
		_, err := HostFromOSRelease(f)
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want an UnsupportedError", osr, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, want) || !strings.HasPrefix(msg, "unsupported host: ") {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
}

func TestDetectHostReadsRoot(t *testing.T) {
	root := t.TempDir()
	if _, err := DetectHost(root); err == nil || !strings.Contains(err.Error(), "no os-release") {
		t.Fatalf("empty root: got %v, want a no-os-release error", err)
	}
	os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/os-release"), []byte(osReleases["rocky-8"]), 0o644)
	h, err := DetectHost(root)
	if err != nil {
		t.Fatal(err)
	}
	if h.Distro != Rocky || h.Major != 8 || h.Minor != 10 || h.Root != root {
		t.Fatalf("got %+v", h)
	}
}

func TestOptionErrors(t *testing.T) {
	rocky := hostOf(t, "rocky-9")
	debian := hostOf(t, "debian-12")
	cases := []struct {
		h    *Host
		opts Options
		want string
	}{
		{rocky, Options{EnvoyRepo: "https://getenvoy.io/linux/centos/tetrate-getenvoy.repo"}, "HTTP 402"},
		{rocky, Options{EnvoyRepo: "ftp://x/y.repo"}, "http(s):// or file://"},
		{rocky, Options{EnvoySource: EnvoyRepo}, "needs --envoy-repo"},
		{rocky, Options{EnvoySource: EnvoySkip, EnvoyRepo: "https://m/e.repo"}, "drop one of them"},
		{rocky, Options{EnvoyVersion: "latest"}, "want a release like 1.39.1"},
		{rocky, Options{Root: "image"}, "absolute"},
		{rocky, Options{Only: []string{"pakages"}}, `--only: no step "pakages"`},
		{rocky, Options{Workers: -1}, "want 1 to 1024"},
		{debian, Options{Root: "/srv/img"}, "needs dnf or yum"},
		{debian, Options{EnvoyRepo: "https://m/e.repo"}, "uses apt"},
	}
	for _, c := range cases {
		_, err := BuildPlan(c.h, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error with %q", c.opts, err, c.want)
		}
	}
}

func TestPipShowSatisfies(t *testing.T) {
	out := "Name: circus\nVersion: 0.18.0\nSummary: x\n---\nName: Chaussette\nVersion: 1.3.0\n"
	if !pipShowSatisfies([]string{"circus", "chaussette"})(out) {
		t.Error("circus and chaussette are both shown")
	}
	if pipShowSatisfies([]string{"circus>=0.19", "chaussette"})(out) {
		t.Error("circus 0.18.0 does not satisfy >=0.19")
	}
	if pipShowSatisfies([]string{"circus", "bjoern"})(out) {
		t.Error("bjoern is not shown")
	}
}

func TestParseEnvoyVersion(t *testing.T) {
	b, err := ParseEnvoyVersion("\nenvoy  version: 0123456789abcdef0123456789abcdef01234567/1.39.1/Clean/RELEASE/BoringSSL\n")
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != "1.39.1" || b.SHA != "0123456789abcdef0123456789abcdef01234567" || b.Mode != "RELEASE" || b.SSL != "BoringSSL" {
		t.Fatalf("got %+v", b)
	}
	if _, err := ParseEnvoyVersion("envoy: command not found"); err == nil {
		t.Fatal("want an error for output that is no version")
	}
}

func TestDiagnoseKnownFailures(t *testing.T) {
	rocky8, el7, ubuntu := hostOf(t, "rocky-8"), hostOf(t, "centos-7"), hostOf(t, "ubuntu-24.04")
	cases := []struct {
		h      *Host
		output string
		want   string
	}{
		{rocky8, "_bjoern.c:2:10: fatal error: ev.h: No such file or directory", "it is in powertools: dnf config-manager --set-enabled powertools"},
		{el7, "_bjoern.c:2:10: fatal error: ev.h: No such file or directory", "EPEL"},
		{ubuntu, "fatal error: ev.h: No such file or directory", "libev-dev, in universe"},
		{rocky8, "envoy: /lib64/libm.so.6: version `GLIBC_2.29' not found (required by envoy)", "this host has glibc 2.28"},
		{el7, "Errors during downloading metadata for repository 'tetrate-getenvoy-rpm-stable': Status code: 402", "GetEnvoy was shut down in 2021"},
		{el7, "Could not retrieve mirrorlist http://mirrorlist.centos.org/?release=7 error was 14: curl#6 - \"Could not resolve host: mirrorlist.centos.org\"", "vault.centos.org"},
		{rocky8, "Error: Unable to find a match: envoy-bin", "no enabled repository has envoy-bin"},
		{rocky8, "sudo: a password is required", "sudo whisgee install"},
		{rocky8, "ERROR: Could not find a version that satisfies the requirement circus>=0.19 (from versions: none)", "pip found no circus>=0.19"},
		{rocky8, "Error: [Errno 13] Permission denied: '/opt/whisgee'", "--venv DIR"},
		{rocky8, "something nobody has seen", ""},
	}
	for _, c := range cases {
		got := Diagnose(c.h, "x86_64", c.output)
		if (c.want == "" && got != "") || !strings.Contains(got, c.want) {
			t.Errorf("Diagnose(%q) = %q, want it to contain %q", c.output, got, c.want)
		}
	}
}
