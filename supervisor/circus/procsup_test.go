package circus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// procSupervisor is a minimal supervisor.Supervisor for tests of the
// circus-protocol server: each worker is a real `sleep` process, so pids,
// signals, exits and /proc are real; what it lacks is sockets, health
// checks and draining, which the server does not see.
type procSupervisor struct {
	t   testing.TB
	dir string

	mu      sync.Mutex
	workers map[int]*procWorker
	subs    map[int]chan supervisor.Event
	nextSub int
	seq     uint64
	calls   []string
}

type procWorker struct {
	w    supervisor.Worker
	cmd  *exec.Cmd
	done chan struct{}
}

func newMemSupervisor(n int) *procSupervisor { return newProcSupervisor(nil, n) }

func newProcSupervisor(t testing.TB, n int) *procSupervisor {
	dir, _ := os.MkdirTemp("", "wg")
	s := &procSupervisor{t: t, dir: dir, workers: map[int]*procWorker{}, subs: map[int]chan supervisor.Event{}}
	for id := 0; id < n; id++ {
		s.mu.Lock()
		s.spawnLocked(id)
		s.mu.Unlock()
	}
	return s
}

func (s *procSupervisor) close() {
	s.mu.Lock()
	ids := s.idsLocked()
	s.mu.Unlock()
	for _, id := range ids {
		_ = s.stop(id, syscall.SIGKILL)
	}
	os.RemoveAll(s.dir)
}

func (s *procSupervisor) emitLocked(ev supervisor.Event) {
	s.seq++
	ev.Seq, ev.Time = s.seq, time.Now()
	for _, ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (s *procSupervisor) spawnLocked(id int) {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	pw := s.workers[id]
	if pw == nil {
		pw = &procWorker{w: supervisor.Worker{ID: id, Name: fmt.Sprintf("worker-%d", id), Socket: filepath.Join(s.dir, fmt.Sprintf("w%d.sock", id))}}
		s.workers[id] = pw
	} else {
		pw.w.Restarts++
	}
	pw.cmd, pw.done = cmd, make(chan struct{})
	now := time.Now()
	pw.w.PID, pw.w.State, pw.w.StartedAt, pw.w.Since, pw.w.Healthy = cmd.Process.Pid, supervisor.StateRunning, now, now, true
	pw.w.RSSBytes = 1 << 20
	s.emitLocked(supervisor.Event{Kind: supervisor.EventSpawn, Worker: id, PID: cmd.Process.Pid, Message: "spawned"})
	done := pw.done
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
				code = -int(st.Signal())
			} else {
				code = ee.ExitCode()
			}
		}
		s.mu.Lock()
		if pw.cmd == cmd {
			pw.w.PID, pw.w.State, pw.w.Since = 0, supervisor.StateStopped, time.Now()
			pw.w.LastExit, pw.w.LastExitCode = exitWord(code), code
		}
		s.emitLocked(supervisor.Event{Kind: supervisor.EventExit, Worker: id, PID: cmd.Process.Pid, ExitCode: code, Message: "exited"})
		s.mu.Unlock()
		close(done)
	}()
}

func (s *procSupervisor) stop(id int, sig syscall.Signal) error {
	s.mu.Lock()
	pw := s.workers[id]
	if pw == nil {
		s.mu.Unlock()
		return supervisor.ErrUnknownWorker
	}
	if pw.w.PID == 0 {
		s.mu.Unlock()
		return nil
	}
	pw.w.State = supervisor.StateStopping
	s.emitLocked(supervisor.Event{Kind: supervisor.EventState, Worker: id, PID: pw.w.PID, State: string(supervisor.StateStopping)})
	_ = pw.cmd.Process.Signal(sig)
	done := pw.done
	s.mu.Unlock()
	<-done
	return nil
}

func (s *procSupervisor) record(call string) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

