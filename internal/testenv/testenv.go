// Package testenv lets tests that need a real tool (nginx, dnf, chaussette,
// a Python module) skip with a message where the machine lacks it, and fail
// instead when WHISGEE_REQUIRE_INTEGRATION=1, as CI sets it: a CI run must
// never pass by skipping.
package testenv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
)

// Required reports whether integration tools are required (CI).
func Required() bool { return os.Getenv("WHISGEE_REQUIRE_INTEGRATION") == "1" }

// Missing skips the test, or fails it when tools are required, saying what
// is missing and how to get it.
func Missing(t testing.TB, what, howToGet string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is missing and WHISGEE_REQUIRE_INTEGRATION=1: %s", what, howToGet)
	}
	t.Skipf("%s is missing (%s); skipping", what, howToGet)
}

// Tool returns the path of an executable on PATH (or at an absolute path),
// or skips/fails the test as Missing does.
func Tool(t testing.TB, name, howToGet string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, howToGet)
	}
	return p
}

// PythonWith returns a python3 that can import every module given, trying
// Debian's /usr/bin/python3 first (where apt installs python3-* packages),
// then python3 on PATH.
func PythonWith(t testing.TB, modules ...string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		args := []string{"-c", "import sys"}
		for _, m := range modules {
			args[1] += "; import " + m
		}
		if exec.Command(p, args...).Run() == nil {
			return p
		}
	}
	Missing(t, "python3 with modules "+joinNames(modules), "apt-get install python3 and the python3-* packages named")
	return ""
}

func joinNames(ms []string) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m
	}
	if s == "" {
		return "(none)"
	}
	return s
}

// ShortDir makes a temp dir with a short path (Unix socket paths must stay
// under about 100 bytes; t.TempDir() paths can be longer) and removes it
// when the test ends.
func ShortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// FreeAddr returns a loopback HOST:PORT that nothing listens on, for a
// config another process will bind. The port is picked below the kernel's
// ephemeral range, so the local end of some test's outgoing connection
// cannot take it between now and the bind, and port+1 is free too (circus
// puts its pubsub endpoint there).
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, _ := ephemeralRange()
	for try := 0; try < 200; try++ {
		port := 10000 + rand.IntN(max(lo-10000-1, 1000))
		if free(port) && free(port+1) {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return ""
}

func free(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralRange reads the ports the kernel hands to outgoing connections.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var a, z int
	if n, _ := fmt.Sscan(string(b), &a, &z); n == 2 && a > 11000 {
		lo, hi = a, z
	}
	return lo, hi
}

// Buffer is a bytes.Buffer safe for a process (or a renderer) writing while
// the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
