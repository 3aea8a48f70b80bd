package stats

import (
	"sync/atomic"
	"time"
)

// Counters are the hot-path recorder for one listener or host: atomics
// only, no locks, no allocations. The zero value is ready to use; it must
// not be copied after first use.
type Counters struct {
	requests atomic.Uint64
	classes  [5]atomic.Uint64
	errors   atomic.Uint64
	retries  atomic.Uint64
	connFail atomic.Uint64
	active   atomic.Int64
	cxActive atomic.Int64
	cxTotal  atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	// Latency holds the durations passed to End.
	Latency Histogram
}

// Begin marks a request in flight.
func (c *Counters) Begin() { c.active.Add(1) }

// End completes a request begun with Begin: its status (0 when no response
// was had), how long it took and the bytes it moved.
func (c *Counters) End(status int, took time.Duration, in, out uint64) {
	c.active.Add(-1)
	c.requests.Add(1)
	if status >= 100 && status < 600 {
		c.classes[status/100-1].Add(1)
	}
	if in != 0 {
		c.bytesIn.Add(in)
	}
	if out != 0 {
		c.bytesOut.Add(out)
	}
	c.Latency.Record(took)
}

// Error counts a request that got no response from upstream.
func (c *Counters) Error() { c.errors.Add(1) }

// Retry counts a request sent again elsewhere.
func (c *Counters) Retry() { c.retries.Add(1) }

// ConnectFail counts a connection attempt that failed.
func (c *Counters) ConnectFail() { c.connFail.Add(1) }

// ConnOpen counts a new connection.
func (c *Counters) ConnOpen() {
	c.cxActive.Add(1)
	c.cxTotal.Add(1)
}

// ConnClose counts a closed connection.
func (c *Counters) ConnClose() { c.cxActive.Add(-1) }

// Active is the number of requests in flight.
func (c *Counters) Active() int64 { return c.active.Load() }

// Fill copies the counters into e, with cumulative latency quantiles and,
// if w is not nil, quantiles over w's window.
func (c *Counters) Fill(e *Endpoint, w *Window) {
	e.Requests = c.requests.Load()
	for i := range e.Classes {
		e.Classes[i] = c.classes[i].Load()
	}
	e.Errors = c.errors.Load()
	e.Retries = c.retries.Load()
	e.Active = c.active.Load()
	e.CxActive = c.cxActive.Load()
	e.CxTotal = c.cxTotal.Load()
	e.CxConnectFail = c.connFail.Load()
	e.BytesIn = c.bytesIn.Load()
	e.BytesOut = c.bytesOut.Load()
	if w != nil {
		e.Latency = w.Latency(&c.Latency)
	} else {
		var now Counts
		c.Latency.Snapshot(&now)
		e.Latency = Latency{Cumulative: now.Quantiles(), CumulativeBuckets: now.Distribution()}
	}
}

// Window keeps the last few histogram snapshots, so quantiles can cover a
// recent interval the way Envoy's interval quantiles do. Tick it once per
// flush period; it is not safe for concurrent use.
type Window struct {
	// Period is the time between ticks. If zero, 1s.
	Period time.Duration
	ring   []Counts
	next   int
	filled int
	now    Counts
	diff   Counts
}

// NewWindow keeps n ticks of history: quantiles cover n periods.
func NewWindow(n int, period time.Duration) *Window {
	return &Window{Period: period, ring: make([]Counts, n)}
}

// Tick records the histogram's state at the end of a period.
func (w *Window) Tick(h *Histogram) {
	h.Snapshot(&w.ring[w.next])
	w.next = (w.next + 1) % len(w.ring)
	if w.filled < len(w.ring) {
		w.filled++
	}
}

// Latency gives the quantiles since the oldest tick kept, and over all time.
func (w *Window) Latency(h *Histogram) Latency {
	h.Snapshot(&w.now)
	period := w.Period
	if period == 0 {
		period = time.Second
	}
	l := Latency{Cumulative: w.now.Quantiles(), Window: time.Duration(w.filled) * period}
	l.CumulativeBuckets = w.now.Distribution()
	if w.filled == 0 {
		l.Interval, l.IntervalBuckets = l.Cumulative, l.CumulativeBuckets
		return l
	}
	oldest := (w.next - w.filled + len(w.ring)) % len(w.ring)
	w.diff.Sub(&w.now, &w.ring[oldest])
	l.Interval = w.diff.Quantiles()
	l.IntervalBuckets = w.diff.Distribution()
	return l
}
