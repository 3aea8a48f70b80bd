package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
)

// Argv is the command a worker runs (before the exec shim): workers.cmd
// with {fd}, {socket} and {id} replaced, or the Python runner.
func (s *Local) Argv(id int, address string) []string {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	return s.argv(cfg, id, address)
}

func (s *Local) argv(cfg *config.Config, id int, address string) []string {
	if len(cfg.Workers.Cmd) > 0 {
		argv := make([]string, len(cfg.Workers.Cmd))
		r := strings.NewReplacer("{fd}", "3", "{socket}", address, "{id}", strconv.Itoa(id))
		for i, a := range cfg.Workers.Cmd {
			argv[i] = r.Replace(a)
		}
		return argv
	}
	return []string{
		cfg.App.Python, s.opts.RunnerPath,
		"--fd", "3",
		"--app", cfg.App.Module,
		"--dir", cfg.App.Dir,
		"--server", cfg.Workers.Server,
		"--stop-signal", cfg.Workers.StopSignal,
		"--graceful-timeout", strconv.FormatFloat(cfg.Workers.GracefulTimeout.Seconds(), 'f', -1, 64),
	}
}

// spawnLocked starts a process for w on its socket. A failure to start is
// handled like a crash (the slot backs off and retries).
func (s *Local) spawnLocked(w *worker, why string) {
	if s.closing {
		return
	}
	err := s.rebindLocked(w)
	var p *proc
	if err == nil {
		p, err = s.startProcess(w)
	}
	if err != nil {
		w.err = fmt.Sprintf("cannot start: %v", err)
		s.hub.Publish(Event{Kind: EventError, Worker: w.id, Message: w.name + ": " + w.err})
		if w.driven {
			s.setStateLocked(w, StateFailed, w.err) // the action reports it
		} else {
			s.crashedLocked(w, nil)
		}
		return
	}
	if w.started {
		w.restarts++
	}
	w.started = true
	w.proc = p
	w.err = ""
	s.hub.Publish(Event{Kind: EventSpawn, Worker: w.id, PID: p.pid, Message: fmt.Sprintf("%s spawned pid %d (%s)", w.name, p.pid, why)})
	s.setStateLocked(w, StateStarting, "")
	s.wg.Add(1)
	go s.wait(w, p)
	if !w.driven {
		go s.awaitHealthy(w, p, w.gen)
	}
}

// rebindLocked binds w's Unix socket again when its file was removed or
// replaced: the old listener is unreachable, so a process spawned on it
// would never see a request, and every restart would time out.
func (s *Local) rebindLocked(w *worker) error {
	if w.sock.fresh() {
		return nil
	}
	sock, err := bindUnix(w.sock.address, w.id)
	if err != nil {
		return err
	}
	old := w.sock
	w.sock = sock
	old.close() // no longer the file at the path: close leaves the new one
	s.hub.Publish(Event{Kind: EventError, Worker: w.id, Message: fmt.Sprintf("%s: socket %s was removed or replaced; bound it again", w.name, sock.address)})
	return nil
}

