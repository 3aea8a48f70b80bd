package admin

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/stats"
)

// Prometheus renders /stats/prometheus in the Prometheus text format
// (v0.0.4) as Envoy does (source/server/admin/prometheus_stats.cc):
// Envoy's metric names and tag labels (envoy_cluster_upstream_rq_xx
// {envoy_response_code_class="2",envoy_cluster_name="wsgi"}), one "# TYPE"
// line per family before its samples (Envoy writes no "# HELP"; the format
// makes it optional), families sorted by name. filter, if not nil, keeps the
// stats whose Envoy name matches, as Envoy's filter= does.
//
// Latency histograms are Prometheus histograms in milliseconds over
// DefaultBuckets, Envoy's bounds: name_bucket{le="0.5"} ...
// name_bucket{le="+Inf"}, name_sum, name_count. A bucket counts the values
// surely at or below its bound (stats.CountAtMost): the histogram's own
// buckets are log-linear in microseconds and do not line up with Envoy's
// bounds, so a value in the one bucket that straddles a bound is counted
// from the next bound on, never early. Counts are therefore a lower bound
// that errs by at most the values within 1/32 (3%) below the bound, and
// stay monotone; "+Inf" and _count are both the number of values in the
// buckets, so they are equal even while requests are being recorded.
//
// A snapshot whose histograms have quantiles but no buckets (a source
// that kept only quantiles) is rendered with summaries of the quantiles it
// has instead, rather than with made-up bucket counts.
func Prometheus(s *stats.Snapshot, filter *regexp.Regexp) []byte {
	list, hists := StatsOptions{Filter: filter}.selected(s)
	type family struct {
		kind  string
		lines []string
	}
	fams := map[string]*family{}
	add := func(metric, kind, line string) {
		f := fams[metric]
		if f == nil {
			f = &family{kind: kind}
			fams[metric] = f
		}
		f.lines = append(f.lines, line)
	}
	for _, st := range list {
		metric, labels := promName(st.Name)
		kind := "counter"
		if st.Gauge {
			kind = "gauge"
		}
		add(metric, kind, metric+braces(labels)+" "+strconv.FormatUint(st.Value, 10))
	}
	summaries := false
	for i := range hists {
		summaries = summaries || !hasBuckets(&hists[i])
	}
	for i := range hists {
		h := &hists[i]
		metric, labels := promName(h.Name)
		q := h.Cumulative
		sum := formatFloat(q.Mean * float64(q.Count))
		if summaries {
			for _, p := range []struct {
				q string
				v float64
			}{{"0.5", q.P50}, {"0.95", q.P95}, {"0.99", q.P99}, {"0.999", q.P999}, {"1", q.Max}} {
				v := "NaN"
				if q.Count > 0 {
					v = formatFloat(p.v)
				}
				add(metric, "summary", metric+braces(joinLabels(labels, `quantile="`+p.q+`"`))+" "+v)
			}
			add(metric, "summary", metric+"_sum"+braces(labels)+" "+sum)
			add(metric, "summary", metric+"_count"+braces(labels)+" "+strconv.FormatUint(q.Count, 10))
			continue
		}
		counts := boundCounts(h.CumulativeBuckets, false)
		for j, bound := range DefaultBuckets {
			le := `le="` + strconv.FormatFloat(bound, 'f', -1, 64) + `"`
			add(metric, "histogram", metric+"_bucket"+braces(joinLabels(labels, le))+" "+strconv.FormatUint(counts[j], 10))
		}
		total := strconv.FormatUint(stats.BucketsTotal(h.CumulativeBuckets), 10)
		add(metric, "histogram", metric+"_bucket"+braces(joinLabels(labels, `le="+Inf"`))+" "+total)
		add(metric, "histogram", metric+"_sum"+braces(labels)+" "+sum)
		add(metric, "histogram", metric+"_count"+braces(labels)+" "+total)
	}
	names := make([]string, 0, len(fams))
	for m := range fams {
		names = append(names, m)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, m := range names {
		b.WriteString("# TYPE " + m + " " + fams[m].kind + "\n")
		for _, line := range fams[m].lines {
			b.WriteString(line + "\n")
		}
	}
	return []byte(b.String())
}

func braces(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

// promName turns an Envoy stat name into its Prometheus name and labels,
// extracting the tags Envoy extracts for these stats.
func promName(name string) (metric, labels string) {
	var tags []string
	switch {
	case strings.HasPrefix(name, "cluster."):
		rest := strings.TrimPrefix(name, "cluster.")
		cluster, stat, _ := strings.Cut(rest, ".")
		tags = append(tags, `envoy_cluster_name="`+cluster+`"`)
		name = "cluster." + stat
	case strings.HasPrefix(name, "http."):
		rest := strings.TrimPrefix(name, "http.")
		prefix, stat, _ := strings.Cut(rest, ".")
		tags = append(tags, `envoy_http_conn_manager_prefix="`+prefix+`"`)
		name = "http." + stat
	}
	// rq_2xx and the like: the class becomes a tag.
	if i := strings.LastIndex(name, "_"); i > 0 && len(name)-i == 4 && strings.HasSuffix(name, "xx") {
		class := name[i+1 : i+2]
		tags = append([]string{`envoy_response_code_class="` + class + `"`}, tags...)
		name = name[:i] + "_xx"
	}
	return "envoy_" + strings.ReplaceAll(name, ".", "_"), strings.Join(tags, ",")
}

func joinLabels(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}
