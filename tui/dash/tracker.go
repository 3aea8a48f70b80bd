package dash

import (
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// maxHistory bounds the chart history: 15 minutes at a 1 s refresh, with
// room for the faster polls that run while an action is under way.
const maxHistory = 4096

// historySpan is the longest chart window; older points are dropped.
const historySpan = 15 * time.Minute

// Row is one worker as the dashboard shows it: the supervisor's view
// (Worker) and the proxy's (Host, joined on the socket address) in one.
type Row struct {
	supervisor.Worker
	// Host is the proxy's view of the worker; nil when the proxy does not
	// know the address (or its stats could not be read).
	Host *stats.Host
	// ReqRate is the worker's completed requests per second.
	ReqRate float64
	// P99 is the worker's recent 99th percentile latency in ms.
	P99 float64
}

// Health is the proxy's verdict when it has one, else the supervisor's.
func (r *Row) Health() string {
	if r.Host != nil && r.Host.Health != "" && r.Host.Health != stats.HealthUnknown {
		return r.Host.Health
	}
	if r.PID == 0 {
		return "-"
	}
	if r.Healthy {
		return stats.HealthHealthy
	}
	return stats.HealthUnhealthy
}

// Totals is the traffic through every listener of the proxy, now.
type Totals struct {
	// Valid is false until two snapshots gave a rate.
	Valid bool
	// ReqRate is requests per second; Classes the same by status class
	// ([0] is 1xx … [4] is 5xx); Errors are requests no worker answered
	// (the cluster's failures) plus clients a listener itself failed.
	ReqRate float64
	Classes [5]float64
	Errors  float64
	// P50, P95 and P99 are the recent latency quantiles in ms.
	P50, P95, P99 float64
	// Active is requests in flight; Conns open client connections.
	Active int64
	Conns  int64
}

// Share is the fraction (0..1) of responses in status class i.
func (t *Totals) Share(i int) float64 {
	var sum float64
	for _, c := range t.Classes {
		sum += c
	}
	if sum == 0 {
		return 0
	}
	return t.Classes[i] / sum
}

// Point is one sample of the charts' series.
type Point struct {
	Time          time.Time
	ReqRate       float64
	P50, P95, P99 float64
	Errors5xx     float64
}

// Frame is what one Status snapshot means to the dashboard.
type Frame struct {
	Status control.Status
	// At is when the snapshot was taken.
	At     time.Time
	Totals Totals
	Rows   []Row
}

// Running counts the workers in the running state.
func (f *Frame) Running() int {
	n := 0
	for i := range f.Rows {
		if f.Rows[i].State == supervisor.StateRunning {
			n++
		}
	}
	return n
}

// Tracker turns successive Status snapshots into Frames with rates, and
// keeps the chart history. It does no I/O: the dashboard and the plain
// summary both feed it.
type Tracker struct {
	prev    *control.Status
	prevAt  time.Time
	history []Point
}

// Add takes a snapshot fetched at now and returns its Frame.
func (t *Tracker) Add(st control.Status, now time.Time) Frame {
	at := now
	if st.Proxy != nil && !st.Proxy.Time.IsZero() {
		at = st.Proxy.Time
	}
	f := Frame{Status: st, At: at}
	var prevSnap *stats.Snapshot
	var dt time.Duration
	if t.prev != nil && t.prev.Proxy != nil && st.Proxy != nil {
		prevSnap = t.prev.Proxy
		dt = at.Sub(t.prevAt)
	}
	f.Rows = joinRows(st, prevSnap, dt)
	if st.Proxy != nil {
		f.Totals = totals(st.Proxy, prevSnap, dt)
	}
	if f.Totals.Valid {
		t.record(Point{Time: at, ReqRate: f.Totals.ReqRate, P50: f.Totals.P50,
			P95: f.Totals.P95, P99: f.Totals.P99, Errors5xx: f.Totals.Classes[4]})
	}
	if st.Proxy != nil {
		t.prev = &st
		t.prevAt = at
	}
	return f
}

// History returns the chart points, oldest first. The slice is shared:
// callers must not keep it across Add.
func (t *Tracker) History() []Point { return t.history }

func (t *Tracker) record(p Point) {
	// Drop points past the longest window, and the oldest when full.
	cut := 0
	for cut < len(t.history) && p.Time.Sub(t.history[cut].Time) > historySpan {
		cut++
	}
	if len(t.history)-cut >= maxHistory {
		cut = len(t.history) - maxHistory + 1
	}
	if cut > 0 {
		t.history = append(t.history[:0], t.history[cut:]...)
	}
	t.history = append(t.history, p)
}

func joinRows(st control.Status, prev *stats.Snapshot, dt time.Duration) []Row {
	rows := make([]Row, len(st.Workers))
	for i, w := range st.Workers {
		rows[i] = Row{Worker: w}
		if st.Proxy == nil {
			continue
		}
		h := st.Proxy.HostByAddress(w.Socket)
		if h == nil {
			continue
		}
		rows[i].Host = h
		rows[i].P99 = h.Latency.Interval.P99
		if prev != nil {
			if ph := prev.HostByAddress(w.Socket); ph != nil {
				rows[i].ReqRate = stats.Rate(&ph.Endpoint, &h.Endpoint, dt).Requests
			}
		}
	}
	return rows
}

func totals(cur, prev *stats.Snapshot, dt time.Duration) Totals {
	var t Totals
	var busiest *stats.Endpoint
	for i := range cur.Listeners {
		l := &cur.Listeners[i]
		t.Active += l.Active
		t.Conns += l.CxActive
		if busiest == nil || l.Latency.Interval.Count > busiest.Latency.Interval.Count {
			busiest = l
		}
		if prev == nil || i >= len(prev.Listeners) || prev.Listeners[i].Name != l.Name {
			continue
		}
		r := stats.Rate(&prev.Listeners[i], l, dt)
		t.Valid = true
		t.ReqRate += r.Requests
		t.Errors += r.Errors
		for c := range t.Classes {
			t.Classes[c] += r.Classes[c]
		}
	}
	if t.Valid {
		// Both engines count a request no worker answered (connect
		// failure, reset, timeout: the client got a 502/503/504) on the
		// cluster; listeners count only what they refused themselves.
		t.Errors += stats.Rate(&prev.Cluster, &cur.Cluster, dt).Errors
	}
	if busiest != nil {
		q := busiest.Latency.Interval
		t.P50, t.P95, t.P99 = q.P50, q.P95, q.P99
	}
	return t
}
