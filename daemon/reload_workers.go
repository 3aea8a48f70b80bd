package daemon

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/supervisor"
)

// workerReload is what a reload does to the workers, worked out and
// checked before anything changes; apply does it.
type workerReload struct {
	d      *Daemon
	local  *supervisor.Local // nil when circusd runs the workers
	next   *config.Config
	change supervisor.Change
	facts  *facts // of the new app, when new processes will run it
}

// planWorkerReload compares the worker settings of next with the running
// ones and checks the new ones: a workers.socket change is refused, and
// new worker processes must at least start (the interpreter or command
// exists, the app imports: the checks of `whisgee up`). An error means
// nothing changed.
func (d *Daemon) planWorkerReload(ctx context.Context, next *config.Config) (*workerReload, error) {
	r := &workerReload{d: d, next: next}
	local, ok := d.sup.(*supervisor.Local)
	if !ok {
		r.change = supervisor.CompareWorkers(d.cfg, next)
		return r, nil
	}
	r.local = local
	c, err := local.PlanReconfigure(next)
	if err != nil {
		return nil, err
	}
	r.change = c
	if len(c.Respawn) > 0 {
		f, err := preflight(ctx, next, filepath.Join(d.cfg.RunDir, "whisgee_runner.py"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v; nothing was changed", control.ErrInvalid, err)
		}
		r.facts = &f
	}
	return r, nil
}

// apply puts the new worker settings into effect (see
// supervisor.Local.Reconfigure) and says what it did, or, with circus,
// where the worker settings live.
func (r *workerReload) apply(ctx context.Context) (string, error) {
	if r.local == nil {
		if r.change.Empty() {
			return "", nil
		}
		return "worker settings are circusd's: change circus.ini (`whisgee circus render`) and run `circusctl reloadconfig`", nil
	}
	c, err := r.local.Reconfigure(ctx, r.next)
	if err != nil {
		return "", err
	}
	if r.facts != nil && len(c.Respawn) > 0 {
		r.d.setFacts(*r.facts)
	}
	if !c.Empty() {
		r.d.noteWorkerSettings(r.next)
	}
	if c.Empty() {
		return "", nil
	}
	return c.String(), nil
}

// noteWorkerSettings shows the worker settings a reload applied in the
// circus endpoint's options and get replies. The daemon's own cfg keeps
// its start-up worker settings: the supervisor holds what runs.
func (d *Daemon) noteWorkerSettings(next *config.Config) {
	if d.circusSrv == nil {
		return
	}
	d.cfgMu.Lock()
	c := *d.cfg
	d.cfgMu.Unlock()
	c.App, c.Workers = next.App, next.Workers
	d.circusSrv.SetConfig(&c)
}

// setFacts records what the checks found about the running app.
func (d *Daemon) setFacts(f facts) {
	d.factsMu.Lock()
	d.facts = f
	d.factsMu.Unlock()
}

// currentFacts is what setFacts recorded last.
func (d *Daemon) currentFacts() facts {
	d.factsMu.Lock()
	defer d.factsMu.Unlock()
	return d.facts
}
