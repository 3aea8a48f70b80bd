package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/supervisor"
)

// backend serves the control API from a running daemon. Every action is
// audited on the event bus: who asked, what, and how it went.
type backend struct {
	d *Daemon
}

func (b *backend) Status(ctx context.Context) (control.Status, error) {
	d := b.d
	host, _ := os.Hostname()
	facts := d.currentFacts()
	st := control.Status{
		Daemon: control.Daemon{
			PID:          os.Getpid(),
			Host:         host,
			StartedAt:    d.started,
			Version:      d.opts.Version,
			Config:       d.cfg.Path,
			Supervisor:   d.sup.Engine(),
			Proxy:        d.proxy.Name(),
			ProxyVersion: d.proxy.Version(),
			Python:       facts.python,
			Server:       facts.server,
			Listen:       d.cfg.Proxy.Listen,
			TLSListen:    d.cfg.Proxy.TLS.Listen,
			Admin:        d.cfg.Proxy.Admin,
		},
	}
	if v, ok := d.latest.Load().(string); ok {
		st.Daemon.LatestProxy = v
	}
	ws, err := d.sup.Workers(ctx)
	if err != nil {
		return st, fmt.Errorf("supervisor: %w", err)
	}
	st.Workers = ws
	snap, err := d.proxy.Snapshot(ctx)
	if err != nil {
		st.ProxyError = err.Error()
	} else {
		st.Proxy = snap
	}
	if d.traffic != nil {
		r := d.traffic.gen.Result()
		st.Traffic = &control.Traffic{Enabled: d.traffic.gen.Running(), Rate: d.traffic.gen.Rate(), Sent: r.Sent, Failed: r.Errors}
	}
	return st, nil
}

// audit runs an action and publishes what was asked and how it ended.
func (b *backend) audit(actor, what string, worker int, do func() error) (control.Result, error) {
	hub := b.d.hub
	hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: worker, Message: fmt.Sprintf("%s: %s requested", actor, what)})
	start := time.Now()
	err := do()
	took := time.Since(start).Round(time.Millisecond)
	res := control.Result{Took: took}
	if err != nil {
		hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: worker, Message: fmt.Sprintf("%s: %s failed after %s: %v", actor, what, took, err)})
		return res, err
	}
	res.Message = fmt.Sprintf("%s: done in %s", what, took)
	hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: worker, Message: fmt.Sprintf("%s: %s ok in %s", actor, what, took)})
	return res, nil
}

func (b *backend) Restart(ctx context.Context, req control.RestartRequest, actor string) (control.Result, error) {
	if req.Rolling {
		if len(req.IDs) > 0 {
			return control.Result{}, fmt.Errorf("%w: a rolling restart takes every worker; leave out the ids", control.ErrInvalid)
		}
		return b.audit(actor, "rolling restart", -1, func() error { return b.d.sup.RollingRestart(ctx) })
	}
	worker := -1
	what := fmt.Sprintf("restart of workers %v", req.IDs)
	if len(req.IDs) == 1 {
		worker = req.IDs[0]
		what = fmt.Sprintf("restart of worker %d", worker)
	}
	return b.audit(actor, what, worker, func() error { return b.d.sup.Restart(ctx, req.IDs...) })
}

func (b *backend) Scale(ctx context.Context, n int, actor string) (control.Result, error) {
	return b.audit(actor, fmt.Sprintf("scale to %d workers", n), -1, func() error { return b.d.sup.Scale(ctx, n) })
}

func (b *backend) StopWorker(ctx context.Context, id int, actor string) (control.Result, error) {
	return b.audit(actor, fmt.Sprintf("stop of worker %d", id), id, func() error { return b.d.sup.StopWorker(ctx, id) })
}

func (b *backend) StartWorker(ctx context.Context, id int, actor string) (control.Result, error) {
	return b.audit(actor, fmt.Sprintf("start of worker %d", id), id, func() error { return b.d.sup.StartWorker(ctx, id) })
}

func (b *backend) Signal(ctx context.Context, id int, sig, actor string) (control.Result, error) {
	return b.audit(actor, fmt.Sprintf("signal %s to worker %d", sig, id), id, func() error { return b.d.sup.Signal(ctx, id, sig) })
}

func (b *backend) Reload(ctx context.Context, actor string) (control.Result, error) {
	var msg string
	res, err := b.audit(actor, "config reload", -1, func() error {
		var err error
		msg, err = b.d.Reload(ctx)
		return err
	})
	if err == nil {
		res.Message = msg
	}
	return res, err
}

func (b *backend) Logs(ctx context.Context, id, n int) ([]supervisor.LogLine, error) {
	return b.d.sup.Logs(ctx, id, n)
}

func (b *backend) Events(since uint64) ([]supervisor.Event, <-chan supervisor.Event, func()) {
	return b.d.hub.SubscribeSince(since, 0)
}

func (b *backend) SetTraffic(ctx context.Context, req control.TrafficRequest, actor string) (control.Traffic, error) {
	t := b.d.traffic
	if t == nil {
		return control.Traffic{}, fmt.Errorf("%w: no traffic generator (proxy.listen is off)", control.ErrUnsupported)
	}
	if req.Rate != nil {
		if *req.Rate < 1 || *req.Rate > 100000 {
			return control.Traffic{}, fmt.Errorf("%w: rate must be 1 to 100000 requests per second", control.ErrInvalid)
		}
		t.gen.SetRate(*req.Rate)
	}
	if req.Enabled != nil {
		if *req.Enabled {
			t.start()
		} else {
			t.stop()
		}
	}
	r := t.gen.Result()
	out := control.Traffic{Enabled: t.gen.Running(), Rate: t.gen.Rate(), Sent: r.Sent, Failed: r.Errors}
	b.d.hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: fmt.Sprintf("%s: traffic %s at %d req/s", actor, onOff(out.Enabled), out.Rate)})
	return out, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
