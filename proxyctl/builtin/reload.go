package builtin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl/admin"
	"github.com/whisgee/whisgee/proxyctl/tlscert"
	"github.com/whisgee/whisgee/stats"
)

// adminEndpoint is the admin HTTP server and what it listens on.
type adminEndpoint struct {
	addr string // as configured
	ln   net.Listener
	srv  *http.Server
}

// plan is a reload made ready: settings checked, the certificate loaded,
// new addresses bound. Nothing in it serves yet; commit puts it in place,
// drop undoes it.
type plan struct {
	cfg   *config.Config
	set   *settings
	http  *listener // nil when proxy.listen is off
	https *listener // nil without proxy.tls.listen
	tls   *tls.Config
	// selfSigned: tls holds a generated certificate, kept by the next
	// reload rather than made again.
	selfSigned bool
	admin      *adminEndpoint // nil when proxy.admin is off
	opened     []net.Listener // bound for this plan, closed by drop
}

// Reload applies cfg's proxy settings while the proxy serves: balance,
// retries, limits, timeouts, the request id header, the health checks,
// the TLS certificate (re-read from its files every time, so a reload
// after replacing them rotates it) and the addresses of the listeners and
// the admin endpoint. It is all or nothing: the settings are checked, the
// certificate is loaded and every new address is bound before anything
// changes, and any failure leaves the proxy exactly as it was, with an
// error saying what to fix.
//
// New requests, connections and health checks use the new values;
// requests in flight finish under the old ones. A moved or removed
// listener stops accepting at once; its open connections each finish one
// more request, answered with Connection: close, or end at their idle
// timeout. They are not cut while idle: a client may be sending its next
// request at that moment, and a POST lost that way cannot be retried.
func (p *Proxy) Reload(ctx context.Context, cfg *config.Config) error {
	if cfg == nil {
		return errors.New("builtin proxy: no config")
	}
	p.lnMu.Lock()
	defer p.lnMu.Unlock()
	if p.closing.Load() {
		return errors.New("builtin proxy: closing, nothing reloaded")
	}
	if !p.started.Load() {
		set, err := newSettings(cfg)
		if err != nil {
			return err
		}
		p.cfg = cfg
		p.set.Store(set)
		return nil
	}
	pl, err := p.prepare(ctx, cfg)
	if err != nil {
		return err
	}
	old := p.set.Load()
	p.commit(pl)
	if old.health != pl.set.health {
		// A check loop waits on a timer set from the old interval: wake
		// each one so the new interval (and path) apply now, not after
		// the old interval ran out.
		for _, b := range *p.backends.Load() {
			select {
			case b.check.kick <- struct{}{}:
			default:
			}
		}
	}
	p.logf("proxy: reloaded; listening on %s", p.describe())
	return nil
}

// prepare checks cfg and binds what it adds or moves, keeping the
// listeners whose address stays. lnMu is held.
func (p *Proxy) prepare(ctx context.Context, cfg *config.Config) (_ *plan, err error) {
	pl := &plan{cfg: cfg}
	if pl.set, err = newSettings(cfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pl.drop()
		}
	}()
	cur := func(name string) *listener {
		for _, l := range p.listeners {
			if l.name == name {
				return l
			}
		}
		return nil
	}
	// The certificate first: a bad file refuses the reload before any
	// address is bound.
	https := cur("https")
	if t := cfg.Proxy.TLS; t.Listen != "" {
		pl.selfSigned = t.Cert == ""
		if pl.selfSigned && https != nil && https.selfSigned {
			pl.tls = https.tls.Load() // a demo certificate is made once
		} else if pl.tls, err = p.loadTLS(cfg); err != nil {
			return nil, err
		}
	}
	if pl.http, err = pl.listener(ctx, cur("http"), "http", "proxy.listen", cfg.Proxy.Listen); err != nil {
		return nil, err
	}
	if pl.https, err = pl.listener(ctx, https, "https", "proxy.tls.listen", cfg.Proxy.TLS.Listen); err != nil {
		return nil, err
	}
	if pl.admin, err = pl.adminEndpoint(ctx, p, cfg.Proxy.Admin); err != nil {
		return nil, err
	}
	return pl, nil
}

// listener returns cur when it already listens on addr, else binds a new
// listener that takes over cur's stats. It returns nil for "off" or "".
func (pl *plan) listener(ctx context.Context, cur *listener, name, key, addr string) (*listener, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	if cur != nil && sameAddress(cur.addr, cur.ln.Addr(), addr) {
		return cur, nil
	}
	ln, err := bind(ctx, key, addr, "pick a free port or stop what holds it")
	if err != nil {
		return nil, err
	}
	pl.opened = append(pl.opened, ln)
	l := &listener{name: name, addr: addr, ln: ln, proto: []byte(name), counters: new(stats.Counters)}
	if cur != nil {
		l.counters = cur.counters
	}
	return l, nil
}

