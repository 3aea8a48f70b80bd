package circus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

// procInfo is one process in circus's `stats` reply. Fields that circus
// could not read come as the string "N/A"; they decode to zero.
type procInfo struct {
	PID     int
	WID     int // 0 when circus does not report it
	CPU     float64
	RSS     uint64
	Started time.Time
}

func (p *procInfo) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		// circus reports a process it cannot inspect as a bare string.
		return nil
	}
	p.PID = int(number(raw["pid"]))
	p.WID = int(number(raw["wid"]))
	p.CPU = number(raw["cpu"])
	if s, ok := raw["mem_info1"].(string); ok {
		p.RSS, _ = parseHumanBytes(s)
	}
	started := number(raw["started"])
	if started == 0 {
		started = number(raw["create_time"])
	}
	if started > 0 {
		sec, frac := math.Modf(started)
		p.Started = time.Unix(int64(sec), int64(frac*1e9))
	}
	return nil
}

func number(v any) float64 {
	if f, ok := v.(float64); ok {
		return f
	}
	return 0
}

// parseHumanBytes reads psutil's bytes2human output ("27.82M", "512B").
func parseHumanBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty size")
	}
	mult := 1.0
	units := "KMGTPEZY"
	last := s[len(s)-1]
	if i := strings.IndexByte(units, last); i >= 0 {
		mult = math.Pow(1024, float64(i+1))
		s = s[:len(s)-1]
	} else if last == 'B' {
		s = s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return uint64(f * mult), nil
}

// processes decodes a watcher's "info" map (pid -> process info).
func processes(raw json.RawMessage) ([]procInfo, error) {
	var byPID map[string]procInfo
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &byPID); err != nil {
		return nil, fmt.Errorf("circusd's stats reply is malformed: %v", err)
	}
	var ps []procInfo
	for key, p := range byPID {
		if p.PID == 0 {
			p.PID, _ = strconv.Atoi(key)
		}
		ps = append(ps, p)
	}
	// Oldest first, so processes without a wid get ids in start order.
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].Started.Equal(ps[j].Started) {
			return ps[i].Started.Before(ps[j].Started)
		}
		return ps[i].PID < ps[j].PID
	})
	return ps, nil
}

// snapshot is the state of the workers' watcher(s) at one moment.
type snapshot struct {
	layout   *layout
	procs    map[int]procInfo // by worker id
	statuses map[string]string
	count    int // numprocesses (shared layout)
}

// Workers lists the workers: one per circus process (ids are circus's wid
// minus one, stable across restarts), or one per watcher when each worker
// has its own.
func (c *Client) Workers(ctx context.Context) ([]supervisor.Worker, error) {
	snap, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return c.workersOf(snap), nil
}

// snapshot reads the processes and statuses, re-resolving the layout once
// when the watchers changed under it.
func (c *Client) snapshot(ctx context.Context) (*snapshot, error) {
	l, err := c.resolveLayout(ctx, false)
	if err != nil {
		return nil, err
	}
	snap, err := c.read(ctx, l)
	if errors.Is(err, ErrNoWatcher) || errors.Is(err, errLayoutChanged) {
		if l, err = c.resolveLayout(ctx, true); err != nil {
			return nil, err
		}
		snap, err = c.read(ctx, l)
	}
	return snap, err
}

var errLayoutChanged = errors.New("circus watchers changed")

func (c *Client) read(ctx context.Context, l *layout) (*snapshot, error) {
	snap := &snapshot{layout: l, procs: map[int]procInfo{}, statuses: map[string]string{}}
	if !l.perWorker {
		name := l.watchers[0]
		r, err := c.quick(ctx, "stats", map[string]any{"name": name})
		if err != nil {
			return nil, err
		}
		ps, err := processes(r.fields["info"])
		if err != nil {
			return nil, err
		}
		st, err := c.quick(ctx, "status", map[string]any{"name": name})
		if err != nil {
			return nil, err
		}
		snap.statuses[name] = st.Status
		g, err := c.quick(ctx, "options", map[string]any{"name": name})
		if err != nil {
			return nil, err
		}
		var o struct {
			N int `json:"numprocesses"`
		}
		if err := g.field("options", &o); err != nil {
			return nil, err
		}
		snap.count = o.N
		taken := map[int]bool{}
		var noWID []procInfo
		for _, p := range ps {
			if p.WID > 0 && !taken[p.WID-1] {
				taken[p.WID-1] = true
				snap.procs[p.WID-1] = p
			} else {
				noWID = append(noWID, p)
			}
		}
		for id := 0; len(noWID) > 0; id++ {
			if !taken[id] {
				snap.procs[id], noWID = noWID[0], noWID[1:]
			}
		}
		return snap, nil
	}

	r, err := c.quick(ctx, "stats", nil)
	if err != nil {
		return nil, err
	}
	var infos map[string]json.RawMessage
	if err := r.field("infos", &infos); err != nil {
		return nil, err
	}
	st, err := c.quick(ctx, "status", nil)
	if err != nil {
		return nil, err
	}
	if err := st.field("statuses", &snap.statuses); err != nil {
		return nil, err
	}
	for id, name := range l.watchers {
		raw, ok := infos[name]
		if !ok {
			return nil, errLayoutChanged
		}
		ps, err := processes(raw)
		if err != nil {
			return nil, err
		}
		if len(ps) > 0 {
			snap.procs[id] = ps[len(ps)-1]
		}
	}
	return snap, nil
}

