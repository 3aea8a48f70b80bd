// Package stats is whisgee's one stats model. The built-in proxy records
// into Counters on its hot path and publishes Snapshots; a reader of Envoy's
// admin API fills the same Snapshot, so the dashboard and `whisgee ctl`
// never know which proxy is behind them.
//
//	var c stats.Counters
//	start := time.Now()
//	c.Begin()
//	... serve ...
//	c.End(200, time.Since(start), bytesIn, bytesOut)
package stats

import "time"

// Snapshot is the proxy's state at one moment. Counters are totals since the
// proxy started; rates come from the difference of two snapshots (see Rate).
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Engine is "builtin" or "envoy".
	Engine string `json:"engine"`
	// Version of the proxy, e.g. "1.39.1" for Envoy.
	Version string `json:"version,omitempty"`
	// StartedAt is when the proxy started.
	StartedAt time.Time `json:"started_at"`
	// Listeners are the downstream side, one per listener.
	Listeners []Endpoint `json:"listeners"`
	// Cluster aggregates every upstream host.
	Cluster Endpoint `json:"cluster"`
	// Hosts are the workers as the proxy sees them.
	Hosts []Host `json:"hosts"`
}

// Endpoint is the traffic through one listener, one host, or all hosts.
type Endpoint struct {
	// Name is the listener's or host's name (e.g. "http", "worker-2").
	Name string `json:"name"`
	// Address is where it listens or is reached: HOST:PORT or a socket path.
	Address string `json:"address,omitempty"`
	// Requests is the number of requests completed.
	Requests uint64 `json:"requests"`
	// Classes counts responses by status class: [0] is 1xx … [4] is 5xx.
	Classes [5]uint64 `json:"classes"`
	// Errors counts requests that got no response from a worker (connect
	// failures, resets, timeouts); the client then got a 502/503/504.
	// For a listener it counts clients the proxy left without a proper
	// answer: connections refused at a limit, streams it reset towards
	// the client (from Envoy's listener and connection-manager counters;
	// the built-in proxy counts its failures on the cluster and hosts).
	Errors uint64 `json:"errors"`
	// Retries counts requests sent again to another worker.
	Retries uint64 `json:"retries"`
	// Active is the number of requests in flight.
	Active int64 `json:"active"`
	// CxActive and CxTotal count connections (open now, and ever opened).
	CxActive int64  `json:"cx_active"`
	CxTotal  uint64 `json:"cx_total"`
	// CxConnectFail counts connection attempts that failed (upstream
	// only: Envoy's upstream_cx_connect_fail).
	CxConnectFail uint64 `json:"cx_connect_fail"`
	// BytesIn and BytesOut count body and header bytes received and sent.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Latency over the recent interval and over all time. For a listener it
	// is the whole request; for a host, the worker's time to respond.
	Latency Latency `json:"latency"`
}

// Latency holds quantiles over a recent window and over all time.
type Latency struct {
	// Window is the length of the recent interval.
	Window     time.Duration `json:"window"`
	Interval   Quantiles     `json:"interval"`
	Cumulative Quantiles     `json:"cumulative"`
	// IntervalBuckets and CumulativeBuckets are the distributions the
	// quantiles summarize (non-empty buckets, lowest first), for exports
	// that need more than quantiles: Prometheus histograms and Envoy's
	// histogram_buckets modes. Nil when the source keeps none (Envoy's
	// default /stats). Left out of JSON so that the control API's
	// per-second status stays small; the built-in proxy's admin endpoint
	// renders them in process.
	IntervalBuckets   []Bucket `json:"-"`
	CumulativeBuckets []Bucket `json:"-"`
}

// Quantiles are latencies in milliseconds. Zero when Count is zero.
type Quantiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Mean  float64 `json:"mean"`
	Max   float64 `json:"max"`
}

// Health states of a host as the proxy sees it.
const (
	HealthUnknown   = "unknown"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
	HealthDraining  = "draining"
)

// Host is one worker as the proxy sees it.
type Host struct {
	Endpoint
	// WorkerID is the supervisor's id for the worker, or -1 when the proxy
	// cannot tell (a host Envoy knows only by address).
	WorkerID int `json:"worker_id"`
	// Health is one of the Health* constants.
	Health string `json:"health"`
	// HealthFlags are Envoy-style flags: failed_active_hc,
	// failed_outlier_check, pending_dynamic_removal, ...
	HealthFlags []string `json:"health_flags,omitempty"`
}

// Total is the number of responses across classes.
func (e *Endpoint) Total() uint64 {
	var n uint64
	for _, c := range e.Classes {
		n += c
	}
	return n
}

// Rates are per-second differences between two snapshots of an Endpoint.
type Rates struct {
	Requests float64    `json:"requests"`
	Classes  [5]float64 `json:"classes"`
	Errors   float64    `json:"errors"`
	BytesIn  float64    `json:"bytes_in"`
	BytesOut float64    `json:"bytes_out"`
}

// Rate is the per-second change from prev to cur over dt. Counters that went
// backwards (a restarted proxy) count from zero.
func Rate(prev, cur *Endpoint, dt time.Duration) Rates {
	var r Rates
	if dt <= 0 || prev == nil || cur == nil {
		return r
	}
	s := dt.Seconds()
	d := func(a, b uint64) float64 {
		if b < a {
			return float64(b) / s
		}
		return float64(b-a) / s
	}
	r.Requests = d(prev.Requests, cur.Requests)
	for i := range r.Classes {
		r.Classes[i] = d(prev.Classes[i], cur.Classes[i])
	}
	r.Errors = d(prev.Errors, cur.Errors)
	r.BytesIn = d(prev.BytesIn, cur.BytesIn)
	r.BytesOut = d(prev.BytesOut, cur.BytesOut)
	return r
}

// HostByAddress finds a host by its address, or nil.
func (s *Snapshot) HostByAddress(addr string) *Host {
	for i := range s.Hosts {
		if s.Hosts[i].Address == addr {
			return &s.Hosts[i]
		}
	}
	return nil
}
