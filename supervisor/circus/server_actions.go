package circus

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"syscall"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// The commands that change the stack: incr, decr, restart, reload, kill,
// start, stop and signal.

// begin claims the right to change the stack; circus refuses a command
// while another one of the same kind runs.
func (s *Server) begin(cmd string) (end func(), errResp map[string]any) {
	if !s.actionMu.TryLock() {
		return nil, errorReply(errnoCommand, fmt.Sprintf("arbiter is already running %s command", s.action))
	}
	s.action = cmd
	return s.actionMu.Unlock, nil
}

// act runs an action now when the client waits for it, or in the
// background with an immediate ok, as circusd does without "waiting".
func (s *Server) act(ctx context.Context, props map[string]any, cmd string, do func(context.Context) map[string]any) map[string]any {
	end, busy := s.begin(cmd)
	if busy != nil {
		return busy
	}
	if w, _ := props["waiting"].(bool); w {
		defer end()
		return do(ctx)
	}
	go func() {
		defer end()
		if r := do(ctx); r["status"] == "error" && s.opts.Logf != nil {
			s.opts.Logf("circus endpoint: %s: %v", cmd, r["reason"])
		}
	}()
	return ok(nil)
}

func (s *Server) cmdScale(ctx context.Context, props map[string]any, sign int) map[string]any {
	if e := s.withWorkers(ctx, props, nameRequired, func(bool, []supervisor.Worker) map[string]any { return nil }); e != nil {
		return e
	}
	if s.opts.PerWorker {
		return errorReply(errnoCommand, "each watcher here is one worker on its own socket; change the number of workers with `whisgee ctl scale`")
	}
	nb := 1
	if v, has := props["nb"]; has {
		n, isInt := toInt(v)
		if !isInt {
			// circusd accepts a malformed nb and fails later, silently.
			return ok(nil)
		}
		nb = n
	}
	name := "watcher_incr"
	if sign < 0 {
		name = "watcher_decr"
	}
	return s.act(ctx, props, name, func(ctx context.Context) map[string]any {
		ws, err := s.sup.Workers(ctx)
		if err != nil {
			return commandError(err)
		}
		n := max(len(ws)+sign*nb, 0)
		if err := s.sup.Scale(ctx, n); err != nil {
			return commandError(err)
		}
		return ok(map[string]any{"numprocesses": n})
	})
}

// pidDiff is circus's reload/restart info: stopped, started and kept pids.
func pidDiff(before, after []int) map[string]any {
	in := func(list []int, x int) bool {
		for _, y := range list {
			if y == x {
				return true
			}
		}
		return false
	}
	stopped, started, kept := []int{}, []int{}, []int{}
	for _, p := range before {
		if in(after, p) {
			kept = append(kept, p)
		} else {
			stopped = append(stopped, p)
		}
	}
	for _, p := range after {
		if !in(before, p) {
			started = append(started, p)
		}
	}
	sort.Ints(stopped)
	sort.Ints(started)
	sort.Ints(kept)
	return map[string]any{"stopped": stopped, "started": started, "kept": kept}
}

// cmdRestart serves restart and reload as a rolling restart of the
// watcher's workers: circus's plain restart would kill them all at once.
func (s *Server) cmdRestart(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameGlob, func(named bool, ws []supervisor.Worker) map[string]any {
		var ids []int // nil: every worker, with the supervisor's own rolling restart
		if named && s.opts.PerWorker {
			ids = []int{}
			for _, w := range ws {
				ids = append(ids, w.ID)
			}
		}
		return s.act(ctx, props, "watcher_reload", func(ctx context.Context) map[string]any {
			return s.restartWorkers(ctx, ids)
		})
	})
}

// restartWorkers restarts ids (all when nil) and reports the pids.
func (s *Server) restartWorkers(ctx context.Context, ids []int) map[string]any {
	ws, err := s.sup.Workers(ctx)
	if err != nil {
		return commandError(err)
	}
	before := running(ws)
	if ids == nil {
		err = s.sup.RollingRestart(ctx)
	} else {
		err = s.sup.Restart(ctx, ids...)
	}
	if err != nil {
		return commandError(err)
	}
	ws, err = s.sup.Workers(ctx)
	if err != nil {
		return commandError(err)
	}
	s.publishEach(ws, ids, "reload")
	return ok(map[string]any{"info": pidDiff(before, running(ws))})
}