// ids lists the worker ids of a snapshot in order.
func (s *snapshot) ids() []int {
	set := map[int]bool{}
	if s.layout.perWorker {
		for id := range s.layout.watchers {
			set[id] = true
		}
	} else {
		// The processes there are, plus a slot for each one circus has yet
		// to spawn: it gives a new process the lowest free wid, and decr
		// removes the oldest processes, whatever their wids.
		for id := range s.procs {
			set[id] = true
		}
		for id := 0; len(set) < s.count; id++ {
			set[id] = true
		}
	}
	var ids []int
	for id := range set {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// watcherOf is the watcher that runs worker id.
func (s *snapshot) watcherOf(id int) string {
	if s.layout.perWorker {
		return s.layout.watchers[id]
	}
	return s.layout.watchers[0]
}

// pids is the set of running processes.
func (s *snapshot) pids() map[int]bool {
	set := map[int]bool{}
	for _, p := range s.procs {
		set[p.PID] = true
	}
	return set
}

// runs reports whether pid is one of the processes.
func (s *snapshot) runs(pid int) bool { return pid != 0 && s.pids()[pid] }

// hasNewPID reports whether a process runs that is not in before.
func (s *snapshot) hasNewPID(before map[int]bool) bool {
	for _, p := range s.procs {
		if !before[p.PID] {
			return true
		}
	}
	return false
}

func (s *snapshot) has(id int) bool {
	for _, x := range s.ids() {
		if x == id {
			return true
		}
	}
	return false
}

func (c *Client) workersOf(s *snapshot) []supervisor.Worker {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var ws []supervisor.Worker
	for _, id := range s.ids() {
		watcher := s.watcherOf(id)
		w := supervisor.Worker{ID: id, Socket: s.layout.socketOf(id)}
		if s.layout.perWorker {
			w.Name = watcher
		} else {
			w.Name = fmt.Sprintf("%s.%d", watcher, id+1)
		}
		p, running := s.procs[id]
		m := c.memoLocked(id)
		newProcess := false
		if running {
			newProcess = c.notePIDLocked(id, p.PID)
			w.PID = p.PID
			w.StartedAt = p.Started
			w.CPUPercent = p.CPU
			w.RSSBytes = p.RSS
		}
		w.State = workerState(s.statuses[watcher], running, m.stopping)
		if m.state != w.State || m.since.IsZero() || newProcess {
			m.state, m.since = w.State, now
			if running && !p.Started.IsZero() && w.State == supervisor.StateRunning {
				m.since = p.Started
			}
		}
		w.Since = m.since
		w.Restarts = m.restarts
		w.LastExit, w.LastExitCode = m.lastExit, m.lastExitCode
		if r := c.opts.Router; r != nil && !s.layout.sharedSockets() {
			w.Healthy = r.Healthy(id)
			w.InFlight = r.InFlight(id)
		} else {
			w.Healthy = w.State == supervisor.StateRunning
		}
		ws = append(ws, w)
	}
	return ws
}

// workerState maps a watcher's status and its process onto a worker state.
func workerState(watcherStatus string, running, stopping bool) supervisor.State {
	switch {
	case watcherStatus == "stopped":
		return supervisor.StateStopped
	case watcherStatus == "stopping" || (running && stopping):
		return supervisor.StateStopping
	case !running:
		// Active but no process: circus respawns it on its next check.
		return supervisor.StateStarting
	case watcherStatus == "starting":
		return supervisor.StateStarting
	}
	return supervisor.StateRunning
}

func (c *Client) memoLocked(id int) *workerMemo {
	m := c.memo[id]
	if m == nil {
		m = &workerMemo{}
		c.memo[id] = m
	}
	return m
}

// notePIDLocked records that worker id runs pid, counting a restart when
// the pid changed. It reports whether the pid is new.
func (c *Client) notePIDLocked(id, pid int) bool {
	m := c.memoLocked(id)
	if m.pid == pid {
		return false
	}
	if m.pid != 0 {
		m.restarts++
	}
	m.pid = pid
	m.stopping = false
	// Old pids stay mapped so that their reap events still find the
	// worker; the map is pruned to the current pids now and then.
	if len(c.pidIDs) > 4096 {
		c.pidIDs = map[int]int{}
		for wid, wm := range c.memo {
			if wm.pid != 0 {
				c.pidIDs[wm.pid] = wid
			}
		}
	}
	c.pidIDs[pid] = id
	return true
}
