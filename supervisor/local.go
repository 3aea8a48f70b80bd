package supervisor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/probes"
)

// Options configure the built-in supervisor.
type Options struct {
	// Config holds the app and workers sections; required.
	Config *config.Config
	// Router is the proxy side of safe restarts. If nil, workers count as
	// healthy once started and nothing is drained.
	Router Router
	// Hub receives events. If nil, Local makes its own.
	Hub *Hub
	// RunnerPath is the Python runner script (assets.Runner written to disk);
	// required unless workers.cmd is set.
	RunnerPath string
	// Shim is the argv prefix that execs a worker with LISTEN_PID set. If
	// nil, [/proc/self/exe, ShimArg, "--"]: the running binary itself, so
	// respawns work after the file it was started from is replaced or
	// removed (an upgrade, a deleted build).
	Shim []string
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Backoff overrides the respawn delays from the config (for tests),
	// until Reconfigure brings a new workers.backoff.
	Backoff *Backoff
	// HealthTimeout bounds the wait for a new process to pass a health
	// check. If zero, 60s.
	HealthTimeout time.Duration
	// SampleEvery is the CPU/RSS sampling period. If zero, 1s.
	SampleEvery time.Duration
	// Logf logs the supervisor's own troubles. If nil, they are dropped.
	Logf func(format string, args ...any)
}

// Local is the built-in supervisor, in circus's model: it binds each
// worker's listening socket itself, hands it to the worker as fd 3, notices
// exits at once (one Wait per process), respawns with capped exponential
// backoff and jitter, and marks a worker failed when it crashes too often.
type Local struct {
	opts   Options
	hub    *Hub
	router Router

	mu sync.Mutex
	// cfg, backoff and stopSig are the worker settings in effect;
	// Reconfigure replaces them. A cfg is never changed in place.
	cfg     *config.Config
	backoff Backoff
	stopSig syscall.Signal
	workers map[int]*worker
	busy    string // the action under way, "" when none
	closing bool
	wg      sync.WaitGroup // process waiters and log readers
	stop    chan struct{}  // closed by Close: ends background loops
}

// NewLocal checks the options and returns a supervisor ready to Start.
func NewLocal(opts Options) (*Local, error) {
	if opts.Config == nil {
		return nil, fmt.Errorf("supervisor: no config")
	}
	// A copy of its own: Reconfigure swaps it while the caller may keep
	// using (and changing) the one it passed.
	own := *opts.Config
	cfg := &own
	if len(cfg.Workers.Cmd) == 0 && opts.RunnerPath == "" {
		return nil, fmt.Errorf("supervisor: no runner path and no workers.cmd")
	}
	sig, err := config.ParseSignal(cfg.Workers.StopSignal)
	if err != nil {
		return nil, fmt.Errorf("workers.stop_signal: %w", err)
	}
	s := &Local{
		opts:    opts,
		cfg:     cfg,
		hub:     opts.Hub,
		router:  opts.Router,
		stopSig: sig,
		workers: map[int]*worker{},
		stop:    make(chan struct{}),
	}
	if s.hub == nil {
		s.hub = NewHub(0)
	}
	if s.router == nil {
		s.router = nopRouter{}
	}
	if opts.Backoff != nil {
		s.backoff = *opts.Backoff
	} else {
		s.backoff = Backoff{Initial: cfg.Workers.Backoff.Initial, Max: cfg.Workers.Backoff.Max}
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.HealthTimeout == 0 {
		s.opts.HealthTimeout = 60 * time.Second
	}
	if s.opts.SampleEvery == 0 {
		s.opts.SampleEvery = time.Second
	}
	if s.opts.Logf == nil {
		s.opts.Logf = func(string, ...any) {}
	}
	if s.opts.Shim == nil {
		exe, err := selfExe()
		if err != nil {
			return nil, err
		}
		s.opts.Shim = []string{exe, ShimArg, "--"}
	}
	return s, nil
}

// Engine implements Supervisor.
func (s *Local) Engine() string { return "builtin" }

// Hub is where the supervisor publishes events.
func (s *Local) Hub() *Hub { return s.hub }

// Start binds every worker's socket and spawns the workers. It returns once
// they are spawned; each turns running when it passes a health check.
func (s *Local) Start(ctx context.Context) error {
	if err := safefs.EnsureDir(s.cfg.RunDir, safefs.Private); err != nil {
		return fmt.Errorf("run_dir: %w", err)
	}
	if err := makeLogDir(s.cfg.Workers.LogDir); err != nil {
		return err
	}
	s.mu.Lock()
	var added []*worker
	for id := 0; id < s.cfg.Workers.Count; id++ {
		w, err := s.addWorkerLocked(id)
		if err != nil {
			s.mu.Unlock()
			s.closeSockets()
			return err
		}
		added = append(added, w)
	}
	s.syncRouterLocked()
	for _, w := range added {
		s.spawnLocked(w, "start")
	}
	s.mu.Unlock()
	go s.sampleLoop()
	return nil
}

// Workers implements Supervisor.
func (s *Local) Workers(ctx context.Context) ([]Worker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Worker, 0, len(s.workers))
	for _, id := range s.idsLocked() {
		out = append(out, s.workers[id].status(s.router))
	}
	return out, nil
}

