// Package admin renders a stats.Snapshot in Envoy's admin formats, so the
// built-in proxy's admin endpoint answers what Envoy's would: /stats (text
// and ?format=json), /stats/prometheus, /clusters (text and JSON), /ready
// and /server_info, with /stats's filter= and histogram_buckets= (none,
// cumulative, disjoint, detailed). The renderers are pure (Snapshot in, bytes out), so a
// reader of Envoy's real admin API can be tested against them, and Handler
// serves them:
//
//	http.Handle("/", admin.Handler(proxy.Snapshot, admin.Info{Version: v}))
//
// Stat names are those DEVELOPERS.md fixes: listeners under
// http.ingress_http. / http.ingress_https., workers under cluster.wsgi.,
// hosts in /clusters as wsgi::<address>::<stat>::<value>.
package admin

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/stats"
)

// ClusterName is the Envoy cluster the workers form.
const ClusterName = "wsgi"

// Stat is one counter or gauge.
type Stat struct {
	Name  string
	Value uint64
	Gauge bool
}

// Histogram is one latency histogram: its quantiles, in milliseconds, and
// the buckets they summarize when the snapshot has them.
type Histogram struct {
	Name string
	stats.Latency
}

// SupportedQuantiles are Envoy's, in percent, in the order it prints them.
var SupportedQuantiles = []float64{0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100}

// ListenerPrefix is the stat prefix of a listener: the plain one is
// ingress_http, the TLS one ingress_https.
func ListenerPrefix(name string) string {
	if name == "https" {
		return "http.ingress_https."
	}
	return "http.ingress_http."
}