// publishEach publishes a watcher event once per watcher of ws (of ids
// only, when given).
func (s *Server) publishEach(ws []supervisor.Worker, ids []int, event string) {
	done := map[string]bool{}
	for _, w := range ws {
		if ids != nil && !slices.Contains(ids, w.ID) {
			continue
		}
		if name := s.nameOf(w); !done[name] {
			done[name] = true
			s.publish(name, event, map[string]any{})
		}
	}
}

// cmdKill serves kill as a safe restart of the process: circus respawns a
// killed process anyway, and whisgee drains it first.
func (s *Server) cmdKill(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameRequired, func(_ bool, ws []supervisor.Worker) map[string]any {
		wantPID := 0
		if p, has := props["pid"]; has {
			wantPID, _ = toInt(p)
		}
		ids := []int{}
		for _, w := range ws {
			if w.PID != 0 && (wantPID == 0 || w.PID == wantPID) {
				ids = append(ids, w.ID)
			}
		}
		if len(ids) == 0 {
			return ok(nil) // circus kills nothing for an unknown pid, and says ok
		}
		return s.act(ctx, props, "kill", func(ctx context.Context) map[string]any {
			r := s.restartWorkers(ctx, ids)
			delete(r, "info")
			return r
		})
	})
}

func (s *Server) cmdStart(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameGlob, func(_ bool, ws []supervisor.Worker) map[string]any {
		return s.act(ctx, props, "watcher_start", func(ctx context.Context) map[string]any {
			var before []int
			for _, w := range ws {
				if w.PID != 0 {
					before = append(before, w.PID)
					continue
				}
				if err := s.sup.StartWorker(ctx, w.ID); err != nil {
					return commandError(err)
				}
			}
			now, err := s.sup.Workers(ctx)
			if err != nil {
				return commandError(err)
			}
			var after []int
			for _, w := range now {
				for _, x := range ws {
					if x.ID == w.ID && w.PID != 0 {
						after = append(after, w.PID)
					}
				}
			}
			d := pidDiff(before, after)
			s.publishEach(ws, nil, "start")
			return ok(map[string]any{"info": map[string]any{"started": d["started"], "kept": d["kept"]}})
		})
	})
}

func (s *Server) cmdStop(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameGlob, func(_ bool, ws []supervisor.Worker) map[string]any {
		return s.act(ctx, props, "watcher_stop", func(ctx context.Context) map[string]any {
			for _, w := range ws {
				if w.PID != 0 {
					if err := s.sup.StopWorker(ctx, w.ID); err != nil {
						return commandError(err)
					}
				}
			}
			s.publishEach(ws, nil, "stop")
			return ok(map[string]any{"info": nil})
		})
	})
}

func (s *Server) cmdSignal(ctx context.Context, props map[string]any) map[string]any {
	if _, has := props["name"]; !has {
		return errorReply(errnoMessage, "message invalid 'name' is missing")
	}
	raw, has := props["signum"]
	if !has {
		return errorReply(errnoMessage, "message invalid 'signum' is missing")
	}
	sig, valid := toSignal(raw)
	if !valid {
		return errorReply(errnoMessage, "signal invalid")
	}
	return s.withWorkers(ctx, props, nameRequired, func(_ bool, ws []supervisor.Worker) map[string]any {
		wantPID := 0
		if p, has := props["pid"]; has {
			wantPID, _ = toInt(p)
		}
		for _, w := range ws {
			if w.PID == 0 || (wantPID != 0 && w.PID != wantPID) {
				continue
			}
			if err := s.sup.Signal(ctx, w.ID, strconv.Itoa(int(sig))); err != nil {
				return commandError(err)
			}
		}
		return ok(nil)
	})
}

// toSignal reads a signum as circus's to_signum does: 1, "1", "HUP", "SIGHUP".
func toSignal(v any) (syscall.Signal, bool) {
	if n, isInt := toInt(v); isInt {
		return syscall.Signal(n), n > 0 && n < 65
	}
	str, isStr := v.(string)
	if !isStr {
		return 0, false
	}
	sig, err := config.ParseSignal(str)
	return sig, err == nil
}
