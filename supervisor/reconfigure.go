package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/config"
)

// Change is what a new config means for the workers of a running stack.
type Change struct {
	// Live are changed settings that apply to the running workers without
	// restarting them: workers.backoff, workers.crash_loop,
	// workers.graceful_timeout, workers.stop_signal, workers.log_lines,
	// workers.log_dir.
	Live []string
	// Respawn are changed settings that shape the worker process (its
	// argv, environment or directory): app.module, app.dir, app.python,
	// app.env, workers.server, workers.cmd, workers.env. Only new
	// processes can take them.
	Respawn []string
	// Fixed are changed settings that need a restart of `whisgee up`:
	// workers.socket (the sockets are bound once and outlive the workers).
	Fixed []string
}

// Empty reports whether nothing about the workers changed.
func (c Change) Empty() bool { return len(c.Live)+len(c.Respawn)+len(c.Fixed) == 0 }

// String says what applying the change does, for a reload's message:
// "workers restarted one by one with the new app.module; also applied:
// workers.backoff", or "applied without restarting workers:
// workers.backoff".
func (c Change) String() string {
	var parts []string
	if len(c.Respawn) > 0 {
		parts = append(parts, "workers restarted one by one with the new "+strings.Join(c.Respawn, ", "))
	}
	if len(c.Live) > 0 {
		what := "applied without restarting workers: "
		if len(c.Respawn) > 0 {
			what = "also applied: "
		}
		parts = append(parts, what+strings.Join(c.Live, ", "))
	}
	if len(parts) == 0 {
		return "worker settings unchanged"
	}
	return strings.Join(parts, "; ")
}

// CompareWorkers lists the worker settings that differ between old and
// next. workers.count is left out (scaling is Scale's job), and so is
// workers.health (the proxy runs the health checks). With workers.cmd set
// in both, app.python, app.module and workers.server do not reach the
// process and are not compared.
func CompareWorkers(old, next *config.Config) Change {
	var c Change
	diff := func(list *[]string, name string, a, b any) {
		if !equal(a, b) {
			*list = append(*list, name)
		}
	}
	o, n := old.Workers, next.Workers
	viaCmd := len(o.Cmd) > 0 && len(n.Cmd) > 0
	if !viaCmd {
		diff(&c.Respawn, "app.module", old.App.Module, next.App.Module)
	}
	diff(&c.Respawn, "app.dir", old.App.Dir, next.App.Dir)
	if !viaCmd {
		diff(&c.Respawn, "app.python", old.App.Python, next.App.Python)
	}
	diff(&c.Respawn, "app.env", old.App.Env, next.App.Env)
	if !viaCmd {
		diff(&c.Respawn, "workers.server", o.Server, n.Server)
	}
	diff(&c.Respawn, "workers.cmd", []string(o.Cmd), []string(n.Cmd))
	diff(&c.Respawn, "workers.env", o.Env, n.Env)
	diff(&c.Live, "workers.backoff", o.Backoff, n.Backoff)
	diff(&c.Live, "workers.crash_loop", o.CrashLoop, n.CrashLoop)
	diff(&c.Live, "workers.graceful_timeout", o.GracefulTimeout, n.GracefulTimeout)
	diff(&c.Live, "workers.stop_signal", o.StopSignal, n.StopSignal)
	diff(&c.Live, "workers.log_lines", o.LogLines, n.LogLines)
	diff(&c.Live, "workers.log_dir", o.LogDir, n.LogDir)
	diff(&c.Fixed, "workers.socket", o.Socket, n.Socket)
	return c
}

// equal compares two settings; nil and empty maps and lists are equal.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]string:
		return maps.Equal(a, b.(map[string]string))
	case []string:
		return slices.Equal(a, b.([]string))
	}
	return a == b
}

// ResolveCommand finds the program every worker runs (workers.cmd's first
// word, or app.python) and checks app.dir. Its error is one line naming
// the setting to fix.
func ResolveCommand(cfg *config.Config) (string, error) {
	if fi, err := os.Stat(cfg.App.Dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("app.dir: %s is not a directory; set app.dir to the app's directory", cfg.App.Dir)
	}
	if len(cfg.Workers.Cmd) > 0 {
		path, err := exec.LookPath(cfg.Workers.Cmd[0])
		if err != nil {
			return "", fmt.Errorf("workers.cmd: %q not found; give its full path or install it", cfg.Workers.Cmd[0])
		}
		return path, nil
	}
	path, err := exec.LookPath(cfg.App.Python)
	if err != nil {
		return "", fmt.Errorf("app.python: %q not found; set app.python to an interpreter, e.g. /srv/venv/bin/python3", cfg.App.Python)
	}
	return path, nil
}

