package daemon

import (
	"context"
	"fmt"

	"github.com/whisgee/whisgee/config"
)

// reloader is a proxy engine that applies a new config without dropping
// connections: Envoy by a hot restart to the next epoch, the built-in
// proxy by swapping its settings and listeners in place.
type reloader interface {
	Reload(ctx context.Context, cfg *config.Config) error
}

// reloadProxy hands next to the proxy engine. On success the daemon's
// config takes the proxy and health-check settings over, so status and
// the dashboard show the addresses now served, and the demo traffic
// follows a moved listener. On failure nothing changed.
func (d *Daemon) reloadProxy(ctx context.Context, next *config.Config) (string, error) {
	r, ok := d.proxy.(reloader)
	if !ok {
		return fmt.Sprintf("the %s proxy takes proxy settings at start only", d.proxy.Name()), nil
	}
	if err := r.Reload(ctx, next); err != nil {
		return "", fmt.Errorf("proxy reload refused, the running proxy is unchanged: %w", err)
	}
	d.cfgMu.Lock()
	moved := d.cfg.Proxy.Listen != next.Proxy.Listen
	d.cfg.Proxy = next.Proxy
	d.cfg.Workers.Health = next.Workers.Health
	d.cfgMu.Unlock()
	if moved && d.traffic != nil && next.Proxy.Listen != "off" {
		d.traffic.retarget("http://" + next.Proxy.Listen)
	}
	return "proxy reloaded, serving " + d.listenSummary(), nil
}

// proxyAddrs are the proxy's configured addresses as last applied.
func (d *Daemon) proxyAddrs() (listen, tlsListen, admin string) {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg.Proxy.Listen, d.cfg.Proxy.TLS.Listen, d.cfg.Proxy.Admin
}
