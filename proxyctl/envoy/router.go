package envoy

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

// The Router half of the engine. A safe restart of worker 2 goes:
//
//	SetDraining(2, true)   // EDS file: worker-2 DRAINING (write + rename)
//	InFlight(2) == 0       // /clusters: Envoy applied it, rq_active is 0
//	... stop and respawn the worker ...
//	WaitHealthy(ctx, 2)    // /clusters: a health check passed since the call
//	SetDraining(2, false)  // EDS file: worker-2 HEALTHY

// SetWorkers replaces the endpoints of cluster wsgi.
func (e *Engine) SetWorkers(ws []supervisor.Backend) {
	e.mu.Lock()
	e.workers = make(map[int]supervisor.Backend, len(ws))
	for _, w := range ws {
		e.workers[w.ID] = w
	}
	for id := range e.draining {
		if _, ok := e.workers[id]; !ok {
			delete(e.draining, id)
		}
	}
	e.mu.Unlock()
	e.writeEDS()
}

// SetDraining marks a worker DRAINING (or HEALTHY again) in the EDS file.
func (e *Engine) SetDraining(id int, draining bool) {
	e.mu.Lock()
	if draining {
		e.draining[id] = true
	} else {
		delete(e.draining, id)
	}
	e.mu.Unlock()
	e.writeEDS()
}

// writeEDS rewrites the EDS file atomically; Envoy picks the rename up.
// A failure is logged: the Router interface has no error to return, and
// the drain wait (InFlight) then does not see the drain applied.
func (e *Engine) writeEDS() {
	e.mu.Lock()
	ws := e.backendsLocked()
	dr := copyBools(e.draining)
	e.edsVersion++
	ver := e.edsVersion
	path := filepath.Join(e.configDirLocked(), EDSFile)
	e.mu.Unlock()
	data, err := RenderEDS(ws, dr, ver)
	if err == nil {
		err = writeAtomic(path, data, 0o644)
	}
	if err != nil && e.opts.Log != nil {
		fmt.Fprintf(e.opts.Log, "envoy: cannot write %s: %v\n", path, err)
	}
}

func (e *Engine) configDirLocked() string {
	dir, _ := filepath.Abs(e.cfg.Proxy.Envoy.ConfigDir)
	return dir
}

func (e *Engine) backendsLocked() []supervisor.Backend {
	ws := make([]supervisor.Backend, 0, len(e.workers))
	for _, w := range e.workers {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	return ws
}

// hostOf finds a worker's host in /clusters.
func (e *Engine) hostOf(ctx context.Context, id int) (*HostStatus, int, error) {
	e.mu.Lock()
	w, ok := e.workers[id]
	e.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("worker %d: %w", id, supervisor.ErrUnknownWorker)
	}
	hosts, err := e.admin.Clusters(ctx)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	var found *HostStatus
	for i := range hosts {
		if hosts[i].Cluster != ClusterName {
			continue
		}
		n++
		if hosts[i].Address == backendAddress(w) {
			found = &hosts[i]
		}
	}
	return found, n, nil
}

