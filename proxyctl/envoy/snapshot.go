package envoy

import (
	"fmt"
	"time"

	"github.com/whisgee/whisgee/probes/versions"
	"github.com/whisgee/whisgee/stats"
)

// listenerPrefixes map Envoy stat prefixes to whisgee's listener names.
var listenerPrefixes = []struct{ prefix, name string }{
	{PrefixHTTP, "http"},
	{PrefixHTTPS, "https"},
}

// SnapshotFrom maps what Envoy's admin API said into the one stats model
// (Engine "envoy"), as the built-in proxy fills it:
//
//   - listeners from http.ingress_http.* and http.ingress_https.*,
//   - the cluster from cluster.wsgi.*,
//   - hosts from /clusters; a host at <runDir>/worker-<id>.sock gets
//     WorkerID id, any other -1 (runDir "" accepts any directory).
//
// info may be nil. Latency windows are flushInterval long, Envoy's
// stats_flush_interval (if zero, its default of 5s).
func SnapshotFrom(d *StatsDump, hosts []HostStatus, info *ServerInfo, runDir string, flushInterval time.Duration, now time.Time) *stats.Snapshot {
	if flushInterval == 0 {
		flushInterval = 5 * time.Second
	}
	s := &stats.Snapshot{Time: now, Engine: "envoy", Hosts: []stats.Host{}}
	if info != nil {
		s.Version = versions.ParseEnvoy(info.Version)
		if up, err := time.ParseDuration(info.UptimeAllEpochs); err == nil {
			s.StartedAt = now.Add(-up).Truncate(time.Second)
		}
	}
	if d != nil {
		for _, l := range listenerPrefixes {
			p := "http." + l.prefix + "."
			if !d.has(p) {
				continue
			}
			e := stats.Endpoint{Name: l.name}
			d.fill(&e, p, "downstream_")
			e.Errors = d.listenerErrors(l.prefix)
			e.Latency = d.latency(p+"downstream_rq_time", flushInterval)
			s.Listeners = append(s.Listeners, e)
		}
		p := "cluster." + ClusterName + "."
		s.Cluster = stats.Endpoint{Name: ClusterName}
		d.fill(&s.Cluster, p, "upstream_")
		s.Cluster.Retries = d.Values[p+"upstream_rq_retry"]
		s.Cluster.CxConnectFail = d.Values[p+"upstream_cx_connect_fail"]
		// Requests that got no response from a worker: connect failures
		// and resets that ended them, timeouts, no healthy worker, a
		// full queue. Envoy answered each with a 5xx of its own.
		for _, n := range []string{"upstream_rq_pending_failure_eject", "upstream_rq_timeout", "upstream_rq_rx_reset", "upstream_cx_none_healthy", "upstream_rq_pending_overflow"} {
			s.Cluster.Errors += d.Values[p+n]
		}
		s.Cluster.Latency = d.latency(p+"upstream_rq_time", flushInterval)
	}
	for i := range hosts {
		h := &hosts[i]
		if h.Cluster != ClusterName {
			continue
		}
		st := h.Stats
		host := stats.Host{
			Endpoint: stats.Endpoint{
				Name:          h.Hostname,
				Address:       h.Address,
				Active:        int64(st["rq_active"]),
				CxActive:      int64(st["cx_active"]),
				CxTotal:       st["cx_total"],
				CxConnectFail: st["cx_connect_fail"],
				Errors:        st["rq_timeout"],
			},
			WorkerID:    WorkerIDFromAddress(h.Address, runDir),
			Health:      h.Health(),
			HealthFlags: h.Flags,
		}
		if host.Name == "" {
			host.Name = h.Address
		}
		// Every finished request is a success (not 5xx) or an error.
		host.Requests = st["rq_success"] + st["rq_error"]
		if _, ok := st["rq_success"]; !ok && st["rq_total"] > st["rq_active"] {
			host.Requests = st["rq_total"] - st["rq_active"]
		}
		// Per host, Envoy counts 5xx responses only (rq_error, which
		// includes requests that got none); other classes are known for
		// listeners and the cluster.
		host.Classes[4] = st["rq_error"]
		s.Hosts = append(s.Hosts, host)
	}
	return s
}

// listenerClientFailures are the stats of a listener (rendered with
// stat_prefix, so rooted at listener.<prefix>.; source/server/
// listener_stats.h's ALL_LISTENER_STATS) and of its connection manager
// (http.<prefix>.; docs configuration/http/http_conn_man/stats.rst) that
// count a client left without a proper response through no fault of its
// own: a connection refused at a connection limit or under overload, one
// that matched no filter chain (a config problem: nothing serves it),
// a stream Envoy reset towards the client (an upstream reset or timeout
// after the response started, so the client got a cut-off answer or
// none), a request closed by the overload manager.
//
// Left out on purpose, as they count the client's own doing: protocol
// errors (malformed requests, answered 400 and counted as 4xx), resets
// the client sent (downstream_rq_rx_reset: a cancelled request or a
// closed tab), request, header and idle timeouts on a slow client (a
// 408 or a closed idle connection), TLS handshake failures (scanners,
// clients with a wrong trust store) and bodies over the limit (413).
// Requests a worker never answered are the cluster's Errors.
var listenerClientFailures = []string{
	"listener.%s.downstream_cx_overflow",
	"listener.%s.downstream_global_cx_overflow",
	"listener.%s.downstream_cx_overload_reject",
	"listener.%s.no_filter_chain_match",
	"http.%s.downstream_rq_tx_reset",
	"http.%s.downstream_rq_overload_close",
}

// listenerErrors sums listenerClientFailures for a listener's prefix.
// Envoy roots a listener's own stats at listener.<address>. unless the
// listener has a stat_prefix: whisgee renders one (the same as its
// connection manager's); for a config without it, only the connection
// manager's counters are known.
func (d *StatsDump) listenerErrors(prefix string) uint64 {
	var n uint64
	for _, f := range listenerClientFailures {
		n += d.Values[fmt.Sprintf(f, prefix)]
	}
	return n
}

// has reports whether any stat starts with prefix.
func (d *StatsDump) has(prefix string) bool {
	for k := range d.Values {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// fill sets an endpoint's counters from <prefix><side>rq_* and cx_*.
func (d *StatsDump) fill(e *stats.Endpoint, prefix, side string) {
	v := func(n string) uint64 { return d.Values[prefix+side+n] }
	for i, c := range []string{"rq_1xx", "rq_2xx", "rq_3xx", "rq_4xx", "rq_5xx"} {
		e.Classes[i] = v(c)
	}
	e.Active = int64(v("rq_active"))
	// Envoy counts started requests in rq_total and finished ones in
	// rq_completed; the built-in proxy's admin has only rq_total, and
	// counts finished requests in it.
	if done, ok := d.Values[prefix+side+"rq_completed"]; ok {
		e.Requests = done
	} else {
		e.Requests = v("rq_total")
	}
	e.CxActive = int64(v("cx_active"))
	e.CxTotal = v("cx_total")
	e.BytesIn = v("cx_rx_bytes_total")
	e.BytesOut = v("cx_tx_bytes_total")
}

func (d *StatsDump) latency(name string, window time.Duration) stats.Latency {
	h := d.Histograms[name]
	return stats.Latency{Window: window, Interval: h.Interval, Cumulative: h.Cumulative,
		IntervalBuckets: h.IntervalBuckets, CumulativeBuckets: h.CumulativeBuckets}
}