// PlanReconfigure says what Reconfigure would do with next, and checks
// it: a change that needs a restart of `whisgee up` is an error, and so is
// a worker command that cannot be found. It changes nothing, except that
// a new workers.log_dir is created.
func (s *Local) PlanReconfigure(next *config.Config) (Change, error) {
	s.mu.Lock()
	c := CompareWorkers(s.cfg, next)
	s.mu.Unlock()
	if len(c.Fixed) > 0 {
		return c, fmt.Errorf("%w: %s changed; that needs a restart of whisgee up", ErrInvalid, strings.Join(c.Fixed, ", "))
	}
	if next.Workers.LogDir != "" && slices.Contains(c.Live, "workers.log_dir") {
		if err := makeLogDir(next.Workers.LogDir); err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if len(c.Respawn) > 0 {
		if len(next.Workers.Cmd) == 0 && s.opts.RunnerPath == "" {
			return c, fmt.Errorf("%w: workers.cmd removed, but this supervisor has no Python runner; that needs a restart of whisgee up", ErrInvalid)
		}
		if _, err := ResolveCommand(next); err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return c, nil
}

// Reconfigure applies the worker settings of next to the running workers,
// as circus's reloadconfig does, and returns what changed.
//
// Live settings (see Change.Live) apply at once (after the rolling restart,
// if there is one), and nobody restarts for them: the next drain, stop or
// respawn uses them. A Python runner takes its stop
// signal as an argument, so a runner started before the change keeps
// being stopped with the signal it handles; its replacement gets the new
// one. workers.cmd processes get the new signal at once.
//
// Settings that shape the process (Change.Respawn) take the same safe
// rolling restart as RollingRestart: one worker at a time is drained,
// stopped, started with the new settings and health-checked. Workers
// stopped by hand stay stopped (they start with the new settings);
// failed ones are started. While it runs, a worker not reached yet that
// crashes respawns on the old settings, one already restarted on the new.
//
// A reload is all or nothing, as an operator expects of a config reload
// (nginx and Envoy keep the old config serving when the new one fails):
// if a new process does not come up healthy, the rolling restart stops
// there, the old settings are put back, the workers already restarted
// are restarted again on them, and the worker that failed is handled like
// any crashed worker (backoff, then a respawn on the old settings;
// failed after workers.crash_loop crashes). Every other worker keeps
// serving on the old settings throughout; the error names the worker,
// why it failed and the settings to fix. A change that needs a restart
// of `whisgee up` (workers.socket) is refused and nothing changes.
func (s *Local) Reconfigure(ctx context.Context, next *config.Config) (Change, error) {
	c, err := s.PlanReconfigure(next)
	if err != nil || c.Empty() {
		return c, err
	}
	done, err := s.begin("a reload of the worker settings")
	if err != nil {
		return c, err
	}
	defer done()
	spec := *next
	s.mu.Lock()
	old := s.cfg
	spec.RunDir, spec.Workers.Count = old.RunDir, old.Workers.Count // not a reload's business
	s.mu.Unlock()
	if len(c.Respawn) > 0 {
		if err := s.respawnAll(ctx, &spec, c); err != nil {
			return c, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = &spec
	for _, w := range s.workers {
		w.spec = nil // they all run s.cfg now
	}
	s.applyLiveLocked(old, &spec)
	return c, nil
}

// respawnAll restarts every worker one by one on spec; on the first
// failure it puts old back everywhere (see Reconfigure). Until it returns,
// each worker's processes (crash respawns too) run the settings it is on:
// spec once it was reached, the old ones before.
func (s *Local) respawnAll(ctx context.Context, spec *config.Config, c Change) error {
	s.mu.Lock()
	var ids []int
	for _, id := range s.idsLocked() {
		if s.workers[id].state != StateStopped {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	var moved []int
	for _, id := range ids {
		s.setSpec(spec, id)
		err := s.restartOne(ctx, id)
		if err == nil {
			moved = append(moved, id)
			continue
		}
		// The way back must finish even if the caller gave up waiting.
		back := context.WithoutCancel(ctx)
		s.setSpec(nil, append(moved, id)...)
		s.respawnAfterFailure(back, id)
		var undo []error
		for _, m := range moved {
			if err := s.restartOne(back, m); err != nil {
				undo = append(undo, err)
			}
		}
		msg := fmt.Sprintf("reload stopped at worker %d, the old settings are back: %v; worker %d respawns on them", id, err, id)
		if len(moved) > 0 {
			msg += fmt.Sprintf(", %s went back to them", workerList(moved))
		}
		msg += fmt.Sprintf(", the others never left them; fix %s and reload again", strings.Join(c.Respawn, ", "))
		if len(undo) > 0 {
			msg += fmt.Sprintf(" (putting the old settings back also failed: %v)", errors.Join(undo...))
		}
		return errors.New(msg)
	}
	return nil
}

// setSpec pins what the given workers' processes run (nil: Local.cfg).
func (s *Local) setSpec(spec *config.Config, ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if w, ok := s.workers[id]; ok {
			w.spec = spec
		}
	}
}

// workerList names ids for a message: "worker 0", "workers 0, 2".
func workerList(ids []int) string {
	if len(ids) == 1 {
		return fmt.Sprintf("worker %d", ids[0])
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return "workers " + strings.Join(s, ", ")
}

// respawnAfterFailure handles worker id, whose new process did not come up
// healthy, like a crashed worker: its process (if still running) is
// stopped, the crash is counted and it respawns after the backoff.
func (s *Local) respawnAfterFailure(ctx context.Context, id int) {
	w, _, err := s.drive(id)
	if err != nil {
		return
	}
	s.stopProcess(ctx, w, "reload failed")
	s.mu.Lock()
	defer s.mu.Unlock()
	w.driven = false
	if !s.closing && w.proc == nil {
		s.crashedLocked(w, nil)
	}
}

// applyLiveLocked puts the live settings of spec into effect.
func (s *Local) applyLiveLocked(old, spec *config.Config) {
	o, n := old.Workers, spec.Workers
	if o.Backoff != n.Backoff {
		s.backoff.Initial, s.backoff.Max = n.Backoff.Initial, n.Backoff.Max
	}
	if sig, err := config.ParseSignal(n.StopSignal); err == nil {
		s.stopSig = sig
	}
	for _, w := range s.workers {
		w.crashes.window, w.crashes.limit = n.CrashLoop.Window, n.CrashLoop.MaxCrashes
		if o.LogLines != n.LogLines {
			w.logs.resize(n.LogLines)
		}
		if o.LogDir != n.LogDir {
			w.logs.setFile(logFile(n.LogDir, w.name))
		}
	}
}
