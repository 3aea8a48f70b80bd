// Package daemon is `whisgee up`: it owns the stack. It runs the proxy and
// the supervisor, joins their events on one bus, and serves the control API
// on a 0600 Unix socket; the dashboard and `whisgee ctl` are only clients,
// so closing them never stops a worker.
//
//	d, err := daemon.New(cfg, daemon.Options{Version: "1.0"})
//	if err := d.Start(ctx); err != nil { ... } // stack up, socket open
//	<-ctx.Done()
//	d.Stop(context.Background())                // workers stopped, sockets gone
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/supervisor/circus"
)

// Options configure a Daemon.
type Options struct {
	// Version is whisgee's version, reported in status.
	Version string
	// Logf prints the daemon's own messages. If nil, they are dropped.
	Logf func(format string, args ...any)
	// NewProxy builds the proxy engine. If nil, the engine named by
	// proxy.engine in the config.
	NewProxy func(cfg *config.Config, version string, hook proxyctl.HealthHook, notice func(string), logf func(string, ...any)) (proxyctl.Engine, error)
	// Hub is the event bus. If nil, the daemon makes one.
	Hub *supervisor.Hub
}

// Daemon is a running stack.
type Daemon struct {
	cfg  *config.Config
	opts Options
	hub  *supervisor.Hub

	proxy   proxyctl.Engine
	sup     supervisor.Supervisor
	closer  func(context.Context) error // stops the supervisor
	unlock  func()                      // releases the run directory's lock
	ctl     net.Listener
	srv     *http.Server
	traffic *traffic
	factsMu sync.Mutex
	facts   facts // set by Start, then by setFacts
	started time.Time

	latest   atomic.Value // string: the newest proxy release, when known
	stopOnce sync.Once
	stopErr  error
	done     chan struct{}
	cfgMu    sync.Mutex // guards cfg.Proxy, which a reload replaces
	// reloading holds one token: reloads (SIGHUP, the API, circusctl
	// reloadconfig) run one at a time, each reading the file afresh.
	reloading chan struct{}
	// circusSrv is the circus endpoint, when supervisor.circus_endpoint
	// is set; a reload tells it the new worker settings.
	circusSrv *circus.Server
}

// New checks the config; Start does the work.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if cfg == nil {
		return nil, errors.New("daemon: no config")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.NewProxy == nil {
		opts.NewProxy = newProxy
	}
	hub := opts.Hub
	if hub == nil {
		hub = supervisor.NewHub(2000)
	}
	return &Daemon{cfg: cfg, opts: opts, hub: hub, done: make(chan struct{}), reloading: make(chan struct{}, 1)}, nil
}

// Hub is the daemon's event bus.
func (d *Daemon) Hub() *supervisor.Hub { return d.hub }

