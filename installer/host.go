package installer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Host is what /etc/os-release says about a machine (or an image root),
// mapped onto the families whisgee knows how to set up.
type Host struct {
	// ID, IDLike, VersionID and PrettyName are os-release's fields.
	ID         string
	IDLike     []string
	VersionID  string
	PrettyName string
	// Distro is the supported distribution this host was matched to.
	Distro Distro
	// Major and Minor are VersionID's numbers (Minor -1 when absent).
	Major, Minor int
	// Root is the directory the host lives in: "" or "/" for this machine,
	// else an image root (dnf --installroot).
	Root string
}

// Distro names a supported distribution.
type Distro string

// Supported distributions.
const (
	CentOS       Distro = "centos"        // CentOS Linux 7
	CentOSStream Distro = "centos-stream" // CentOS Stream 8, 9, 10
	RHEL         Distro = "rhel"
	Rocky        Distro = "rocky"
	Alma         Distro = "almalinux"
	Fedora       Distro = "fedora"
	Debian       Distro = "debian"
	Ubuntu       Distro = "ubuntu"
)

// UnsupportedError is a host whisgee cannot set up; its message names what
// was found and what is supported.
type UnsupportedError struct {
	// Found describes the host, e.g. `"Arch Linux" (ID=arch VERSION_ID=)`.
	Found string
	// Why says what is missing, e.g. "CentOS Linux 6 is not supported".
	Why string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported host: %s: %s; whisgee installs on CentOS 7, CentOS Stream 8/9/10, RHEL/Rocky/Alma 8/9/10, Fedora 40+, Debian 11/12 and Ubuntu 22.04/24.04", e.Found, e.Why)
}

// DetectHost reads root/etc/os-release (or root/usr/lib/os-release) and
// matches it to a supported distribution. root "" means this machine.
func DetectHost(root string) (*Host, error) {
	var firstErr error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		path := filepath.Join(rootOrSlash(root), p)
		f, err := os.Open(path)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		defer f.Close()
		fields, err := ParseOSRelease(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		h, err := HostFromOSRelease(fields)
		if err != nil {
			return nil, err
		}
		h.Root = root
		return h, nil
	}
	if errors.Is(firstErr, os.ErrNotExist) {
		return nil, &UnsupportedError{Found: "no os-release in " + filepath.Join(rootOrSlash(root), "etc"), Why: "cannot tell which distribution this is"}
	}
	return nil, fmt.Errorf("reading os-release: %w", firstErr)
}

// ParseOSRelease reads os-release's KEY=value lines (values optionally
// quoted, with shell-style backslash escapes inside double quotes).
func ParseOSRelease(r io.Reader) (map[string]string, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue // os-release(5): lines that are not assignments are ignored
		}
		fields[k] = cleanOSRelease(unquoteOSRelease(v))
	}
	return fields, sc.Err()
}

// maxOSReleaseValue bounds one os-release value, in bytes.
const maxOSReleaseValue = 256

// cleanOSRelease keeps an os-release value to printable text of bounded
// length. An image's os-release is its author's text, and its values reach
// the plan, the report and whisgee.yaml's first comment, where a carriage
// return would end the comment and start a key of the author's choosing
// (and an escape sequence would reach the operator's terminal).
func cleanOSRelease(v string) string {
	var b strings.Builder
	for _, r := range v {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxOSReleaseValue {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' {
			var b bytes.Buffer
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		}
	}
	return v
}

// versionRE is what a VERSION_ID may hold (os-release(5): lower-case
// letters, digits, ".", "_" and "-"); it reaches dnf's --releasever.
var versionRE = regexp.MustCompile(`^[0-9][0-9A-Za-z._-]*$`)

// HostFromOSRelease matches os-release fields to a supported distribution.
func HostFromOSRelease(f map[string]string) (*Host, error) {
	h := &Host{
		ID:         strings.ToLower(f["ID"]),
		IDLike:     strings.Fields(strings.ToLower(f["ID_LIKE"])),
		VersionID:  f["VERSION_ID"],
		PrettyName: f["PRETTY_NAME"],
		Minor:      -1,
	}
	if h.PrettyName == "" {
		h.PrettyName = strings.TrimSpace(f["NAME"] + " " + h.VersionID)
	}
	found := fmt.Sprintf("%q (ID=%s VERSION_ID=%s)", h.PrettyName, h.ID, h.VersionID)
	unsupported := func(why string) (*Host, error) {
		return nil, &UnsupportedError{Found: found, Why: why}
	}
	major, minor, ok := splitVersion(h.VersionID)
	if !ok || !versionRE.MatchString(h.VersionID) {
		return unsupported("VERSION_ID is not a version number")
	}
	h.Major, h.Minor = major, minor
	switch h.ID {
	case "centos":
		// CentOS Linux 7 and CentOS Stream share ID=centos; Stream says so
		// in NAME (and has no minor version).
		if strings.Contains(strings.ToLower(f["NAME"]+" "+h.PrettyName), "stream") || major >= 8 {
			h.Distro = CentOSStream
		} else {
			h.Distro = CentOS
		}
	case "rhel":
		h.Distro = RHEL
	case "rocky":
		h.Distro = Rocky
	case "almalinux":
		h.Distro = Alma
	case "fedora":
		h.Distro = Fedora
	case "debian":
		h.Distro = Debian
	case "ubuntu":
		h.Distro = Ubuntu
	default:
		return unsupported("not a distribution whisgee knows")
	}
	if !h.versionSupported() {
		return unsupported(fmt.Sprintf("%s %s is not a supported release", h.Distro, h.VersionID))
	}
	return h, nil
}

func (h *Host) versionSupported() bool {
	switch h.Distro {
	case CentOS:
		return h.Major == 7
	case CentOSStream, RHEL, Rocky, Alma:
		return h.Major >= 8 && h.Major <= 10
	case Fedora:
		return h.Major >= 40
	case Debian:
		return h.Major == 11 || h.Major == 12
	case Ubuntu:
		return h.VersionID == "22.04" || h.VersionID == "24.04"
	}
	return false
}

func splitVersion(v string) (major, minor int, ok bool) {
	a, b, hasMinor := strings.Cut(v, ".")
	major, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	minor = -1
	if hasMinor {
		if m, err := strconv.Atoi(strings.SplitN(b, ".", 2)[0]); err == nil {
			minor = m
		}
	}
	return major, minor, true
}

// EnterpriseLinux reports whether the host is an EL rebuild (CentOS,
// CentOS Stream, RHEL, Rocky, Alma).
func (h *Host) EnterpriseLinux() bool {
	switch h.Distro {
	case CentOS, CentOSStream, RHEL, Rocky, Alma:
		return true
	}
	return false
}

// String is the host as an operator reads it: "CentOS Stream 9 (centos-stream 9)".
func (h *Host) String() string {
	return fmt.Sprintf("%s (%s %s)", h.PrettyName, h.Distro, h.VersionID)
}

func rootOrSlash(root string) string {
	if root == "" {
		return "/"
	}
	return root
}
