package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/probes/versions"
	"github.com/whisgee/whisgee/supervisor"
)

// Reload re-reads the config file and applies what can change while the
// stack runs: the proxy's config (Envoy: checked, validated, then hot
// restarted to the next epoch; a failed epoch leaves the old one serving;
// the built-in proxy: settings, certificate and listener addresses swapped
// in place, all or nothing), the number of workers and the other worker
// settings (see planWorkerReload). It says what it did, and what needs a
// restart of `whisgee up` to take effect.
func (d *Daemon) Reload(ctx context.Context) (string, error) {
	if d.cfg.Path == "" {
		return "", fmt.Errorf("%w: this stack has no config file to reload", control.ErrUnsupported)
	}
	// A reload that arrives while one runs waits its turn, then reads the
	// file again: two quick SIGHUPs end with the newest file applied.
	select {
	case d.reloading <- struct{}{}:
		defer func() { <-d.reloading }()
	case <-ctx.Done():
		return "", fmt.Errorf("%w: another reload is still running; try again when it ends", control.ErrBusy)
	}
	next, err := config.Load(d.cfg.Path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", control.ErrInvalid, err)
	}
	for _, fixed := range []struct{ name, was, now string }{
		{"control.socket", d.cfg.Control.Socket, next.Control.Socket},
		{"run_dir", d.cfg.RunDir, next.RunDir},
		{"proxy.engine", d.cfg.Proxy.Engine, next.Proxy.Engine},
		{"supervisor.engine", d.cfg.Supervisor.Engine, next.Supervisor.Engine},
	} {
		if fixed.was != fixed.now {
			return "", fmt.Errorf("%w: %s changed (%s → %s); that needs a restart of whisgee up", control.ErrInvalid, fixed.name, fixed.was, fixed.now)
		}
	}
	workers, err := d.planWorkerReload(ctx, next)
	if err != nil {
		return "", err
	}
	proxyDone, err := d.reloadProxy(ctx, next)
	if err != nil {
		return "", err
	}
	done := []string{proxyDone}
	if msg, err := workers.apply(ctx); err != nil {
		// The proxy's part stands (it was all or nothing on its own);
		// say so, so the operator knows what is running.
		return "", fmt.Errorf("%s; but the workers' part failed: %w", proxyDone, err)
	} else if msg != "" {
		done = append(done, msg)
	}
	if next.Workers.Count != d.cfg.Workers.Count {
		if err := d.sup.Scale(ctx, next.Workers.Count); err != nil {
			return "", fmt.Errorf("scale to %d workers: %w", next.Workers.Count, err)
		}
		done = append(done, fmt.Sprintf("scaled to %d workers", next.Workers.Count))
		d.cfg.Workers.Count = next.Workers.Count
	}
	return fmt.Sprintf("config reloaded: %s", strings.Join(done, "; ")), nil
}

// lookUpLatestProxy finds the newest Envoy release in the background, so
// status can say "installed X, latest Y"; offline it says "unknown" and
// never delays anything.
func (d *Daemon) lookUpLatestProxy() {
	if d.proxy.Name() != "envoy" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		v, err := versions.Latest(ctx, versions.Options{})
		if err != nil || v == "" {
			v = "unknown"
		}
		d.latest.Store(v)
		d.hub.Publish(supervisor.Event{Kind: supervisor.EventAction, Worker: -1, Message: fmt.Sprintf("envoy: installed %s, latest release %s", d.proxy.Version(), v)})
	}()
}