// Subscribe implements Supervisor.
func (s *Local) Subscribe() (<-chan Event, func()) { return s.hub.Subscribe(0) }

// Logs implements Supervisor.
func (s *Local) Logs(ctx context.Context, id, n int) ([]LogLine, error) {
	s.mu.Lock()
	w, ok := s.workers[id]
	s.mu.Unlock()
	if !ok {
		return nil, s.unknown(id)
	}
	return w.logs.last(n), nil
}

// Close stops every worker (stop signal, then SIGKILL after the graceful
// timeout or when ctx ends), waits for them and removes their sockets.
func (s *Local) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	close(s.stop)
	var ws []*worker
	for _, id := range s.idsLocked() {
		ws = append(ws, s.workers[id])
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stopProcess(ctx, w, "shutdown")
		}()
	}
	wg.Wait()
	s.wg.Wait()
	s.closeSockets()
	return nil
}

func (s *Local) closeSockets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workers {
		w.sock.close()
	}
}

func (s *Local) idsLocked() []int {
	ids := make([]int, 0, len(s.workers))
	for id := range s.workers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// addWorkerLocked binds a new worker's socket and registers it (stopped).
func (s *Local) addWorkerLocked(id int) (*worker, error) {
	sock, err := bindSocket(s.cfg, id)
	if err != nil {
		return nil, err
	}
	w := &worker{
		id:    id,
		name:  fmt.Sprintf("worker-%d", id),
		sock:  sock,
		state: StateStopped,
		since: s.opts.Now(),
		logs:  newLogRing(s.cfg.Workers.LogLines),
		crashes: crashWindow{
			window: s.cfg.Workers.CrashLoop.Window,
			limit:  s.cfg.Workers.CrashLoop.MaxCrashes,
		},
	}
	w.logs.file = logFile(s.cfg.Workers.LogDir, w.name)
	s.workers[id] = w
	return w, nil
}

// syncRouterLocked tells the router which workers exist.
func (s *Local) syncRouterLocked() {
	var bs []Backend
	for _, id := range s.idsLocked() {
		w := s.workers[id]
		bs = append(bs, Backend{ID: id, Name: w.name, Network: w.sock.network, Address: w.sock.address})
	}
	s.router.SetWorkers(bs)
}

// setStateLocked moves a worker to a new state and publishes it.
func (s *Local) setStateLocked(w *worker, st State, why string) {
	if w.state == st {
		return
	}
	w.state = st
	w.since = s.opts.Now()
	msg := fmt.Sprintf("%s %s", w.name, st)
	if why != "" {
		msg += ": " + why
	}
	s.hub.Publish(Event{Kind: EventState, Worker: w.id, PID: w.pid(), State: string(st), Message: msg})
}

func (s *Local) unknown(id int) error {
	return fmt.Errorf("%w %d; `whisgee ctl status` lists the workers", ErrUnknownWorker, id)
}

// sampleLoop reads CPU and RSS of every worker once a period.
func (s *Local) sampleLoop() {
	t := time.NewTicker(s.opts.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		var ps []*proc
		for _, w := range s.workers {
			if w.proc != nil {
				ps = append(ps, w.proc)
			}
		}
		s.mu.Unlock()
		for _, p := range ps {
			sample, err := probes.ReadProc(p.pid)
			if err != nil {
				continue // exited between the listing and the read
			}
			s.mu.Lock()
			if p.last.PID != 0 {
				p.cpu = probes.CPUPercent(p.last, sample)
			}
			p.last = sample
			p.rss = sample.RSS
			s.mu.Unlock()
		}
	}
}

// nopRouter stands in when there is no proxy: nothing to drain, and a
// started worker counts as healthy.
type nopRouter struct{}

func (nopRouter) SetWorkers([]Backend)                         {}
func (nopRouter) SetDraining(int, bool)                        {}
func (nopRouter) InFlight(int) int64                           { return 0 }
func (nopRouter) WaitHealthy(ctx context.Context, _ int) error { return nil }
func (nopRouter) Healthy(int) bool                             { return true }
