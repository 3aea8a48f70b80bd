package builtin

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// The WSGI app the real workers serve: it names its process, and takes a
// few milliseconds so requests are in flight when a worker is killed.
const pidApp = `import os, time
def application(environ, start_response):
    if environ.get("HTTP_USER_AGENT") != "whisgee-health":
        time.sleep(0.003)
    body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                              ("X-Worker", "pid-%d" % os.getpid())])
    return [body]
`

// pyWorker is a real Python worker process (assets' runner) serving on a
// socket the test bound and keeps, as the supervisor does: the socket
// outlives the process, so a respawn serves the same address.
type pyWorker struct {
	t      *testing.T
	python string
	runner string
	dir    string
	ln     *net.UnixListener
	file   *os.File
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func startPyWorker(t *testing.T, python, runner, dir string, id int) *pyWorker {
	path := filepath.Join(dir, fmt.Sprintf("worker-%d.sock", id))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	w := &pyWorker{t: t, python: python, runner: runner, dir: dir, ln: ln, file: f}
	t.Cleanup(func() {
		w.kill()
		f.Close()
		ln.Close()
	})
	w.spawn()
	return w
}

func (w *pyWorker) backend(id int) supervisor.Backend {
	return supervisor.Backend{ID: id, Network: "unix", Address: w.ln.Addr().String()}
}

// spawn starts a runner process on the socket, as fd 3.
func (w *pyWorker) spawn() {
	cmd := exec.Command(w.python, w.runner, "--fd", "3", "--app", "pidapp:application", "--dir", w.dir)
	cmd.ExtraFiles = []*os.File{w.file}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	w.mu.Lock()
	w.cmd, w.exited = cmd, exited
	w.mu.Unlock()
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *pyWorker) kill() {
	w.mu.Lock()
	cmd, exited := w.cmd, w.exited
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

func TestRealPythonWorkersKill9UnderGETLoadFailsNothing(t *testing.T) {
	python := testenv.PythonWith(t)
	dir := testenv.ShortDir(t)
	runner, err := assets.WriteFile(dir, "whisgee_runner.py", assets.Runner(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pidapp.py"), []byte(pidApp), 0o644); err != nil {
		t.Fatal(err)
	}
	w0 := startPyWorker(t, python, runner, dir, 0)
	w1 := startPyWorker(t, python, runner, dir, 1)
	cfg := testConfig(t, "")
	cfg.Workers.Health.Interval = 100 * time.Millisecond
	p := startProxy(t, cfg, Options{}, w0.backend(0), w1.backend(1))

	stop := make(chan struct{})
	l := startLoad(t, "http://"+p.Addr("http")+"/", 6, stop)
	pid0 := fmt.Sprintf("pid-%d", w0.cmd.Process.Pid)
	waitFor(t, "load on both workers", 20*time.Second, func() bool {
		return l.count(pid0) > 20 && l.count(fmt.Sprintf("pid-%d", w1.cmd.Process.Pid)) > 20
	})

	w0.kill() // mid-load: requests in flight on it die with it
	w0.spawn()
	newPid := fmt.Sprintf("pid-%d", w0.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new worker 0 serving", 20*time.Second, func() bool { return l.count(newPid) > 20 })
	close(stop)
	l.wg.Wait()
	if len(l.failures) > 0 {
		t.Fatalf("%d GETs failed around a kill -9, first: %s", len(l.failures), l.failures[0])
	}
	s, _ := p.Snapshot(ctx)
	t.Logf("served %d requests, %d retried, by worker: %v", s.Listeners[0].Requests, s.Cluster.Retries, l.byWorker)
}
