package dash

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

// PlainOptions configure the plain summary.
type PlainOptions struct {
	// Every is the time between summaries. If zero, 5s.
	Every time.Duration
	// Count stops after that many summaries; 0 runs until ctx ends.
	Count int
	// Events also prints each event of the stack as it happens.
	Events bool
}

// RunPlain is the dashboard without a terminal (CI logs, pipes,
// `--plain`): a summary of the stack every opts.Every, and the events as
// they happen, as plain lines on w. It runs until ctx ends or opts.Count
// summaries are out, and never gives up on an unreachable daemon.
func RunPlain(ctx context.Context, c Client, w io.Writer, opts PlainOptions) error {
	every := opts.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		tr      Tracker
		evs     <-chan supervisor.Event
		evErr   <-chan error
		lastSeq uint64
		down    bool
		printed int
	)
	subscribe := func() {
		if opts.Events {
			evs, evErr = c.Events(ctx, lastSeq, true, false)
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	poll := func() {
		now := time.Now()
		st, err := c.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !down {
				fmt.Fprintf(w, "%s daemon not answering: %v; retrying every %s\n", now.Format("15:04:05"), err, every)
			}
			down = true
			return
		}
		if down {
			fmt.Fprintf(w, "%s the daemon answers again\n", now.Format("15:04:05"))
			down = false
		}
		if evs == nil {
			subscribe()
		}
		f := tr.Add(st, now)
		io.WriteString(w, PlainSummary(&f, now))
		printed++
	}
	poll()
	for opts.Count == 0 || printed < opts.Count {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			poll()
		case ev, ok := <-evs:
			if !ok {
				// The daemon went away: poll resubscribes once it answers.
				<-evErr
				evs = nil
				continue
			}
			lastSeq = max(lastSeq, ev.Seq)
			fmt.Fprintf(w, "%s event %s %s: %s\n", ev.Time.Format("15:04:05"), who(ev.Worker), ev.Kind, ev.Message)
		}
	}
	return nil
}

func who(worker int) string {
	if worker < 0 {
		return "all"
	}
	return fmt.Sprintf("w%d", worker)
}

// PlainSummary renders a Frame as plain text lines: the stack, the
// traffic, and one line per worker.
func PlainSummary(f *Frame, now time.Time) string {
	var b strings.Builder
	d := f.Status.Daemon
	fmt.Fprintf(&b, "%s whisgee %s on %s · proxy %s · supervisor %s · up %s · %d/%d workers running\n",
		now.Format("15:04:05"), d.Version, d.Host, d.Proxy, d.Supervisor, fmtAge(now.Sub(d.StartedAt)),
		f.Running(), len(f.Rows))
	t := &f.Totals
	switch {
	case f.Status.Proxy == nil:
		fmt.Fprintf(&b, "  traffic: proxy stats unavailable: %s\n", f.Status.ProxyError)
	case !t.Valid:
		fmt.Fprintf(&b, "  traffic: rates from the next sample · %d conns · %d in flight\n", t.Conns, t.Active)
	default:
		fmt.Fprintf(&b, "  traffic: %s req/s · 2xx %s 3xx %s 4xx %s 5xx %s · p50 %s p95 %s p99 %s · %d conns · %d in flight\n",
			fmtRate(t.ReqRate), fmtPct(t.Share(1)), fmtPct(t.Share(2)), fmtPct(t.Share(3)), fmtPct(t.Share(4)),
			fmtMs(t.P50), fmtMs(t.P95), fmtMs(t.P99), t.Conns, t.Active)
	}
	if tr := f.Status.Traffic; tr != nil {
		state := "off"
		if tr.Enabled {
			state = "on"
		}
		fmt.Fprintf(&b, "  demo traffic: %s at %d req/s (%d sent, %d failed)\n", state, tr.Rate, tr.Sent, tr.Failed)
	}
	for i := range f.Rows {
		r := &f.Rows[i]
		rate := "-"
		if r.Host != nil {
			rate = fmtRate(r.ReqRate)
		}
		fmt.Fprintf(&b, "  w%d %s pid %d %s up %s restarts %d cpu %.1f%% rss %s in-flight %d req/s %s p99 %s %s",
			r.ID, r.Name, r.PID, r.State, fmtAge(r.Uptime(now)), r.Restarts, r.CPUPercent, fmtBytes(r.RSSBytes),
			r.InFlight, rate, fmtMs(r.P99), r.Health())
		if r.LastExit != "" {
			fmt.Fprintf(&b, " last exit %s", r.LastExit)
		}
		b.WriteString("\n")
	}
	return b.String()
}
