package envoy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// Options configure an Engine.
type Options struct {
	// Config is the stack; proxy.envoy and proxy.admin matter most.
	Config *config.Config
	// Binary is the envoy executable. If empty, proxy.envoy.binary, else
	// envoy on PATH.
	Binary string
	// Env is Envoy's environment. If nil, whisgee's own.
	Env []string
	// HealthHook is told when a worker's health verdict flips.
	HealthHook proxyctl.HealthHook
	// Log receives Envoy's output, a line at a time. If nil, discarded.
	Log io.Writer
	// OnNotice is told, in one line, what the engine did on its own (Envoy
	// died and was started again). It must not block. If nil, only Log
	// hears of it.
	OnNotice func(msg string)
	// PollInterval paces the admin polls of drains and health waits.
	// If zero, 100ms.
	PollInterval time.Duration
}

// Engine runs Envoy as whisgee's proxy: it renders and validates the
// config, launches `envoy -c FILE --restart-epoch N`, hot-restarts it on a
// config change (keeping the old epoch serving when the new one fails),
// routes safe worker restarts through the EDS file, and reads stats from
// the admin API. It implements proxyctl.Engine and supervisor.Router.
type Engine struct {
	opts   Options
	binary string
	admin  *Admin
	// reload serializes Reloads: two epochs must never start at once.
	reload sync.Mutex

	mu          sync.Mutex
	cfg         *config.Config
	workers     map[int]supervisor.Backend
	draining    map[int]bool
	edsVersion  uint64
	health      map[int]bool
	epoch       int // of cur
	cur         *process
	old         []*process // earlier epochs not yet reaped
	version     string
	stopMonitor context.CancelFunc
	monitorDone chan struct{}
	closed      bool
}

var _ proxyctl.Engine = (*Engine)(nil)

// New makes an Engine for cfg; Start launches Envoy.
func New(opts Options) (*Engine, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("envoy engine: no config")
	}
	if cfg.Proxy.Admin == "" || cfg.Proxy.Admin == "off" {
		return nil, errors.New("proxy.admin is off, but the envoy engine drains and watches workers through Envoy's admin API; set proxy.admin: 127.0.0.1:9901")
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	binary := opts.Binary
	if binary == "" {
		binary = cfg.Proxy.Envoy.Binary
	}
	if binary == "" {
		binary = "envoy"
	}
	e := &Engine{
		opts:     opts,
		binary:   binary,
		admin:    &Admin{URL: "http://" + cfg.Proxy.Admin, RunDir: cfg.RunDir},
		cfg:      cfg,
		workers:  map[int]supervisor.Backend{},
		draining: map[int]bool{},
		health:   map[int]bool{},
		epoch:    -1,
	}
	for _, w := range DefaultWorkers(cfg) {
		e.workers[w.ID] = w
	}
	return e, nil
}

// Name is "envoy".
func (e *Engine) Name() string { return "envoy" }

// Admin is the reader of this Envoy's admin API.
func (e *Engine) Admin() *Admin { return e.admin }

// Epoch is the restart epoch now serving (-1 before Start).
func (e *Engine) Epoch() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch
}

// Version is the Envoy version `envoy --version` reported at Start.
func (e *Engine) Version() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}

// Start renders and validates the config, launches epoch 0 and returns
// once Envoy reports LIVE.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.cur != nil {
		e.mu.Unlock()
		return errors.New("envoy engine already started")
	}
	cfg := e.cfg
	e.mu.Unlock()
	bin, err := exec.LookPath(e.binary)
	if err != nil {
		return fmt.Errorf("envoy binary %q not found: %v; install Envoy (see `whisgee envoy latest`) or set proxy.envoy.binary", e.binary, err)
	}
	e.binary = bin
	v := EnvoyVersion(ctx, e.binary, e.opts.Env)
	e.mu.Lock()
	e.version = v
	e.mu.Unlock()
	p, err := e.launch(ctx, cfg, 0)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.cur, e.epoch = p, 0
	e.mu.Unlock()
	e.startMonitor()
	return nil
}

