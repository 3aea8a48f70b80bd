// Package builtin is whisgee's own reverse proxy: a small hand-written
// HTTP/1.1 relay in front of the workers, with keep-alive to clients,
// pooled keep-alive connections to each worker (Unix socket or TCP), load
// balancing over healthy workers, active health checks, safe retries,
// draining for safe restarts, and stats recorded without locks. It is a
// proxyctl.Engine:
//
//	p, err := builtin.New(cfg, builtin.Options{OnHealth: hook, Version: version})
//	p.SetWorkers([]supervisor.Backend{{ID: 0, Network: "unix", Address: "/run/whisgee/worker-0.sock"}})
//	err = p.Start(ctx)          // binds proxy.listen, proxy.tls.listen, proxy.admin
//	err = p.WaitHealthy(ctx, 0) // a check that passed after this call
//	snap, _ := p.Snapshot(ctx)
//	err = p.Close(ctx)          // in-flight requests finish until ctx ends
//
// The relay is not net/http's ReverseProxy: on a 2-core machine that one
// ran at about a third of nginx's rate, while this one parses heads into
// reused buffers, keeps buffers per connection, and allocates nothing per
// request on the keep-alive path.
package builtin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// Options are the proxy's hooks and tunables beyond the config file.
type Options struct {
	// OnHealth is called when a worker's health verdict flips. If nil,
	// flips are only logged.
	OnHealth proxyctl.HealthHook
	// Logf receives one-line log messages. If nil, nothing is logged.
	Logf func(format string, args ...any)
	// Version is whisgee's version, shown by Version and /server_info.
	// If empty, "dev".
	Version string
	// HoldTimeout is how long a request waits for an eligible worker when
	// none is (the only worker is restarting, say) before it gets a 503.
	// If zero, 10s.
	HoldTimeout time.Duration
	// ConnectTimeout bounds connecting to a worker. If zero, 5s.
	ConnectTimeout time.Duration
	// TLSDir is where a self-signed certificate is written when
	// proxy.tls.self_signed asks for one. If empty, cfg.RunDir/tls.
	TLSDir string
}

// Proxy is the built-in proxy engine. Create it with New.
type Proxy struct {
	opts      Options
	startedAt time.Time

	// set is what requests and health checks read, swapped whole by
	// Reload (see settings).
	set atomic.Pointer[settings]

	ctx    context.Context // ends when the proxy closes
	cancel context.CancelFunc
	loops  sync.WaitGroup // health-check and stats loops

	// backends is the current worker list, replaced whole (copy on
	// write) so the hot path reads it with one atomic load.
	backends atomic.Pointer[[]*backend]
	setMu    sync.Mutex // serializes SetWorkers

	// changed is closed (and replaced) when a worker may have become
	// eligible, waking requests held for lack of one.
	changed atomic.Pointer[chan struct{}]

	cluster stats.Counters

	// lnMu guards what Start, Reload and Close change: the config, the
	// listeners and the admin endpoint. Requests never take it.
	lnMu      sync.Mutex
	cfg       *config.Config
	listeners []*listener
	admin     *adminEndpoint

	closing  atomic.Bool
	connsMu  sync.Mutex
	conns    map[*clientConn]struct{}
	connsWG  sync.WaitGroup
	started  atomic.Bool
	windowMu sync.Mutex
	windows  map[*stats.Histogram]*stats.Window
}

// listener is one client-facing listener with its stats.
type listener struct {
	name string // "http" or "https"
	addr string // as configured, to tell whether a reload moves it
	ln   net.Listener
	// tls is the HTTPS listener's configuration, nil on the plain one.
	// Reload swaps it to rotate the certificate: a handshake uses the one
	// current when it starts.
	tls        atomic.Pointer[tls.Config]
	selfSigned bool   // the certificate was generated, not read from files
	proto      []byte // X-Forwarded-Proto value
	// counters outlive a move of the listener: the one that replaces it
	// takes them over, so its numbers never go back.
	counters *stats.Counters
	// retired is set when a reload moved or removed the listener: its
	// connections finish the request they are in (or the next one) with
	// Connection: close.
	retired atomic.Bool
}

// New makes a proxy for cfg (as config.Load completed it). It binds
// nothing until Start.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("builtin proxy: no config")
	}
	set, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.HoldTimeout == 0 {
		opts.HoldTimeout = 10 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	p := &Proxy{
		cfg:     cfg,
		opts:    opts,
		conns:   make(map[*clientConn]struct{}),
		windows: make(map[*stats.Histogram]*stats.Window),
	}
	p.set.Store(set)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	empty := []*backend{}
	p.backends.Store(&empty)
	ch := make(chan struct{})
	p.changed.Store(&ch)
	return p, nil
}

// Name is "builtin".
func (p *Proxy) Name() string { return "builtin" }

// Version is whisgee's version.
func (p *Proxy) Version() string { return p.opts.Version }