// adminEndpoint returns the running admin endpoint when it already
// listens on addr, else binds a new one, on loopback only.
func (pl *plan) adminEndpoint(ctx context.Context, p *Proxy, addr string) (*adminEndpoint, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	if cur := p.admin; cur != nil && sameAddress(cur.addr, cur.ln.Addr(), addr) {
		return cur, nil
	}
	ln, err := bind(ctx, "proxy.admin", addr, "pick a free port or set admin: off")
	if err != nil {
		return nil, err
	}
	pl.opened = append(pl.opened, ln)
	// The config loader refuses other addresses; a name that resolves
	// elsewhere is caught here, after the bind, before anything serves.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		return nil, fmt.Errorf("proxy.admin %s is not loopback; the admin endpoint must listen on 127.0.0.1", addr)
	}
	srv := &http.Server{
		Handler: admin.Handler(p.Snapshot, admin.Info{Version: p.opts.Version, StartedAt: p.startedAt, State: func() string {
			if p.closing.Load() {
				return "DRAINING"
			}
			return "LIVE"
		}}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	return &adminEndpoint{addr: addr, ln: ln, srv: srv}, nil
}

// drop closes what prepare bound.
func (pl *plan) drop() {
	for _, ln := range pl.opened {
		ln.Close()
	}
}

// commit puts a prepared plan in place. It cannot fail. lnMu is held.
func (p *Proxy) commit(pl *plan) {
	p.cfg = pl.cfg
	p.set.Store(pl.set)
	if pl.https != nil {
		pl.https.tls.Store(pl.tls)
		pl.https.selfSigned = pl.selfSigned
	}
	var next []*listener
	for _, l := range []*listener{pl.http, pl.https} {
		if l != nil {
			next = append(next, l)
		}
	}
	var retired []*listener
	for _, l := range p.listeners {
		if !containsListener(next, l) {
			retired = append(retired, l)
		}
	}
	for _, l := range next {
		if !containsListener(p.listeners, l) {
			go p.acceptLoop(l)
		}
	}
	p.listeners = next
	for _, l := range retired {
		l.retired.Store(true)
		l.ln.Close()
	}
	if old := p.admin; old != pl.admin {
		if pl.admin != nil {
			go pl.admin.srv.Serve(pl.admin.ln)
		}
		if old != nil {
			// Let a scrape in progress finish.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				old.srv.Shutdown(ctx)
				old.srv.Close()
			}()
		}
		p.admin = pl.admin
	}
}

// loadTLS reads the certificate and key named in cfg (or makes a
// self-signed pair when asked) into a server configuration.
func (p *Proxy) loadTLS(cfg *config.Config) (*tls.Config, error) {
	t := cfg.Proxy.TLS
	cert, key := t.Cert, t.Key
	if cert == "" {
		dir := p.opts.TLSDir
		if dir == "" {
			dir = cfg.RunDir + "/tls"
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

// bind listens on addr, with an error naming the setting, the address,
// the reason and what to do.
func bind(ctx context.Context, key, addr, fix string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v; %s", key, addr, shortErr(err), fix)
	}
	return ln, nil
}

// sameAddress reports whether addr names what a listener configured as
// was and bound to bound already listens on: the same text, or (for a
// fixed port) the same IP and port written another way.
func sameAddress(was string, bound net.Addr, addr string) bool {
	if addr == was {
		return true
	}
	want, err := net.ResolveTCPAddr("tcp", addr)
	have, ok := bound.(*net.TCPAddr)
	if err != nil || !ok || want.Port == 0 || want.Port != have.Port {
		return false
	}
	if want.IP == nil || want.IP.IsUnspecified() {
		return have.IP.IsUnspecified()
	}
	return want.IP.Equal(have.IP)
}

func containsListener(list []*listener, l *listener) bool {
	for _, x := range list {
		if x == l {
			return true
		}
	}
	return false
}

// describe lists the open addresses, for the log. lnMu is held.
func (p *Proxy) describe() string {
	s := ""
	for _, l := range p.listeners {
		s += l.name + " " + l.ln.Addr().String() + ", "
	}
	if p.admin != nil {
		return s + "admin " + p.admin.ln.Addr().String()
	}
	return s + "admin off"
}