// Reload moves Envoy to cfg: render, validate (whisgee's checks, then
// `envoy --mode validate`), then hot-restart to the next epoch. When the
// new epoch fails, the old one keeps serving: whisgee stops only the
// failed process (Envoy's hot-restarter.py would stop them all) and, as
// the failed child may already have taken the admin endpoint from its
// parent, brings the admin back by hot-restarting the previous config.
func (e *Engine) Reload(ctx context.Context, cfg *config.Config) error {
	e.reload.Lock()
	defer e.reload.Unlock()
	e.mu.Lock()
	if e.cur == nil || e.closed {
		e.mu.Unlock()
		return errors.New("envoy engine is not running; start it first")
	}
	prevCfg, prevEpoch, parent := e.cfg, e.epoch, e.cur
	e.mu.Unlock()

	if cfg.Proxy.Admin != prevCfg.Proxy.Admin {
		// The new epoch takes the admin endpoint over from its parent;
		// moving it would leave whisgee reading the wrong address.
		return fmt.Errorf("proxy.admin changed from %s to %s; a hot restart cannot move it: restart whisgee", prevCfg.Proxy.Admin, cfg.Proxy.Admin)
	}
	next := prevEpoch + 1
	p, err := e.launch(ctx, cfg, next)
	if err == nil {
		e.adopt(cfg, next, p, parent)
		return nil
	}
	if !errors.Is(err, errEpochFailed) {
		return err // refused before launch: nothing changed
	}
	// The new epoch failed. Is the old one still answering?
	if _, rerr := e.admin.Ready(ctx); rerr == nil {
		return fmt.Errorf("%w; epoch %d keeps serving the previous config", err, prevEpoch)
	}
	rp, rerr := e.launch(ctx, prevCfg, next)
	if rerr != nil {
		return fmt.Errorf("%w; epoch %d keeps serving the previous config but its admin endpoint is gone (restoring it failed: %v)", err, prevEpoch, rerr)
	}
	e.adopt(prevCfg, next, rp, parent)
	return fmt.Errorf("%w; the previous config serves on as epoch %d", err, next)
}