// Start binds the listeners and the admin endpoint and starts serving.
// It fails, binding nothing, when any address cannot be had.
func (p *Proxy) Start(ctx context.Context) error {
	p.lnMu.Lock()
	defer p.lnMu.Unlock()
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("builtin proxy: already started")
	}
	p.startedAt = time.Now()
	plan, err := p.prepare(ctx, p.cfg)
	if err != nil {
		p.started.Store(false)
		return err
	}
	p.commit(plan)
	p.loops.Add(1)
	go p.tickWindows()
	return nil
}

// Addr is the bound address of a listener ("http", "https") or of the
// admin endpoint ("admin"), "" when it is not open. Useful with port 0.
func (p *Proxy) Addr(name string) string {
	p.lnMu.Lock()
	defer p.lnMu.Unlock()
	if name == "admin" {
		if p.admin == nil {
			return ""
		}
		return p.admin.ln.Addr().String()
	}
	for _, l := range p.listeners {
		if l.name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// Close stops accepting, closes idle client connections, lets requests in
// flight finish until ctx ends, then closes everything left.
func (p *Proxy) Close(ctx context.Context) error {
	if !p.closing.CompareAndSwap(false, true) {
		return nil
	}
	p.lnMu.Lock()
	for _, l := range p.listeners {
		l.ln.Close()
	}
	adm := p.admin
	p.lnMu.Unlock()
	p.connsMu.Lock()
	for c := range p.conns {
		c.closeIfIdle()
	}
	p.connsMu.Unlock()
	done := make(chan struct{})
	go func() { p.connsWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("builtin proxy: requests still in flight at close: %w", ctx.Err())
		p.cancel() // no more retries, holds or connects
		p.connsMu.Lock()
		for c := range p.conns {
			c.raw.Close()
		}
		p.connsMu.Unlock()
		for _, b := range *p.backends.Load() {
			b.closeAll()
		}
		<-done
	}
	// The admin endpoint stays up while requests drain (/ready says
	// DRAINING), and goes last.
	if adm != nil {
		adm.srv.Close()
	}
	p.cancel()
	p.loops.Wait()
	for _, b := range *p.backends.Load() {
		b.removed.Store(true)
		b.closeIdle()
	}
	return err
}

// SetWorkers replaces the set of workers. A worker keeps its pool, stats
// and health when its id and address stay the same; a removed worker's
// idle connections close now and busy ones after their response.
func (p *Proxy) SetWorkers(ws []supervisor.Backend) {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	old := *p.backends.Load()
	next := make([]*backend, 0, len(ws))
	kept := make(map[*backend]bool)
	for _, w := range ws {
		if w.Network == "" {
			w.Network = "unix"
			if !strings.HasPrefix(w.Address, "/") && strings.Contains(w.Address, ":") {
				w.Network = "tcp"
			}
		}
		if w.Name == "" {
			w.Name = "worker-" + strconv.Itoa(w.ID)
		}
		var b *backend
		for _, o := range old {
			// Backends are immutable once published (Snapshot reads them
			// without a lock): a renamed worker is a new backend.
			if o.Backend == w {
				b = o
				break
			}
		}
		if b == nil {
			b = &backend{Backend: w}
			b.check.init()
			if !p.closing.Load() {
				p.loops.Add(1)
				go p.checkLoop(b)
			}
		}
		kept[b] = true
		next = append(next, b)
	}
	p.backends.Store(&next)
	for _, o := range old {
		if !kept[o] {
			o.removed.Store(true)
			close(o.check.stop)
			o.closeIdle()
			p.windowMu.Lock()
			delete(p.windows, &o.counters.Latency)
			p.windowMu.Unlock()
		}
	}
	p.wakeHolders()
}

// SetDraining stops (true) or resumes (false) new requests to worker id.
// Draining also closes the worker's idle pooled connections at once: the
// process is about to exit, and a request sent on a connection to a dying
// worker is the classic failed request of a restart. Busy connections
// close after their response.
func (p *Proxy) SetDraining(id int, draining bool) {
	b := p.backendByID(id)
	if b == nil {
		return
	}
	b.draining.Store(draining)
	if draining {
		b.closeIdle()
	} else {
		p.wakeHolders()
	}
}

// InFlight is the number of requests outstanding on worker id.
func (p *Proxy) InFlight(id int) int64 {
	if b := p.backendByID(id); b != nil {
		return b.inflight.Load()
	}
	return 0
}

func (p *Proxy) backendByID(id int) *backend {
	for _, b := range *p.backends.Load() {
		if b.ID == id {
			return b
		}
	}
	return nil
}

// wakeHolders wakes requests waiting for an eligible worker.
func (p *Proxy) wakeHolders() {
	ch := make(chan struct{})
	old := p.changed.Swap(&ch)
	close(*old)
}

func (p *Proxy) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}

var _ proxyctl.Engine = (*Proxy)(nil)