// Start brings the stack up: the run directory first (checked to be this
// user's alone and locked, so a second daemon on it refuses before
// touching anything), the control socket, then checks of the app, the
// proxy's listeners, the workers and the control API. It returns once the
// workers are spawned and the proxy accepts connections. On error
// everything started is stopped again.
func (d *Daemon) Start(ctx context.Context) (err error) {
	d.started = time.Now()
	if d.unlock, err = claimDirs(d.cfg); err != nil {
		return err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, d.unlock)
	d.ctl, err = control.Listen(d.cfg.Control.Socket)
	if err != nil {
		return err
	}
	undo = append(undo, func() { d.ctl.Close(); os.Remove(d.cfg.Control.Socket) })

	runner, err := safefs.WriteFile(d.cfg.RunDir, "whisgee_runner.py", assets.Runner(), 0o644)
	if err != nil {
		return fmt.Errorf("run_dir: %w", err)
	}
	undo = append(undo, func() { os.Remove(runner) })
	// With circus, circusd runs the workers from its own circus.ini.
	if d.cfg.Supervisor.Engine == "builtin" {
		if d.facts, err = preflight(ctx, d.cfg, runner); err != nil {
			return err
		}
	} else {
		d.facts.server = "circusd"
	}

	hook := func(id int, healthy bool, reason string) {
		state, verb := "unhealthy", "failed its health check"
		if healthy {
			state, verb = "healthy", "passed its health check"
		}
		msg := fmt.Sprintf("worker-%d %s", id, verb)
		if reason != "" {
			msg += ": " + reason
		}
		d.hub.Publish(supervisor.Event{Kind: supervisor.EventHealth, Worker: id, State: state, Message: msg})
	}
	notice := func(msg string) {
		d.hub.Publish(supervisor.Event{Kind: supervisor.EventError, Worker: -1, Message: msg})
	}
	d.proxy, err = d.opts.NewProxy(d.cfg, d.opts.Version, hook, notice, d.opts.Logf)
	if err != nil {
		return err
	}
	if err := d.proxy.Start(ctx); err != nil {
		return err
	}
	undo = append(undo, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.proxy.Close(cctx)
	})

	if err := d.startSupervisor(ctx, runner); err != nil {
		return err
	}
	d.lookUpLatestProxy()

	if d.cfg.Proxy.Listen != "off" {
		d.traffic = newTraffic(d.cfg, "http://"+d.cfg.Proxy.Listen)
		if d.cfg.Demo.Traffic {
			d.traffic.start()
		}
	}

	d.srv = &http.Server{Handler: control.NewServer(&backend{d: d}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.srv.Serve(d.ctl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.opts.Logf("control API stopped: %v", err)
		}
	}()
	workers := fmt.Sprintf("%d workers", d.cfg.Workers.Count)
	if d.cfg.Supervisor.Engine == "circus" {
		workers = "workers of circusd at " + d.cfg.Supervisor.Endpoint
	}
	d.hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: fmt.Sprintf("whisgee up: %s, proxy %s on %s", workers, d.proxy.Name(), d.listenSummary())})
	return nil
}

func (d *Daemon) startSupervisor(ctx context.Context, runner string) error {
	switch d.cfg.Supervisor.Engine {
	case "builtin":
		local, err := supervisor.NewLocal(supervisor.Options{
			Config:     d.cfg,
			Router:     d.proxy,
			Hub:        d.hub,
			RunnerPath: runner,
			Logf:       d.opts.Logf,
		})
		if err != nil {
			return err
		}
		if err := local.Start(ctx); err != nil {
			return err
		}
		stopServing, err := d.serveCircusProtocol(local)
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), d.cfg.Workers.GracefulTimeout)
			defer cancel()
			local.Close(cctx)
			return err
		}
		d.sup = local
		d.closer = func(ctx context.Context) error {
			stopServing()
			return local.Close(ctx)
		}
		return nil
	case "circus":
		return d.startCircus(ctx)
	}
	return fmt.Errorf("supervisor.engine %q is not available in this build", d.cfg.Supervisor.Engine)
}

func (d *Daemon) listenSummary() string {
	s, tlsListen, _ := d.proxyAddrs()
	if tlsListen != "" {
		s += ", https " + tlsListen
	}
	return s
}

// Stop shuts the stack down: the traffic generator, then the proxy
// (finishing requests in flight), then every worker, then the control API.
// It is safe to call more than once.
func (d *Daemon) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		defer close(d.done)
		var errs []error
		if d.traffic != nil {
			d.traffic.stop()
		}
		d.hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: "whisgee up: shutting down"})
		if d.proxy != nil {
			if err := d.proxy.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("proxy: %w", err))
			}
		}
		if d.closer != nil {
			if err := d.closer(ctx); err != nil {
				errs = append(errs, fmt.Errorf("supervisor: %w", err))
			}
		}
		if d.srv != nil {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			d.srv.Shutdown(sctx) // streams never end by themselves: cut them
			cancel()
			d.srv.Close()
		}
		if d.ctl != nil {
			d.ctl.Close()
			os.Remove(d.cfg.Control.Socket)
		}
		os.Remove(d.cfg.RunDir + "/whisgee_runner.py")
		if d.unlock != nil {
			d.unlock() // last: the run directory is free for the next daemon
		}
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}

// Done is closed once Stop has finished.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Wait blocks until Stop has finished and returns its error.
func (d *Daemon) Wait() error {
	<-d.done
	return d.stopErr
}
