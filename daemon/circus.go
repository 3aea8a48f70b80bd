package daemon

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sort"
	"time"

	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/supervisor/circus"
)

// startCircus makes a real circusd the supervisor: the daemon drives it
// through its control endpoint, republishes its events, and keeps the
// proxy's worker list in step with circus's sockets.
func (d *Daemon) startCircus(ctx context.Context) error {
	opts := circus.OptionsFromConfig(d.cfg)
	opts.Router = d.proxy
	client, err := circus.New(opts)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx); err != nil {
		return fmt.Errorf("supervisor.engine circus: %w; start circusd first (e.g. circusd --daemon circus.ini)", err)
	}
	d.sup = client
	loopCtx, stop := context.WithCancel(context.Background())
	events, unsubscribe := client.Subscribe()
	go func() {
		for ev := range events {
			ev.Seq = 0 // renumbered by the daemon's bus
			d.hub.Publish(ev)
		}
	}()
	synced := make(chan struct{})
	go d.syncCircusBackends(loopCtx, client, synced)
	select {
	case <-synced:
	case <-time.After(5 * time.Second):
	}
	d.closer = func(context.Context) error {
		stop()
		unsubscribe()
		return nil // circusd owns the workers: they keep running
	}
	return nil
}

// syncCircusBackends tells the proxy which sockets circus's workers listen
// on, once a second: circus may scale or be reconfigured behind our back.
// With one shared socket (circus's usual layout) the proxy sees one
// backend; with a socket per worker, one backend per worker.
func (d *Daemon) syncCircusBackends(ctx context.Context, sup supervisor.Supervisor, first chan<- struct{}) {
	var last []supervisor.Backend
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if ws, err := sup.Workers(ctx); err == nil {
			bs := backendsOf(ws)
			if !reflect.DeepEqual(bs, last) {
				d.proxy.SetWorkers(bs)
				last = bs
			}
			if first != nil {
				close(first)
				first = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// backendsOf turns workers into one backend per distinct socket, keyed by
// the first worker id using it.
func backendsOf(ws []supervisor.Worker) []supervisor.Backend {
	seen := map[string]bool{}
	var bs []supervisor.Backend
	for _, w := range ws {
		if w.Socket == "" || seen[w.Socket] {
			continue
		}
		seen[w.Socket] = true
		network := "unix"
		if _, _, err := net.SplitHostPort(w.Socket); err == nil {
			network = "tcp"
		}
		bs = append(bs, supervisor.Backend{ID: w.ID, Name: w.Name, Network: network, Address: w.Socket})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].ID < bs[j].ID })
	return bs
}

// serveCircusProtocol answers circus's control protocol for the built-in
// supervisor when supervisor.circus_endpoint is set, so circusctl scripts
// keep working after the switch.
func (d *Daemon) serveCircusProtocol(sup supervisor.Supervisor) (func(), error) {
	ep := d.cfg.Supervisor.CircusEndpoint
	if ep == "" {
		return func() {}, nil
	}
	srv, err := circus.Listen(ep, sup, circus.ServeOptions{Config: d.cfg, Watcher: d.cfg.Supervisor.Watcher, Reload: d.Reload})
	if err != nil {
		return nil, fmt.Errorf("supervisor.circus_endpoint: %w", err)
	}
	d.circusSrv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Run(ctx)
	}()
	d.hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: fmt.Sprintf("circus protocol served on %s (pubsub %s)", srv.Endpoint(), srv.PubSubEndpoint())})
	return func() { cancel(); <-done }, nil
}
