package builtin

import (
	"context"
	"time"

	"github.com/whisgee/whisgee/stats"
)

// windowTicks is how many one-second ticks interval quantiles cover:
// five, like Envoy's default stats flush interval.
const windowTicks = 5

// tickWindows advances every endpoint's latency window once a second.
func (p *Proxy) tickWindows() {
	defer p.loops.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.windowMu.Lock()
		for h, w := range p.windows {
			w.Tick(h)
		}
		p.windowMu.Unlock()
	}
}

// window returns h's window, making it on first use. windowMu is held.
func (p *Proxy) window(h *stats.Histogram) *stats.Window {
	w := p.windows[h]
	if w == nil {
		w = stats.NewWindow(windowTicks, time.Second)
		w.Tick(h) // the window starts now, not at the proxy's start
		p.windows[h] = w
	}
	return w
}

// Snapshot reads the proxy's stats into the one model: a listener per
// open listener, the cluster of all workers, and a host per worker with
// its health ("draining" while it drains). It never fails.
func (p *Proxy) Snapshot(ctx context.Context) (*stats.Snapshot, error) {
	s := &stats.Snapshot{
		Time:      time.Now(),
		Engine:    "builtin",
		Version:   p.opts.Version,
		StartedAt: p.startedAt,
	}
	list := *p.backends.Load()
	p.lnMu.Lock()
	listeners := p.listeners
	p.lnMu.Unlock()
	p.windowMu.Lock()
	defer p.windowMu.Unlock()
	for _, l := range listeners {
		e := stats.Endpoint{Name: l.name, Address: l.ln.Addr().String()}
		l.counters.Fill(&e, p.window(&l.counters.Latency))
		s.Listeners = append(s.Listeners, e)
	}
	s.Cluster.Name = "wsgi"
	p.cluster.Fill(&s.Cluster, p.window(&p.cluster.Latency))
	for _, b := range list {
		h := stats.Host{WorkerID: b.ID}
		h.Name, h.Address = b.Name, b.Address
		b.counters.Fill(&h.Endpoint, p.window(&b.counters.Latency))
		switch {
		case b.draining.Load():
			h.Health = stats.HealthDraining
			h.HealthFlags = []string{"eds_status_draining"}
		case b.health.Load() == healthUp:
			h.Health = stats.HealthHealthy
		case b.health.Load() == healthDown:
			h.Health = stats.HealthUnhealthy
			h.HealthFlags = []string{"failed_active_hc"}
		default:
			h.Health = stats.HealthUnknown
			h.HealthFlags = []string{"pending_active_hc"}
		}
		if b.draining.Load() && b.health.Load() == healthDown {
			h.HealthFlags = append(h.HealthFlags, "failed_active_hc")
		}
		s.Hosts = append(s.Hosts, h)
	}
	return s, nil
}