// Stats lists the snapshot's counters and gauges, sorted by name as Envoy
// prints them, and its histograms.
func Stats(s *stats.Snapshot) ([]Stat, []Histogram) {
	var out []Stat
	var hists []Histogram
	add := func(name string, v uint64, gauge bool) { out = append(out, Stat{name, v, gauge}) }
	for i := range s.Listeners {
		l := &s.Listeners[i]
		pre := ListenerPrefix(l.Name)
		for c := 0; c < 5; c++ {
			add(pre+"downstream_rq_"+strconv.Itoa(c+1)+"xx", l.Classes[c], false)
		}
		add(pre+"downstream_rq_total", l.Requests, false)
		add(pre+"downstream_rq_active", uint64(max(l.Active, 0)), true)
		add(pre+"downstream_cx_active", uint64(max(l.CxActive, 0)), true)
		add(pre+"downstream_cx_total", l.CxTotal, false)
		add(pre+"downstream_cx_rx_bytes_total", l.BytesIn, false)
		add(pre+"downstream_cx_tx_bytes_total", l.BytesOut, false)
		hists = append(hists, Histogram{pre + "downstream_rq_time", l.Latency})
	}
	c := &s.Cluster
	pre := "cluster." + ClusterName + "."
	for i := 0; i < 5; i++ {
		add(pre+"upstream_rq_"+strconv.Itoa(i+1)+"xx", c.Classes[i], false)
	}
	add(pre+"upstream_rq_total", c.Requests, false)
	add(pre+"upstream_rq_active", uint64(max(c.Active, 0)), true)
	add(pre+"upstream_rq_retry", c.Retries, false)
	add(pre+"upstream_cx_active", uint64(max(c.CxActive, 0)), true)
	add(pre+"upstream_cx_total", c.CxTotal, false)
	add(pre+"upstream_cx_connect_fail", c.CxConnectFail, false)
	add(pre+"upstream_cx_rx_bytes_total", c.BytesIn, false)
	add(pre+"upstream_cx_tx_bytes_total", c.BytesOut, false)
	healthy := uint64(0)
	for _, h := range s.Hosts {
		if h.Health == stats.HealthHealthy {
			healthy++
		}
	}
	add(pre+"membership_healthy", healthy, true)
	add(pre+"membership_total", uint64(len(s.Hosts)), true)
	hists = append(hists, Histogram{pre + "upstream_rq_time", c.Latency})
	add("server.live", 1, true)
	if !s.StartedAt.IsZero() && s.Time.After(s.StartedAt) {
		add("server.uptime", uint64(s.Time.Sub(s.StartedAt).Seconds()), true)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	sort.Slice(hists, func(i, j int) bool { return hists[i].Name < hists[j].Name })
	return out, hists
}

// StatsOptions are /stats's query parameters.
type StatsOptions struct {
	// Filter keeps the stats and histograms whose name matches. If nil, all.
	Filter *regexp.Regexp
	// Buckets is the histogram_buckets mode. If zero, BucketsNone.
	Buckets BucketMode
}

// selected is the snapshot's stats and histograms that o's filter keeps.
func (o StatsOptions) selected(s *stats.Snapshot) ([]Stat, []Histogram) {
	list, hists := Stats(s)
	if o.Filter == nil {
		return list, hists
	}
	var l []Stat
	for _, st := range list {
		if o.Filter.MatchString(st.Name) {
			l = append(l, st)
		}
	}
	var h []Histogram
	for _, hi := range hists {
		if o.Filter.MatchString(hi.Name) {
			h = append(h, hi)
		}
	}
	return l, h
}

// quantileValues maps Envoy's supported quantiles to what the model
// keeps: p50, p95, p99, p99.9 and the max (p100). The others come from
// the buckets when the snapshot has them, else they are unknown (NaN,
// rendered null as Envoy renders a histogram with no data).
func quantileValues(q stats.Quantiles, buckets []stats.Bucket) []float64 {
	nan := math.NaN()
	if q.Count == 0 {
		return []float64{nan, nan, nan, nan, nan, nan, nan, nan, nan, nan}
	}
	v := []float64{nan, nan, q.P50, nan, nan, q.P95, q.P99, nan, q.P999, q.Max}
	if buckets != nil {
		for i, pct := range SupportedQuantiles {
			if math.IsNaN(v[i]) {
				v[i] = stats.BucketsQuantile(buckets, pct/100)
			}
		}
	}
	return v
}

// formatFloat prints a float the way Envoy does: shortest form, without
// an exponent in the range latencies and bucket bounds live in.
func formatFloat(f float64) string {
	if a := math.Abs(f); a >= 1e-4 && a < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// StatsText renders /stats: "name: value" lines, then histograms as
// "name: P0(interval,cumulative) P25(...) ..." or, with a buckets mode,
// as Envoy prints that mode.
func StatsText(s *stats.Snapshot, o StatsOptions) []byte {
	list, hists := o.selected(s)
	var b strings.Builder
	for _, st := range list {
		b.WriteString(st.Name)
		b.WriteString(": ")
		b.WriteString(strconv.FormatUint(st.Value, 10))
		b.WriteByte('\n')
	}
	for i := range hists {
		h := &hists[i]
		if h.Cumulative.Count == 0 {
			b.WriteString(h.Name + ": No recorded values\n")
			continue
		}
		if o.Buckets == BucketsNone || o.Buckets == "" {
			b.WriteString(h.Name + ": " + quantileSummary(h) + "\n")
			continue
		}
		bucketsText(&b, h, o.Buckets)
	}
	return []byte(b.String())
}

// quantileSummary is Envoy's "P0(interval,cumulative) P25(...) ..." text.
func quantileSummary(h *Histogram) string {
	iv, cv := quantileValues(h.Interval, h.IntervalBuckets), quantileValues(h.Cumulative, h.CumulativeBuckets)
	var b strings.Builder
	for i, q := range SupportedQuantiles {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("P" + formatFloat(q) + "(" + textFloat(iv[i]) + "," + textFloat(cv[i]) + ")")
	}
	return b.String()
}

func textFloat(f float64) string {
	if math.IsNaN(f) {
		return "nan"
	}
	return formatFloat(f)
}

func jsonFloat(f float64) string {
	if math.IsNaN(f) {
		return "null"
	}
	return formatFloat(f)
}

// StatsJSON renders /stats?format=json in Envoy's shape:
//
//	{"stats":[{"name":..,"value":..}, ..., {"histograms":
//	  {"supported_quantiles":[0,25,50,75,90,95,99,99.5,99.9,100],
//	  "computed_quantiles":[{"name":..,"values":[{"interval":..,"cumulative":..}, ...]}]}}]}
//
// or, with a buckets mode, the histograms element of that mode (see
// BucketMode).
func StatsJSON(s *stats.Snapshot, o StatsOptions) []byte {
	list, hists := o.selected(s)
	var b strings.Builder
	b.WriteString(`{"stats":[`)
	for _, st := range list {
		b.WriteString(`{"name":`)
		b.WriteString(strconv.Quote(st.Name))
		b.WriteString(`,"value":`)
		b.WriteString(strconv.FormatUint(st.Value, 10))
		b.WriteString(`},`)
	}
	switch o.Buckets {
	case BucketsNone, "":
		b.WriteString(`{"histograms":{"supported_quantiles":`)
		writeSupported(&b)
		b.WriteString(`,"computed_quantiles":[`)
		for i := range hists {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":` + strconv.Quote(hists[i].Name) + `,"values":`)
			writePercentiles(&b, &hists[i])
			b.WriteString(`}`)
		}
		b.WriteString("]}}")
	default:
		bucketsJSON(&b, hists, o.Buckets)
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}

// writeSupported writes Envoy's supported quantiles as a JSON array.
func writeSupported(b *strings.Builder) {
	b.WriteByte('[')
	for i, q := range SupportedQuantiles {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(formatFloat(q))
	}
	b.WriteByte(']')
}

// writePercentiles writes a histogram's supported quantiles as Envoy's
// [{"interval":..,"cumulative":..}, ...].
func writePercentiles(b *strings.Builder, h *Histogram) {
	iv, cv := quantileValues(h.Interval, h.IntervalBuckets), quantileValues(h.Cumulative, h.CumulativeBuckets)
	b.WriteByte('[')
	for j := range SupportedQuantiles {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"interval":` + jsonFloat(iv[j]) + `,"cumulative":` + jsonFloat(cv[j]) + `}`)
	}
	b.WriteByte(']')
}

// hostStats are the per-host stats /clusters prints, in Envoy's order.
func hostStats(h *stats.Host) []Stat {
	rqError := h.Classes[4] + h.Errors
	return []Stat{
		{"cx_active", uint64(max(h.CxActive, 0)), true},
		{"cx_connect_fail", h.CxConnectFail, false},
		{"cx_total", h.CxTotal, false},
		{"rq_active", uint64(max(h.Active, 0)), true},
		{"rq_error", rqError, false},
		{"rq_success", h.Requests - min(h.Requests, rqError), false},
		{"rq_timeout", 0, false},
		{"rq_total", h.Requests, false},
	}
}

// healthFlags is Envoy's text form: "healthy", or "/flag1/flag2".
func healthFlags(h *stats.Host) string {
	if len(h.HealthFlags) == 0 {
		if h.Health == stats.HealthHealthy {
			return "healthy"
		}
		return "/failed_active_hc"
	}
	return "/" + strings.Join(h.HealthFlags, "/")
}

// ClustersText renders /clusters: cluster settings, then one block of
// wsgi::<address>::<stat>::<value> lines per host.
func ClustersText(s *stats.Snapshot) []byte {
	var b strings.Builder
	c := ClusterName
	b.WriteString(c + "::observability_name::" + c + "\n")
	for _, prio := range []string{"default_priority", "high_priority"} {
		for _, kv := range [][2]string{{"max_connections", "1024"}, {"max_pending_requests", "1024"}, {"max_requests", "1024"}, {"max_retries", "3"}} {
			b.WriteString(c + "::" + prio + "::" + kv[0] + "::" + kv[1] + "\n")
		}
	}
	b.WriteString(c + "::added_via_api::false\n")
	for i := range s.Hosts {
		h := &s.Hosts[i]
		pre := c + "::" + h.Address + "::"
		for _, st := range hostStats(h) {
			b.WriteString(pre + st.Name + "::" + strconv.FormatUint(st.Value, 10) + "\n")
		}
		b.WriteString(pre + "hostname::" + h.Name + "\n")
		b.WriteString(pre + "health_flags::" + healthFlags(h) + "\n")
		b.WriteString(pre + "weight::1\n")
		b.WriteString(pre + "region::\n" + pre + "zone::\n" + pre + "sub_zone::\n")
		b.WriteString(pre + "canary::false\n" + pre + "priority::0\n")
		b.WriteString(pre + "success_rate::-1\n" + pre + "local_origin_success_rate::-1\n")
	}
	return []byte(b.String())
}