// InFlight is the number of requests Envoy has outstanding on a worker
// (rq_active in /clusters). While a drain asked for has not yet reached
// Envoy (it does not show the host DRAINING), it is at least 1: Envoy may
// still send that worker new requests. When the admin API does not
// answer while Envoy runs, it is 1 too: unknown is treated as busy, so a
// restart waits out graceful_timeout rather than cut a request.
func (e *Engine) InFlight(id int) int64 {
	e.mu.Lock()
	running := e.cur != nil && e.cur.alive()
	wantDrain := e.draining[id]
	e.mu.Unlock()
	if !running {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, _, err := e.hostOf(ctx, id)
	switch {
	case err != nil:
		return 1
	case h == nil:
		// Envoy does not know the host (yet, or any more): it sends it
		// nothing, unless the EDS update adding it is still on its way.
		return 0
	}
	n := int64(h.Stats["rq_active"])
	if wantDrain && !h.Draining() && n == 0 {
		return 1
	}
	return n
}

// WaitHealthy returns once Envoy's active health check passed for the
// worker after the call: the host must show no failed or pending check,
// and the cluster must have made at least one round of checks (as many
// attempts as it has hosts) since the call, so a verdict from before a
// respawn does not count.
func (e *Engine) WaitHealthy(ctx context.Context, id int) error {
	start, err := e.hcAttempts(ctx)
	if err != nil {
		return err
	}
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	var last string
	for {
		h, n, err := e.hostOf(ctx, id)
		switch {
		case err != nil:
			last = err.Error()
		case h == nil:
			last = "Envoy does not list the worker yet"
		case !h.PassedActiveCheck():
			last = "health flags " + strings.Join(h.Flags, "/")
		default:
			attempts, err := e.hcAttempts(ctx)
			if err == nil && attempts >= start+uint64(n) {
				e.setHealth(id, true, "passed Envoy's health check")
				return nil
			}
			last = "waiting for a health check round"
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker %d not healthy in Envoy: %s (%w)", id, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// hcAttempts is cluster wsgi's count of active health check attempts.
func (e *Engine) hcAttempts(ctx context.Context) (uint64, error) {
	d, err := e.admin.Stats(ctx)
	if err != nil {
		return 0, err
	}
	return d.Values["cluster."+ClusterName+".health_check.attempt"], nil
}

// Healthy is the last verdict the engine saw in /clusters.
func (e *Engine) Healthy(id int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.health[id]
}

func (e *Engine) setHealth(id int, healthy bool, reason string) {
	e.mu.Lock()
	was, seen := e.health[id]
	e.health[id] = healthy
	hook := e.opts.HealthHook
	e.mu.Unlock()
	if hook != nil && (!seen || was != healthy) {
		hook(id, healthy, reason)
	}
}

// startMonitor polls /clusters at the health check interval and turns
// flips of Envoy's verdicts into HealthHook calls.
func (e *Engine) startMonitor() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.mu.Lock()
	e.stopMonitor, e.monitorDone = cancel, done
	every := e.cfg.Workers.Health.Interval
	e.mu.Unlock()
	if every <= 0 {
		every = 2 * time.Second
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			e.pollHealth(ctx)
			e.mu.Lock()
			cur := e.cur
			e.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-cur.done:
				e.relaunch(ctx, cur)
			}
		}
	}()
}

// relaunch brings Envoy back after the serving epoch died on its own (a
// crash, an OOM kill): Envoy runs under whisgee's supervision like the
// workers do. With no parent left to hot-restart from, it starts afresh
// as epoch 0, retrying with a capped backoff until it is LIVE or the
// engine closes.
func (e *Engine) relaunch(ctx context.Context, dead *process) {
	e.reload.Lock()
	defer e.reload.Unlock()
	e.mu.Lock()
	if e.closed || e.cur != dead {
		e.mu.Unlock()
		return // closing, or a reload already replaced it
	}
	cfg := e.cfg
	e.mu.Unlock()
	e.notify(fmt.Sprintf("envoy epoch %d died (%s); starting it again as epoch 0", dead.epoch, dead.exitReason()))
	delay := time.Second
	for attempt := 1; ; attempt++ {
		p, err := e.launch(ctx, cfg, 0)
		if err == nil {
			e.mu.Lock()
			if e.closed {
				e.mu.Unlock()
				p.stop(5 * time.Second)
				return
			}
			e.cur, e.epoch = p, 0
			e.mu.Unlock()
			e.notify(fmt.Sprintf("envoy is back as epoch 0 after %d attempt(s)", attempt))
			return
		}
		e.notify(fmt.Sprintf("envoy did not come back (attempt %d): %v; next try in %s", attempt, err, delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// notify reports what the engine did on its own.
func (e *Engine) notify(msg string) {
	if e.opts.OnNotice != nil {
		e.opts.OnNotice(msg)
	}
	if e.opts.Log != nil {
		fmt.Fprintf(e.opts.Log, "whisgee: %s\n", msg)
	}
}

func (e *Engine) pollHealth(ctx context.Context) {
	hosts, err := e.admin.Clusters(ctx)
	if err != nil {
		return
	}
	e.mu.Lock()
	byAddr := map[string]int{}
	for id, w := range e.workers {
		byAddr[backendAddress(w)] = id
	}
	e.mu.Unlock()
	for i := range hosts {
		h := &hosts[i]
		id, ok := byAddr[h.Address]
		if h.Cluster != ClusterName || !ok {
			continue
		}
		reason := "passed Envoy's health check"
		if !h.PassedActiveCheck() {
			reason = "Envoy: " + strings.Join(h.Flags, "/")
		}
		e.setHealth(id, h.PassedActiveCheck(), reason)
	}
}
