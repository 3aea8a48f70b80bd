package supervisor

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/whisgee/whisgee/config"
)

// begin claims the supervisor for one action; actions run one at a time so
// that a rolling restart and a scale-down never fight over a worker.
func (s *Local) begin(what string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, fmt.Errorf("%w: the supervisor is shutting down", ErrBusy)
	}
	if s.busy != "" {
		return nil, fmt.Errorf("%w: %s is under way; try again when it is done", ErrBusy, s.busy)
	}
	s.busy = what
	return func() {
		s.mu.Lock()
		s.busy = ""
		s.mu.Unlock()
	}, nil
}

// Restart implements Supervisor: each worker in turn is drained, stopped
// gracefully, started again on the same socket and health-checked.
func (s *Local) Restart(ctx context.Context, ids ...int) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: name the workers to restart, or use a rolling restart", ErrInvalid)
	}
	if err := s.checkIDs(ids); err != nil {
		return err
	}
	done, err := s.begin(fmt.Sprintf("a restart of %v", ids))
	if err != nil {
		return err
	}
	defer done()
	for _, id := range ids {
		if err := s.restartOne(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// RollingRestart implements Supervisor.
func (s *Local) RollingRestart(ctx context.Context) error {
	done, err := s.begin("a rolling restart")
	if err != nil {
		return err
	}
	defer done()
	s.mu.Lock()
	ids := s.idsLocked()
	s.mu.Unlock()
	for _, id := range ids {
		if err := s.restartOne(ctx, id); err != nil {
			return fmt.Errorf("rolling restart stopped at worker %d: %w", id, err)
		}
	}
	return nil
}

// restartOne is the safe restart of one worker. Stopped and failed workers
// are simply started.
func (s *Local) restartOne(ctx context.Context, id int) error {
	w, oldPID, err := s.drive(id)
	if err != nil {
		return err
	}
	defer s.release(w)
	start := s.opts.Now()
	s.retire(ctx, w, oldPID, "restart")
	if err := s.startAndWait(ctx, w, "restart"); err != nil {
		return err
	}
	s.mu.Lock()
	newPID := w.pid()
	s.mu.Unlock()
	s.hub.Publish(Event{Kind: EventRestart, Worker: id, PID: newPID, Message: fmt.Sprintf("%s restarted: pid %d → %d in %s", w.name, oldPID, newPID, s.opts.Now().Sub(start).Round(time.Millisecond))})
	return nil
}

// drive hands worker id to an action (see driveLocked); the caller must
// release it. pid is its current process, 0 when none runs.
func (s *Local) drive(id int) (w *worker, pid int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workers[id]
	if !ok {
		return nil, 0, s.unknown(id)
	}
	s.driveLocked(w)
	return w, w.pid(), nil
}

// retire drains w and stops its process gracefully, if it has one.
func (s *Local) retire(ctx context.Context, w *worker, pid int, why string) {
	if pid == 0 {
		return
	}
	s.drain(ctx, w)
	s.stopProcess(ctx, w, why)
}

// driveLocked hands w to an action: pending respawns are cancelled and
// exits are no longer treated as crashes until release.
func (s *Local) driveLocked(w *worker) {
	w.gen++
	w.driven = true
}

func (s *Local) release(w *worker) {
	s.mu.Lock()
	w.driven = false
	s.mu.Unlock()
}

// drain stops new requests to w and waits (up to the graceful timeout) for
// the ones in flight to finish.
func (s *Local) drain(ctx context.Context, w *worker) {
	s.mu.Lock()
	s.setStateLocked(w, StateDraining, "")
	pid := w.pid()
	timeout := s.cfg.Workers.GracefulTimeout
	s.mu.Unlock()
	s.router.SetDraining(w.id, true)
	s.hub.Publish(Event{Kind: EventDrain, Worker: w.id, PID: pid, Message: fmt.Sprintf("%s draining (%d in flight)", w.name, s.router.InFlight(w.id))})
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.router.InFlight(w.id) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			s.hub.Publish(Event{Kind: EventError, Worker: w.id, Message: fmt.Sprintf("%s still had %d requests in flight after %s", w.name, s.router.InFlight(w.id), timeout)})
			return
		case <-tick.C:
		}
	}
}

