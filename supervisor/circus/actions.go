package circus

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// Restart restarts the given workers one after another. In a shared
// watcher circus cannot restart one process, so the client kills it
// (circus's stop signal, then SIGKILL after graceful_timeout), has circus
// respawn it at once, and waits for the new process to take its wid. With
// one watcher per worker, it reloads that watcher. A Router, when the
// workers have sockets of their own, drains the worker first and
// health-checks it after.
func (c *Client) Restart(ctx context.Context, ids ...int) error {
	for _, id := range ids {
		if err := c.restartOne(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// snapshotWith reads circus's state and checks worker id is in it.
func (c *Client) snapshotWith(ctx context.Context, id int) (*snapshot, error) {
	snap, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if !snap.has(id) {
		return nil, fmt.Errorf("circus: worker %d: %w", id, supervisor.ErrUnknownWorker)
	}
	return snap, nil
}

func (c *Client) restartOne(ctx context.Context, id int) error {
	snap, err := c.snapshotWith(ctx, id)
	if err != nil {
		return err
	}
	watcher := snap.watcherOf(id)
	old := snap.procs[id].PID
	router := c.opts.Router
	if snap.layout.sharedSockets() {
		router = nil
	}
	if router != nil {
		router.SetDraining(id, true)
		defer router.SetDraining(id, false)
		c.waitIdle(ctx, router, id)
	}

	switch {
	case snap.layout.perWorker:
		if _, err := c.waiting(ctx, "reload", map[string]any{"name": watcher, "graceful": true, "sequential": true}); err != nil {
			return err
		}
	default:
		if old != 0 {
			c.markStopping(id)
			if _, err := c.waiting(ctx, "kill", map[string]any{"name": watcher, "pid": old}); err != nil {
				return err
			}
		}
		// circus respawns missing processes on its next check (check_delay,
		// 5s by default); setting numprocesses to itself does it now.
		if _, err := c.waiting(ctx, "incr", map[string]any{"name": watcher, "nb": 0}); err != nil {
			return err
		}
	}
	// The new process usually takes the old one's wid, but circus gives it
	// the lowest free wid, so after a decr left a gap it lands elsewhere:
	// wait for any new process.
	before := snap.pids()
	if err := c.waitFor(ctx, func(s *snapshot) bool {
		return len(s.procs) >= len(snap.procs) && !s.runs(old) && s.hasNewPID(before)
	}); err != nil {
		return fmt.Errorf("circus: worker %d did not come back after its restart: %w", id, err)
	}
	if router != nil {
		if err := router.WaitHealthy(ctx, id); err != nil {
			return fmt.Errorf("circus: worker %d restarted but is not healthy: %w", id, err)
		}
	}
	return nil
}

// waitIdle waits, at most GracefulTimeout, for a draining worker's
// requests in flight to finish.
func (c *Client) waitIdle(ctx context.Context, r supervisor.Router, id int) {
	deadline := time.Now().Add(c.opts.GracefulTimeout)
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	for r.InFlight(id) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// waitFor polls circus until done holds for a snapshot.
func (c *Client) waitFor(ctx context.Context, done func(*snapshot) bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ActionTimeout)
	defer cancel()
	tick := time.NewTicker(c.opts.PollInterval)
	defer tick.Stop()
	for {
		snap, err := c.snapshot(ctx)
		if err == nil {
			c.workersOf(snap) // records new pids for events and restart counts
			if done(snap) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (c *Client) markStopping(id int) {
	c.mu.Lock()
	c.memoLocked(id).stopping = true
	c.mu.Unlock()
}

// RollingRestart replaces every worker, one at a time: circus's `reload`
// with sequential set (a plain `restart` would kill them all at once).
// With one watcher per worker, or with a Router and sockets of their own,
// it restarts them one by one as Restart does.
func (c *Client) RollingRestart(ctx context.Context) error {
	snap, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.layout.perWorker {
		return c.Restart(ctx, snap.ids()...)
	}
	if _, err := c.waiting(ctx, "reload", map[string]any{"name": snap.watcherOf(0), "graceful": true, "sequential": true}); err != nil {
		return err
	}
	// Record the new pids now, so the restarts count them.
	if after, err := c.snapshot(ctx); err == nil {
		c.workersOf(after)
	}
	return nil
}

// Scale sets the number of processes with circus's incr or decr. circus
// removes its oldest processes first. A watcher-per-worker layout cannot
// scale: circus cannot add a socket at run time.
func (c *Client) Scale(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("circus: scale to %d: %w", n, supervisor.ErrInvalid)
	}
	snap, err := c.snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.layout.perWorker {
		if n == len(snap.layout.watchers) {
			return nil
		}
		return fmt.Errorf("circus: %w: with one watcher per worker circus cannot add or remove sockets at run time; render circus.ini again with `whisgee circus render` and run `circusctl reloadconfig`", supervisor.ErrUnsupported)
	}
	watcher := snap.watcherOf(0)
	diff := n - snap.count
	if diff == 0 {
		return nil
	}
	cmd := "incr"
	if diff < 0 {
		cmd, diff = "decr", -diff
	}
	r, err := c.waiting(ctx, cmd, map[string]any{"name": watcher, "nb": diff})
	if err != nil {
		return err
	}
	got := -1
	if err := r.field("numprocesses", &got); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("circus: asked %s to run %d processes, it runs %d (a singleton watcher?)", watcher, n, got)
	}
	return nil
}

// StopWorker stops a worker and keeps it stopped. Only a watcher-per-worker
// layout allows it: in a shared watcher circus respawns any process it
// loses, and stops whole watchers only.
func (c *Client) StopWorker(ctx context.Context, id int) error {
	snap, err := c.snapshotWith(ctx, id)
	if err != nil {
		return err
	}
	if !snap.layout.perWorker {
		return fmt.Errorf("circus: %w: circus stops whole watchers, not one of %s's processes; scale down instead, or render circus.ini with --sockets per-worker for one watcher per worker", supervisor.ErrUnsupported, snap.watcherOf(id))
	}
	c.markStopping(id)
	_, err = c.waiting(ctx, "stop", map[string]any{"name": snap.watcherOf(id)})
	return err
}

// StartWorker starts a stopped worker: its watcher when stopped, else it
// has circus respawn the missing process now.
func (c *Client) StartWorker(ctx context.Context, id int) error {
	snap, err := c.snapshotWith(ctx, id)
	if err != nil {
		return err
	}
	watcher := snap.watcherOf(id)
	if snap.procs[id].PID != 0 {
		return nil
	}
	if snap.statuses[watcher] == "stopped" {
		_, err = c.waiting(ctx, "start", map[string]any{"name": watcher})
	} else {
		_, err = c.waiting(ctx, "incr", map[string]any{"name": watcher, "nb": 0})
	}
	if err != nil {
		return err
	}
	want := len(snap.procs) + 1
	return c.waitFor(ctx, func(s *snapshot) bool { return len(s.procs) >= want })
}

// Signal sends sig (a name like HUP or a number) to a worker's process.
func (c *Client) Signal(ctx context.Context, id int, sig string) error {
	signum, err := config.ParseSignal(sig)
	if err != nil {
		return fmt.Errorf("circus: %v: %w", err, supervisor.ErrInvalid)
	}
	snap, err := c.snapshotWith(ctx, id)
	if err != nil {
		return err
	}
	pid := snap.procs[id].PID
	if pid == 0 {
		return fmt.Errorf("circus: worker %d runs no process to signal; start it first", id)
	}
	props := map[string]any{"name": snap.watcherOf(id), "signum": int(signum)}
	if !snap.layout.perWorker {
		props["pid"] = pid
	}
	if signum == syscall.SIGKILL || signum == syscall.SIGTERM || signum == syscall.SIGINT {
		c.markStopping(id)
	}
	_, err = c.quick(ctx, "signal", props)
	return err
}

// Logs is not available: circus has no command that returns a process's
// output.
func (c *Client) Logs(ctx context.Context, id int, n int) ([]supervisor.LogLine, error) {
	return nil, fmt.Errorf("circus: %w: circusd keeps no output to query; set stdout_stream.class = FileStream and stdout_stream.filename (and the stderr_stream.* settings) on the watcher in circus.ini and read those files", supervisor.ErrUnsupported)
}
