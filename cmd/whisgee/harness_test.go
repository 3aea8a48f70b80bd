package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// whisgeeBin is the binary under test, built once by TestMain.
var whisgeeBin string

func TestMain(m *testing.M) {
	supervisor.MaybeRunShim()
	maybeRecordExit()
	dir, err := os.MkdirTemp("", "whisgee-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	whisgeeBin = filepath.Join(dir, "whisgee")
	build := exec.Command("go", "build", "-o", whisgeeBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building whisgee:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string { return testenv.FreeAddr(t) }

func shortDir(t *testing.T) string { return testenv.ShortDir(t) }

// upStack is a `whisgee up` process started by a test.
type upStack struct {
	t      *testing.T
	dir    string
	config string
	listen string
	admin  string
	cmd    *exec.Cmd
	out    *testenv.Buffer
	exited chan struct{}
	client *control.Client
}

// writeStack writes whisgee.yaml (and app.py) into a fresh short dir; extra
// is appended to the config. It returns the dir and the config's path.
func writeStack(t *testing.T, app, extra string) (dir, cfgPath, listen, admin string) {
	t.Helper()
	dir = shortDir(t)
	if app != "" {
		if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	listen, admin = freePort(t), freePort(t)
	yaml := fmt.Sprintf("proxy:\n  listen: %s\n  admin: %s\ncontrol:\n  socket: ctl.sock\n%s", listen, admin, extra)
	cfgPath = filepath.Join(dir, "whisgee.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath, listen, admin
}

// startUp runs `whisgee up -c cfgPath` and waits until every worker runs.
func startUp(t *testing.T, dir, cfgPath, listen, admin string, workers int) *upStack {
	t.Helper()
	s := launchUp(t, exec.Command(whisgeeBin, "up", "-c", cfgPath), filepath.Join(dir, "ctl.sock"))
	s.dir, s.config, s.listen, s.admin = dir, cfgPath, listen, admin
	s.waitRunning(workers)
	return s
}

// launchUp starts cmd, a `whisgee up` whose control socket is sock,
// without waiting for its workers; it is stopped when the test ends.
func launchUp(t *testing.T, cmd *exec.Cmd, sock string) *upStack {
	t.Helper()
	s := &upStack{t: t, cmd: cmd, out: &testenv.Buffer{}, exited: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	s.client = control.NewClient(sock)
	t.Cleanup(s.client.Close)
	return s
}

// waitRunning waits until n workers run and pass their health checks.
func (s *upStack) waitRunning(n int) {
	s.t.Helper()
	s.waitWorkers(fmt.Sprintf("%d running workers", n), func(ws []supervisor.Worker) bool {
		if len(ws) != n {
			return false
		}
		for _, w := range ws {
			if w.State != supervisor.StateRunning || !w.Healthy {
				return false
			}
		}
		return true
	})
}

// stop sends SIGTERM and waits; it kills the process if it hangs.
func (s *upStack) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("whisgee up did not stop within 40s of SIGTERM; output:\n%s", s.out.String())
	}
}

func (s *upStack) status() control.Status {
	s.t.Helper()
	st, err := s.client.Status(context.Background())
	if err != nil {
		s.t.Fatalf("status: %v\noutput of whisgee up:\n%s", err, s.out.String())
	}
	return st
}

// waitWorkers polls status until cond holds (20 s at most).
func (s *upStack) waitWorkers(what string, cond func([]supervisor.Worker) bool) []supervisor.Worker {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []supervisor.Worker
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.t.Fatalf("whisgee up exited while waiting for %s; output:\n%s", what, s.out.String())
		default:
		}
		st, err := s.client.Status(context.Background())
		if err == nil {
			last = st.Workers
			if cond(st.Workers) {
				return st.Workers
			}
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %s; last workers %+v, last error %v; output:\n%s", what, last, lastErr, s.out.String())
	return nil
}

// ctl runs `whisgee ctl -c CONFIG args...` and returns its output.
func (s *upStack) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, whisgeeBin, append([]string{"ctl", "-c", s.config}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *upStack) mustCtl(args ...string) string {
	s.t.Helper()
	out, err := s.ctl(args...)
	if err != nil {
		s.t.Fatalf("whisgee ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *upStack) statusJSON() control.Status {
	s.t.Helper()
	var st control.Status
	out := s.mustCtl("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		s.t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return st
}

func pids(ws []supervisor.Worker) map[int]int {
	m := map[int]int{}
	for _, w := range ws {
		m[w.ID] = w.PID
	}
	return m
}

// python finds Debian's python3 (it has the packages the tests use).
func python(t *testing.T, modules ...string) string {
	return testenv.PythonWith(t, modules...)
}

const helloApp = `import os
def application(environ, start_response):
    if environ.get("REQUEST_METHOD") == "POST":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
    else:
        body = ("hello from %d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`