// startAndWait spawns w (keeping it out of rotation) and puts it back into
// rotation once a health check passes.
func (s *Local) startAndWait(ctx context.Context, w *worker, why string) error {
	s.router.SetDraining(w.id, true)
	s.mu.Lock()
	w.crashes.reset()
	w.attempt = 0
	s.spawnLocked(w, why)
	p := w.proc
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s %s", w.name, w.err)
	}
	hctx, cancel := context.WithTimeout(ctx, s.opts.HealthTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-hctx.Done():
		}
	}()
	err := s.router.WaitHealthy(hctx, w.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-p.done:
		// A new process that dies at once is not respawned: a rolling
		// restart onto broken code must stop here, not take every worker
		// down with it.
		w.err = fmt.Sprintf("pid %d exited before it was healthy: %s", p.pid, w.lastExit)
		if lines := w.logs.lastStderr(1); len(lines) > 0 {
			w.err += "; last stderr: " + lines[0]
		}
		s.setStateLocked(w, StateFailed, w.err)
		return fmt.Errorf("%s %s", w.name, w.err)
	default:
	}
	if err != nil {
		// Still running: keep watching it, as after a crash respawn.
		w.err = fmt.Sprintf("pid %d did not pass a health check within %s", p.pid, s.opts.HealthTimeout)
		go s.awaitHealthy(w, p, w.gen)
		return fmt.Errorf("%s %s", w.name, w.err)
	}
	s.router.SetDraining(w.id, false)
	w.err = ""
	s.setStateLocked(w, StateRunning, "")
	return nil
}

// StopWorker implements Supervisor: drain, stop gracefully, keep stopped.
func (s *Local) StopWorker(ctx context.Context, id int) error {
	return s.actOn(id, "a stop", func(w *worker, pid int) error {
		s.retire(ctx, w, pid, "stop")
		s.router.SetDraining(id, true)
		s.mu.Lock()
		s.setStateLocked(w, StateStopped, "")
		s.mu.Unlock()
		return nil
	})
}

// StartWorker implements Supervisor.
func (s *Local) StartWorker(ctx context.Context, id int) error {
	return s.actOn(id, "a start", func(w *worker, pid int) error {
		if pid != 0 {
			s.mu.Lock()
			state := w.state
			s.mu.Unlock()
			return fmt.Errorf("%w: worker %d is already %s; use restart", ErrInvalid, id, state)
		}
		return s.startAndWait(ctx, w, "start")
	})
}

// actOn runs an action on one worker: it claims the supervisor (one
// action at a time), hands the worker to the action and releases both.
func (s *Local) actOn(id int, what string, do func(w *worker, pid int) error) error {
	done, err := s.begin(fmt.Sprintf("%s of worker %d", what, id))
	if err != nil {
		return err
	}
	defer done()
	w, pid, err := s.drive(id)
	if err != nil {
		return err
	}
	defer s.release(w)
	return do(w, pid)
}

// Scale implements Supervisor: new workers get new sockets and must pass
// a health check; removed ones (highest ids first) drain before they stop.
func (s *Local) Scale(ctx context.Context, n int) error {
	if n < 1 || n > 1024 {
		return fmt.Errorf("%w: want 1 to 1024 workers, got %d", ErrInvalid, n)
	}
	done, err := s.begin(fmt.Sprintf("scaling to %d", n))
	if err != nil {
		return err
	}
	defer done()
	s.mu.Lock()
	ids := s.idsLocked()
	s.mu.Unlock()
	from := len(ids)
	switch {
	case n > from:
		err = s.scaleUp(ctx, ids, n-from)
	case n < from:
		err = s.scaleDown(ctx, ids[n:])
	}
	if err == nil && n != from {
		s.hub.Publish(Event{Kind: EventScale, Worker: -1, Message: fmt.Sprintf("scaled from %d to %d workers", from, n)})
	}
	return err
}

func (s *Local) scaleUp(ctx context.Context, have []int, more int) error {
	taken := map[int]bool{}
	for _, id := range have {
		taken[id] = true
	}
	s.mu.Lock()
	var added []*worker
	for id := 0; len(added) < more; id++ {
		if taken[id] {
			continue
		}
		w, err := s.addWorkerLocked(id)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		added = append(added, w)
	}
	// Out of rotation until healthy.
	for _, w := range added {
		s.driveLocked(w)
		s.router.SetDraining(w.id, true)
	}
	s.syncRouterLocked()
	s.mu.Unlock()
	errs := make(chan error, len(added))
	for _, w := range added {
		go func() {
			defer s.release(w)
			errs <- s.startAndWait(ctx, w, "scale up")
		}()
	}
	var first error
	for range added {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Local) scaleDown(ctx context.Context, remove []int) error {
	sort.Sort(sort.Reverse(sort.IntSlice(remove)))
	for _, id := range remove {
		w, pid, err := s.drive(id)
		if err != nil {
			return err
		}
		s.retire(ctx, w, pid, "scale down")
		s.mu.Lock()
		delete(s.workers, id)
		s.syncRouterLocked()
		s.mu.Unlock()
		w.sock.close()
		w.logs.close()
	}
	return nil
}

// Signal implements Supervisor.
func (s *Local) Signal(ctx context.Context, id int, sig string) error {
	signal, err := config.ParseSignal(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workers[id]
	if !ok {
		return s.unknown(id)
	}
	if w.proc == nil {
		return fmt.Errorf("%w: worker %d has no process (%s)", ErrInvalid, id, w.state)
	}
	return w.proc.process.Signal(signal)
}

func (s *Local) checkIDs(ids []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if _, ok := s.workers[id]; !ok {
			return s.unknown(id)
		}
	}
	return nil
}