// startProcess forks the worker through the exec shim with its socket as
// fd 3 and pipes for stdout and stderr.
func (s *Local) startProcess(w *worker) (*proc, error) {
	cfg := s.cfg
	if w.spec != nil {
		cfg = w.spec
	}
	argv := append(append([]string(nil), s.opts.Shim...), s.argv(cfg, w.id, w.sock.address)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cfg.App.Dir
	cmd.Env = s.env(w, cfg)
	cmd.ExtraFiles = []*os.File{w.sock.file}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so SIGKILL can reach grandchildren too.
		Setpgid: true,
		// If the daemon dies without cleaning up, the workers die with it.
		Pdeathsig: syscall.SIGKILL,
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &proc{pid: cmd.Process.Pid, process: cmd.Process, started: s.opts.Now(), done: make(chan struct{})}
	if len(cfg.Workers.Cmd) == 0 {
		// The runner was told which signal stops it gracefully: it is
		// stopped with that one even if a reload changes the setting.
		if sig, err := config.ParseSignal(cfg.Workers.StopSignal); err == nil {
			p.stopSig, p.stopName = sig, cfg.Workers.StopSignal
		}
	}
	s.wg.Add(2)
	p.drained = make(chan struct{})
	p.pumping.Store(2)
	go s.pump(w, p, "stdout", outR)
	go s.pump(w, p, "stderr", errR)
	return p, nil
}

func (s *Local) env(w *worker, cfg *config.Config) []string {
	env := os.Environ()
	add := func(m map[string]string) {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	add(cfg.App.Env)
	add(cfg.Workers.Env)
	return append(env,
		"LISTEN_FDS=1",
		"LISTEN_FDNAMES="+w.name,
		"WHISGEE_WORKER_ID="+strconv.Itoa(w.id),
		"WHISGEE_SOCKET="+w.sock.address,
		"PYTHONUNBUFFERED=1",
	)
}

// pump copies one output stream of a process into the worker's log ring
// and the event hub.
func (s *Local) pump(w *worker, p *proc, stream string, f *os.File) {
	defer s.wg.Done()
	defer func() {
		if p.pumping.Add(-1) == 0 {
			close(p.drained)
		}
	}()
	defer f.Close()
	readLines(f, func(text string) {
		l := LogLine{Time: s.opts.Now(), Worker: w.id, PID: p.pid, Stream: stream, Text: text}
		ev := s.hub.Publish(Event{Kind: EventLog, Worker: w.id, PID: p.pid, Message: text, Log: &l})
		l.Seq = ev.Seq
		w.logs.add(l)
	})
}

// wait reaps a process the moment it exits and decides what happens next.
func (s *Local) wait(w *worker, p *proc) {
	defer s.wg.Done()
	state, err := p.process.Wait()
	desc, code := describeExit(state, err)
	// Its last lines may still be in the pipes: read them first, so that
	// what the exit reports (a traceback's last line) is there. A child
	// that kept the pipes open must not hold this up for long.
	select {
	case <-p.drained:
	case <-time.After(250 * time.Millisecond):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(p.done)
	if w.proc == p {
		w.proc = nil
	}
	w.lastExit, w.lastExitCode = desc, code
	s.hub.Publish(Event{Kind: EventExit, Worker: w.id, PID: p.pid, ExitCode: code, Message: fmt.Sprintf("%s pid %d exited: %s", w.name, p.pid, desc)})
	if p.expected || s.closing || w.driven {
		return
	}
	s.crashedLocked(w, p)
}

// crashedLocked handles an exit nobody asked for: back off and respawn,
// or mark the worker failed when it flaps.
func (s *Local) crashedLocked(w *worker, p *proc) {
	now := s.opts.Now()
	if w.crashes.add(now) {
		cl := s.cfg.Workers.CrashLoop
		last := ""
		if lines := w.logs.lastStderr(1); len(lines) > 0 {
			last = "; last stderr: " + lines[0]
		}
		w.err = fmt.Sprintf("crashed %d times within %s (last: %s)%s; fix it, then `whisgee ctl start %d`", cl.MaxCrashes, cl.Window, w.lastExit, last, w.id)
		s.setStateLocked(w, StateFailed, w.err)
		s.router.SetDraining(w.id, true)
		return
	}
	delay := s.backoff.Delay(w.attempt)
	w.attempt++
	s.setStateLocked(w, StateBackoff, fmt.Sprintf("respawn in %s", delay.Round(time.Millisecond)))
	gen := w.gen
	time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.gen != gen || w.driven || w.state != StateBackoff || s.closing || s.workers[w.id] != w {
			return // an action took over the worker meanwhile
		}
		s.spawnLocked(w, "respawn after crash")
	})
}

// awaitHealthy turns a starting worker running once it passes a health
// check.
func (s *Local) awaitHealthy(w *worker, p *proc, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.HealthTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.done:
		case <-s.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	err := s.router.WaitHealthy(ctx, w.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.proc != p || w.gen != gen || w.state != StateStarting {
		return // exited, or an action is driving this worker
	}
	if err != nil {
		s.hub.Publish(Event{Kind: EventError, Worker: w.id, PID: p.pid, Message: fmt.Sprintf("%s pid %d not healthy after %s", w.name, p.pid, s.opts.HealthTimeout)})
		return
	}
	w.attempt = 0
	w.err = ""
	s.router.SetDraining(w.id, false)
	s.setStateLocked(w, StateRunning, "")
}

// stopProcess stops w's process: the stop signal, then SIGKILL to its
// process group after the graceful timeout (or when ctx ends). It returns
// once the process is reaped.
func (s *Local) stopProcess(ctx context.Context, w *worker, why string) {
	s.mu.Lock()
	p := w.proc
	if p == nil {
		s.mu.Unlock()
		return
	}
	p.expected = true
	s.setStateLocked(w, StateStopping, why)
	sig, name, timeout := s.stopSig, s.cfg.Workers.StopSignal, s.cfg.Workers.GracefulTimeout
	if p.stopSig != 0 {
		sig, name = p.stopSig, p.stopName
	}
	s.mu.Unlock()

	_ = p.process.Signal(sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	s.hub.Publish(Event{Kind: EventError, Worker: w.id, PID: p.pid, Message: fmt.Sprintf("%s pid %d ignored SIG%s for %s: SIGKILL", w.name, p.pid, strings.TrimPrefix(strings.ToUpper(name), "SIG"), timeout)})
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	_ = p.process.Kill()
	<-p.done
}

// describeExit renders an exit as "exit 1" or "signal 9 (killed)", with a
// code that is negative for signals, as circus reports it.
func describeExit(ps *os.ProcessState, err error) (string, int) {
	if ps == nil {
		if err == nil {
			err = errors.New("unknown")
		}
		return "wait failed: " + err.Error(), -1
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ps.String(), ps.ExitCode()
	}
	if ws.Signaled() {
		return fmt.Sprintf("signal %d (%s)", int(ws.Signal()), ws.Signal()), -int(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus()), ws.ExitStatus()
}
