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
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/proxyctl/admin"
	"github.com/whisgee/whisgee/proxyctl/tlscert"
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
	cfg       *config.Config
	opts      Options
	requestID string // lower-case name of the request id header
	startedAt time.Time

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

	cluster   stats.Counters
	listeners []*listener
	admin     *http.Server
	adminAddr string

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
	name     string // "http" or "https"
	ln       net.Listener
	tls      *tls.Config
	proto    []byte // X-Forwarded-Proto value
	counters stats.Counters
}

// New makes a proxy for cfg (as config.Load completed it). It binds
// nothing until Start.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if cfg == nil {
		return nil, errors.New("builtin proxy: no config")
	}
	if cfg.Workers.Health.Interval <= 0 || cfg.Workers.Health.Timeout <= 0 || cfg.Workers.Health.Rise < 1 || cfg.Workers.Health.Fall < 1 {
		return nil, errors.New("builtin proxy: health check settings are unset; load the config with config.Load so defaults apply")
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
		cfg:       cfg,
		opts:      opts,
		requestID: strings.ToLower(cfg.Proxy.RequestIDHeader),
		conns:     make(map[*clientConn]struct{}),
		windows:   make(map[*stats.Histogram]*stats.Window),
	}
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
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("builtin proxy: already started")
	}
	p.startedAt = time.Now()
	var lc net.ListenConfig
	fail := func(err error) error {
		for _, l := range p.listeners {
			l.ln.Close()
		}
		p.listeners = nil
		return err
	}
	if a := p.cfg.Proxy.Listen; a != "" && a != "off" {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fail(fmt.Errorf("proxy.listen %s: %v; pick a free port or stop what holds it", a, shortErr(err)))
		}
		p.listeners = append(p.listeners, &listener{name: "http", ln: ln, proto: []byte("http")})
	}
	if t := p.cfg.Proxy.TLS; t.Listen != "" {
		tc, err := p.tlsConfig()
		if err != nil {
			return fail(err)
		}
		ln, err := lc.Listen(ctx, "tcp", t.Listen)
		if err != nil {
			return fail(fmt.Errorf("proxy.tls.listen %s: %v; pick a free port or stop what holds it", t.Listen, shortErr(err)))
		}
		p.listeners = append(p.listeners, &listener{name: "https", ln: ln, tls: tc, proto: []byte("https")})
	}
	if a := p.cfg.Proxy.Admin; a != "" && a != "off" {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fail(fmt.Errorf("proxy.admin %s: %v; pick a free port or set admin: off", a, shortErr(err)))
		}
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			ln.Close()
			return fail(fmt.Errorf("proxy.admin %s is not loopback; the admin endpoint must listen on 127.0.0.1", a))
		}
		p.adminAddr = ln.Addr().String()
		p.admin = &http.Server{
			Handler: admin.Handler(p.Snapshot, admin.Info{Version: p.opts.Version, StartedAt: p.startedAt, State: func() string {
				if p.closing.Load() {
					return "DRAINING"
				}
				return "LIVE"
			}}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go p.admin.Serve(ln)
	}
	for _, l := range p.listeners {
		go p.acceptLoop(l)
	}
	p.loops.Add(1)
	go p.tickWindows()
	return nil
}

func (p *Proxy) tlsConfig() (*tls.Config, error) {
	t := p.cfg.Proxy.TLS
	cert, key := t.Cert, t.Key
	if cert == "" {
		dir := p.opts.TLSDir
		if dir == "" {
			dir = p.cfg.RunDir + "/tls"
		}
		host, _, _ := net.SplitHostPort(t.Listen)
		hosts := []string{"localhost", "127.0.0.1"}
		if host != "" && host != "localhost" && host != "127.0.0.1" {
			hosts = append(hosts, host)
		}
		var err error
		if cert, key, err = tlscert.WriteSelfSigned(dir, hosts); err != nil {
			return nil, fmt.Errorf("proxy.tls: self-signed certificate in %s: %v", dir, err)
		}
	}
	c, err := tlscert.Load(cert, key)
	if err != nil {
		return nil, err
	}
	return tlscert.ServerConfig(c), nil
}

// Addr is the bound address of a listener ("http", "https") or of the
// admin endpoint ("admin"), "" when it is not open. Useful with port 0.
func (p *Proxy) Addr(name string) string {
	if name == "admin" {
		return p.adminAddr
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
	for _, l := range p.listeners {
		l.ln.Close()
	}
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
			c.conn.Close()
		}
		p.connsMu.Unlock()
		for _, b := range *p.backends.Load() {
			b.closeAll()
		}
		<-done
	}
	// The admin endpoint stays up while requests drain (/ready says
	// DRAINING), and goes last.
	if p.admin != nil {
		p.admin.Close()
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