func (s *procSupervisor) idsLocked() []int {
	var ids []int
	for id := range s.workers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (s *procSupervisor) Engine() string { return "test" }

func (s *procSupervisor) Workers(ctx context.Context) ([]supervisor.Worker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ws []supervisor.Worker
	for _, id := range s.idsLocked() {
		ws = append(ws, s.workers[id].w)
	}
	return ws, nil
}

func (s *procSupervisor) Restart(ctx context.Context, ids ...int) error {
	s.record(fmt.Sprint("restart ", ids))
	for _, id := range ids {
		if err := s.stop(id, syscall.SIGTERM); err != nil {
			return err
		}
		s.mu.Lock()
		s.spawnLocked(id)
		s.mu.Unlock()
	}
	return nil
}

func (s *procSupervisor) RollingRestart(ctx context.Context) error {
	s.record("rolling")
	s.mu.Lock()
	ids := s.idsLocked()
	s.mu.Unlock()
	return s.Restart(ctx, ids...)
}

func (s *procSupervisor) Scale(ctx context.Context, n int) error {
	s.record(fmt.Sprint("scale ", n))
	if n < 0 {
		return supervisor.ErrInvalid
	}
	s.mu.Lock()
	for id := len(s.workers); id < n; id++ {
		s.spawnLocked(id)
	}
	ids := s.idsLocked()
	s.mu.Unlock()
	for _, id := range ids {
		if id >= n {
			_ = s.stop(id, syscall.SIGTERM)
			s.mu.Lock()
			delete(s.workers, id)
			s.mu.Unlock()
		}
	}
	return nil
}

func (s *procSupervisor) StopWorker(ctx context.Context, id int) error {
	s.record(fmt.Sprint("stop ", id))
	return s.stop(id, syscall.SIGTERM)
}

func (s *procSupervisor) StartWorker(ctx context.Context, id int) error {
	s.record(fmt.Sprint("start ", id))
	s.mu.Lock()
	defer s.mu.Unlock()
	pw := s.workers[id]
	if pw == nil {
		return supervisor.ErrUnknownWorker
	}
	if pw.w.PID == 0 {
		s.spawnLocked(id)
	}
	return nil
}

func (s *procSupervisor) Signal(ctx context.Context, id int, sig string) error {
	s.record(fmt.Sprintf("signal %d %s", id, sig))
	signum, err := config.ParseSignal(sig)
	if err != nil {
		return supervisor.ErrInvalid
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pw := s.workers[id]
	if pw == nil || pw.w.PID == 0 {
		return supervisor.ErrUnknownWorker
	}
	return pw.cmd.Process.Signal(signum)
}

func (s *procSupervisor) Logs(ctx context.Context, id, n int) ([]supervisor.LogLine, error) {
	return nil, supervisor.ErrUnsupported
}

func (s *procSupervisor) Subscribe() (<-chan supervisor.Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan supervisor.Event, 256)
	key := s.nextSub
	s.nextSub++
	s.subs[key] = ch
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, key)
		s.mu.Unlock()
	}
}

// serveAndDial serves sup's circus protocol, connects a client to it
// (subscribed to its events) and returns the workers as the client and as
// sup see them.
func serveAndDial(t *testing.T, sup supervisor.Supervisor, opts *ServeOptions) (*Client, <-chan supervisor.Event, []supervisor.Worker, []supervisor.Worker) {
	t.Helper()
	srv := startServer(t, sup, func(o *ServeOptions) {
		if opts != nil {
			*o = *opts
		}
	})
	c := newTestClient(t, srv.Endpoint(), func(o *Options) { o.PubSub = srv.PubSubEndpoint(); o.ActionTimeout = 30 * time.Second })
	events, stop := c.Subscribe()
	t.Cleanup(stop)
	ctx := context.Background()
	ws, err := c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	real, err := sup.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, events, ws, real
}

// startServer serves sup's circus protocol on loopback for one test.
func startServer(t *testing.T, sup supervisor.Supervisor, mod ...func(*ServeOptions)) *Server {
	t.Helper()
	if ps, ok := sup.(*procSupervisor); ok {
		t.Cleanup(ps.close)
	}
	var opts ServeOptions
	for _, m := range mod {
		m(&opts)
	}
	srv, err := Listen("tcp://127.0.0.1:0", sup, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}
