package installer

import (
	"fmt"
	"strconv"
	"strings"
)

// PackageManager is the tool that installs system packages on a host.
type PackageManager string

// Package managers, by the command line they take.
const (
	Yum  PackageManager = "yum"  // CentOS 7
	DNF4 PackageManager = "dnf"  // EL8-10, Fedora 40 and older
	DNF5 PackageManager = "dnf5" // Fedora 41 and newer: `dnf` is dnf5
	Apt  PackageManager = "apt"  // Debian, Ubuntu
)

// PackageManager returns the host's package manager.
func (h *Host) PackageManager() PackageManager {
	switch {
	case h.Distro == CentOS:
		return Yum
	case h.Distro == Fedora && h.Major >= 41:
		return DNF5
	case h.Distro == Debian || h.Distro == Ubuntu:
		return Apt
	}
	return DNF4
}

// Version is a dotted major.minor version, e.g. glibc 2.28 or Python 3.11.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v comes before w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

// ParseVersion reads "3.11" or "2.28" (more parts are ignored).
func ParseVersion(s string) (Version, bool) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return Version{}, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return Version{}, false
	}
	return Version{maj, min}, true
}

// EnvoyMinGlibc is the oldest glibc Envoy's release binaries run on: on EL7
// (2.17) and EL8 (2.28) they fail with "GLIBC_2.29 not found".
var EnvoyMinGlibc = Version{2, 29}

// Glibc is the glibc version the host's release ships.
func (h *Host) Glibc() Version {
	switch {
	case h.Distro == CentOS:
		return Version{2, 17}
	case h.EnterpriseLinux() && h.Major == 8:
		return Version{2, 28}
	case h.EnterpriseLinux() && h.Major == 9:
		return Version{2, 34}
	case h.EnterpriseLinux():
		return Version{2, 39}
	case h.Distro == Fedora && h.Major <= 40:
		return Version{2, 39}
	case h.Distro == Fedora && h.Major == 41:
		return Version{2, 40}
	case h.Distro == Fedora:
		return Version{2, 41}
	case h.Distro == Debian && h.Major == 11:
		return Version{2, 31}
	case h.Distro == Debian:
		return Version{2, 36}
	case h.VersionID == "22.04":
		return Version{2, 35}
	}
	return Version{2, 39} // Ubuntu 24.04
}

// DefaultPython is the interpreter whisgee builds the venv with when none is
// asked for, and the version that command has on this release. EL8's
// python3 is 3.6, too old for current circus: use its python3.11 stream.
func (h *Host) DefaultPython() (string, Version) {
	switch {
	case h.Distro == CentOS:
		return "python3", Version{3, 6}
	case h.EnterpriseLinux() && h.Major == 8:
		return "python3.11", Version{3, 11}
	case h.EnterpriseLinux() && h.Major == 9:
		return "python3", Version{3, 9}
	case h.EnterpriseLinux():
		return "python3", Version{3, 12}
	case h.Distro == Fedora && h.Major <= 40:
		return "python3", Version{3, 12}
	case h.Distro == Fedora && h.Major <= 42:
		return "python3", Version{3, 13}
	case h.Distro == Fedora:
		return "python3", Version{3, 14}
	case h.Distro == Debian && h.Major == 11:
		return "python3", Version{3, 9}
	case h.Distro == Debian:
		return "python3", Version{3, 11}
	case h.VersionID == "22.04":
		return "python3", Version{3, 10}
	}
	return "python3", Version{3, 12}
}

// pythonVersionOf guesses the version of an interpreter command: from its
// name (python3.11) or, for plain python3, the release's default.
func (h *Host) pythonVersionOf(python string) (Version, bool) {
	base := python[strings.LastIndexByte(python, '/')+1:]
	if v, ok := ParseVersion(strings.TrimPrefix(base, "python")); ok {
		return v, true
	}
	if base == "python3" {
		_, v := h.DefaultPython()
		return v, true
	}
	return Version{}, false
}

// pythonPackages are the system packages an interpreter command needs to
// build a venv with C extensions: the interpreter and its headers.
func (h *Host) pythonPackages(python string) []string {
	base := python[strings.LastIndexByte(python, '/')+1:]
	if !strings.HasPrefix(base, "python3") {
		base = "python3"
	}
	if h.PackageManager() == Apt {
		// Debian splits venv (ensurepip) out of the interpreter.
		return []string{base, base + "-venv", base + "-dev"}
	}
	return []string{base, base + "-devel"}
}

// libevRepo says where libev-devel lives on an RPM host and how to turn
// that repository on. Fedora's main repo has it: no repo is returned.
type libevRepo struct {
	// Name is how operators call the repo: "crb", "powertools", "epel",
	// "codeready-builder".
	Name string
	// ID is the repository id to enable.
	ID string
}

func (h *Host) libevRepo(arch string) (libevRepo, bool) {
	switch {
	case h.Distro == CentOS:
		return libevRepo{Name: "epel", ID: "epel"}, true
	case h.Distro == RHEL:
		return libevRepo{Name: "codeready-builder", ID: fmt.Sprintf("codeready-builder-for-rhel-%d-%s-rpms", h.Major, arch)}, true
	case h.EnterpriseLinux() && h.Major == 8:
		// "PowerTools" was renamed "powertools" in 8.3.
		return libevRepo{Name: "powertools", ID: "powertools"}, true
	case h.EnterpriseLinux():
		return libevRepo{Name: "crb", ID: "crb"}, true
	}
	return libevRepo{}, false
}

// eolNote explains an end-of-life release whose mirrors are gone, or "".
func (h *Host) eolNote() string {
	switch {
	case h.Distro == CentOS:
		return "CentOS 7 reached end of life on 2024-06-30 and mirrorlist.centos.org no longer resolves: whisgee points yum at vault.centos.org (7.9.2009) and at the EPEL 7 archive"
	case h.Distro == CentOSStream && h.Major == 8:
		return "CentOS Stream 8 reached end of life on 2024-05-31; its repos moved to vault.centos.org: consider CentOS Stream 9 or a RHEL rebuild"
	}
	return ""
}
