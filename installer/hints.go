package installer

import (
	"fmt"
	"regexp"
	"strings"
)

// A failure whisgee knows: a pattern in a command's output and what to do.
type knownFailure struct {
	re   *regexp.Regexp
	hint func(h *Host, arch string, m []string) string
}

var knownFailures = []knownFailure{
	{regexp.MustCompile(`fatal error: (ev\.h): No such file or directory`), libevHint},
	{regexp.MustCompile(`fatal error: (Python\.h): No such file or directory`), func(h *Host, _ string, _ []string) string {
		if h != nil && h.PackageManager() == Apt {
			return "the C extension needs Python's headers: install python3-dev (the packages step does)"
		}
		return "the C extension needs Python's headers: install python3-devel (the packages step does)"
	}},
	{regexp.MustCompile(`fatal error: ([\w./+-]+\.h): No such file or directory`), func(h *Host, _ string, m []string) string {
		if h != nil && h.PackageManager() == Apt {
			return fmt.Sprintf("a C header is missing: %s; find its package with `apt-file search %s` and install it", m[1], m[1])
		}
		return fmt.Sprintf("a C header is missing: %s; find its package with `dnf provides '*/%s'` and install it", m[1], m[1])
	}},
	{regexp.MustCompile(`(?:command '[^']*gcc' failed|gcc: (?:command )?not found|No such file or directory: '(?:x86_64-linux-gnu-)?gcc')`), func(*Host, string, []string) string {
		return "no C compiler: install gcc (the packages step does)"
	}},
	{regexp.MustCompile(`version .?(GLIBC_[0-9.]+).? not found`), func(h *Host, _ string, m []string) string {
		have := ""
		if h != nil {
			have = " (this host has glibc " + h.Glibc().String() + ")"
		}
		return fmt.Sprintf("this host's glibc is too old for Envoy's release binary: it needs %s%s; install Envoy built for this OS from your mirror (--envoy-repo URL) or skip it (--envoy-source skip; the built-in proxy needs none)", m[1], have)
	}},
	{regexp.MustCompile(`(?i)getenvoy|tetrate.*(402|payment required)|(402|payment required).*tetrate`), func(*Host, string, []string) string {
		return "GetEnvoy was shut down in 2021 and its repo answers HTTP 402: that repo is gone; remove its .repo file from /etc/yum.repos.d (whisgee's repos step moves it aside) and install Envoy from the release binary or your own mirror (--envoy-repo)"
	}},
	{regexp.MustCompile(`mirrorlist\.centos\.org|Cannot find a valid baseurl for repo`), func(*Host, string, []string) string {
		return "CentOS 7 is end of life and mirrorlist.centos.org no longer resolves: whisgee's repos step points yum at vault.centos.org; run it first (whisgee install --only repos)"
	}},
	{regexp.MustCompile(`(?:is not signed|GPG check FAILED|public key for .* is not installed|NOKEY)`), func(*Host, string, []string) string {
		return "a package failed its signature check: the repo must sign its packages and name the key (gpgkey=) in its .repo file; whisgee never turns gpgcheck off"
	}},
	{regexp.MustCompile(`(?:No match for argument|Unable to find a match|No package (\S+) available|Unable to locate package)[: ]*(\S*)`), func(h *Host, arch string, m []string) string {
		name := m[2]
		if name == "" {
			name = m[1]
		}
		if strings.HasPrefix(name, "libev-dev") {
			return "no enabled repository has " + name + "; " + libevWhere(h, arch)
		}
		return fmt.Sprintf("no enabled repository has %s: check the name, or add the repo that carries it (for Envoy from your mirror: --envoy-repo URL, and --envoy-package if it is not called envoy)", name)
	}},
	{regexp.MustCompile(`(?:Could not resolve host|Temporary failure in name resolution|Network is unreachable|Failed to download metadata|Cannot download repomd\.xml|Could not fetch/save url)`), func(*Host, string, []string) string {
		return "a repository or download could not be reached: check the network or proxy; offline, use --wheelhouse DIR for pip and --envoy-repo with a local mirror"
	}},
	{regexp.MustCompile(`sudo: (?:a password is required|a terminal is required)`), func(*Host, string, []string) string {
		return "this step needs root and `sudo -n` would ask for a password: run `sudo whisgee install ...`, or allow this user passwordless sudo"
	}},
	{regexp.MustCompile(`(?:Permission denied|permission denied|EACCES)`), func(*Host, string, []string) string {
		return "permission denied: run `sudo whisgee install ...`, or pick paths you can write (--venv DIR, --config FILE)"
	}},
	{regexp.MustCompile(`No module named (?:venv|ensurepip)|ensurepip is not available`), func(h *Host, _ string, _ []string) string {
		return "this Python cannot make virtualenvs: install python3-venv (the packages step does on Debian and Ubuntu)"
	}},
	{regexp.MustCompile(`(?:Could not find a version that satisfies the requirement|No matching distribution found for) (\S+)`), func(_ *Host, _ string, m []string) string {
		return fmt.Sprintf("pip found no %s: with --wheelhouse, put a wheel (or sdist) of it in that directory; otherwise check PyPI is reachable", m[1])
	}},
}

// Diagnose looks at a failed command's output (or error) and says what to
// do, or "" when the failure is not one whisgee knows. h, when known,
// makes the hint name this host's packages and repos.
func Diagnose(h *Host, arch, output string) string {
	for _, k := range knownFailures {
		if m := k.re.FindStringSubmatch(output); m != nil {
			return k.hint(h, arch, m)
		}
	}
	return ""
}

// libevHint: bjoern's build needs libev's header.
func libevHint(h *Host, arch string, _ []string) string {
	return "bjoern's build needs ev.h: install libev-devel; " + libevWhere(h, arch)
}

// libevWhere says which repository has libev-devel on this host and how
// to turn it on.
func libevWhere(h *Host, arch string) string {
	if h == nil {
		return "on Debian/Ubuntu it is libev-dev; on EL8 it is in powertools, on EL9/10 in crb, on EL7 in EPEL"
	}
	if h.PackageManager() == Apt {
		if h.Distro == Ubuntu {
			return "on Ubuntu it is libev-dev, in universe: add-apt-repository universe"
		}
		return "on Debian it is libev-dev"
	}
	if arch == "" {
		arch = "x86_64"
	}
	repo, ok := h.libevRepo(arch)
	if !ok {
		return "it is in Fedora's main repo: dnf install libev-devel"
	}
	switch repo.Name {
	case "epel":
		return "it is in EPEL (on CentOS 7, the EPEL 7 archive; whisgee's repos step sets it up)"
	case "codeready-builder":
		return "it is in CodeReady Builder: subscription-manager repos --enable " + repo.ID
	}
	return "it is in " + repo.Name + ": dnf config-manager --set-enabled " + repo.ID + " (needs dnf-plugins-core; whisgee's repos step does this)"
}