// adopt makes p the serving epoch. Envoy's new epoch stops its parent
// after parent_shutdown_time; whisgee makes sure of it a little later.
func (e *Engine) adopt(cfg *config.Config, epoch int, p, parent *process) {
	e.mu.Lock()
	e.cfg, e.epoch, e.cur = cfg, epoch, p
	e.old = append(e.old, parent)
	e.mu.Unlock()
	grace := cfg.Proxy.Envoy.ParentShutdownTime + 10*time.Second
	go func() {
		select {
		case <-parent.done:
		case <-time.After(grace):
			parent.stop(5 * time.Second)
		}
		e.mu.Lock()
		for i, o := range e.old {
			if o == parent {
				e.old = append(e.old[:i], e.old[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
	}()
}

// errEpochFailed marks a launched epoch that did not become LIVE.
var errEpochFailed = errors.New("new Envoy epoch failed")

// launch renders cfg for epoch, validates it, starts the process and
// waits until the admin endpoint reports LIVE from that very epoch.
func (e *Engine) launch(ctx context.Context, cfg *config.Config, epoch int) (*process, error) {
	e.mu.Lock()
	workers := e.backendsLocked()
	draining := copyBools(e.draining)
	e.edsVersion++
	ver := e.edsVersion
	e.mu.Unlock()

	files, err := Render(cfg, RenderOptions{Workers: workers, Draining: draining, Version: ver})
	if err != nil {
		return nil, err
	}
	if err := ValidateBootstrap(files.Bootstrap).Err(); err != nil {
		return nil, fmt.Errorf("the rendered Envoy config is invalid: %w", err)
	}
	if err := files.writeForEpoch(epoch); err != nil {
		return nil, err
	}
	path := files.epochPath(epoch)
	if err := runValidate(ctx, e.binary, path, e.opts.Env); err != nil {
		return nil, err
	}
	env := cfg.Proxy.Envoy
	p, err := startProcess(e.binary, envoyArgs(path, epoch, env.BaseID, env.DrainTime, env.ParentShutdownTime), e.opts.Env, epoch, path, e.opts.Log)
	if err != nil {
		return nil, err
	}
	if err := e.waitLive(ctx, p, env.StartTimeout); err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("%w: epoch %d: %v", errEpochFailed, epoch, err)
	}
	// envoy.yaml is always the config that serves, for operators to read.
	_ = writeAtomic(files.BootstrapPath(), files.Bootstrap, 0o644)
	files.removeEpochsBefore(epoch - 1)
	return p, nil
}

// waitLive polls /server_info until the new process answers LIVE as
// itself (restart_epoch matches), exits, or timeout passes.
func (e *Engine) waitLive(ctx context.Context, p *process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	for {
		if si, err := e.admin.ServerInfo(ctx); err == nil && si.State == "LIVE" && int(si.CommandLineOptions.RestartEpoch) == p.epoch {
			return nil
		}
		select {
		case <-p.done:
			return errors.New(p.exitReason())
		case <-ctx.Done():
			return fmt.Errorf("not LIVE after %s (%v); last output: %s", timeout, ctx.Err(), p.lastLines(3))
		case <-tick.C:
		}
	}
}

// Close stops new connections (POST /drain_listeners), lets requests in
// flight finish until ctx ends, then stops every epoch.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	procs := append([]*process{}, e.old...)
	if e.cur != nil {
		procs = append(procs, e.cur)
	}
	stop := e.stopMonitor
	e.mu.Unlock()
	if stop != nil {
		stop()
		<-e.monitorDone
	}
	if len(procs) == 0 {
		return nil
	}
	if err := e.admin.Post(ctx, "/drain_listeners"); err == nil {
		e.waitIdle(ctx)
	}
	for _, p := range procs {
		p.stop(5 * time.Second)
	}
	return nil
}

// waitIdle waits until no request is in flight to any worker, or ctx ends.
func (e *Engine) waitIdle(ctx context.Context) {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	for {
		hosts, err := e.admin.Clusters(ctx)
		if err != nil {
			return
		}
		busy := false
		for _, h := range hosts {
			if h.Cluster == ClusterName && h.Stats["rq_active"] > 0 {
				busy = true
			}
		}
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Snapshot reads the stats through the admin API; hosts are matched to
// workers by their socket, and listeners get their configured address.
func (e *Engine) Snapshot(ctx context.Context) (*stats.Snapshot, error) {
	s, err := e.admin.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.Version == "" {
		s.Version = e.version
	}
	byAddr := map[string]int{}
	for id, w := range e.workers {
		byAddr[backendAddress(w)] = id
	}
	for i := range s.Hosts {
		if id, ok := byAddr[s.Hosts[i].Address]; ok {
			s.Hosts[i].WorkerID = id
		}
	}
	for i := range s.Listeners {
		switch s.Listeners[i].Name {
		case "http":
			s.Listeners[i].Address = e.cfg.Proxy.Listen
		case "https":
			s.Listeners[i].Address = e.cfg.Proxy.TLS.Listen
		}
	}
	return s, nil
}

// files of one epoch: each epoch runs its own bootstrap file, so a failed
// new one leaves the serving one's file as it was.
func (f *Files) epochPath(epoch int) string {
	return filepath.Join(f.Dir, "envoy-epoch-"+strconv.Itoa(epoch)+".yaml")
}

func (f *Files) writeForEpoch(epoch int) error {
	// The daemon's own directory (run_dir/envoy by default): made with
	// Mkdir, and refused if another user could change it.
	if err := safefs.EnsureDir(f.Dir, safefs.Policy{Mode: 0o755}); err != nil {
		return fmt.Errorf("proxy.envoy.config_dir: %w", err)
	}
	if err := f.writeCert(); err != nil {
		return err
	}
	if err := writeAtomic(f.EDSPath(), f.EDS, 0o644); err != nil {
		return err
	}
	return writeAtomic(f.epochPath(epoch), f.Bootstrap, 0o644)
}

func (f *Files) removeEpochsBefore(epoch int) {
	for n := epoch - 1; n >= 0 && n >= epoch-10; n-- {
		_ = os.Remove(f.epochPath(n))
	}
}

func copyBools(m map[int]bool) map[int]bool {
	c := make(map[int]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
