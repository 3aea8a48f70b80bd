package admin

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/whisgee/whisgee/stats"
)

// recordedSnapshot is a snapshot whose listener and cluster histograms
// hold known durations, recorded through the stats recorder as the proxy
// records them: before are in the cumulative view only, after also in the
// interval one (the window was ticked between them).
func recordedSnapshot(before, after []time.Duration) *stats.Snapshot {
	var c stats.Counters
	w := stats.NewWindow(1, time.Second)
	record := func(ds []time.Duration) {
		for _, d := range ds {
			c.Begin()
			c.End(200, d, 0, 0)
		}
	}
	record(before)
	w.Tick(&c.Latency)
	record(after)
	s := &stats.Snapshot{Engine: "builtin", Listeners: []stats.Endpoint{{Name: "http"}}, Cluster: stats.Endpoint{Name: "wsgi"}}
	c.Fill(&s.Listeners[0], w)
	c.Fill(&s.Cluster, w)
	return s
}

// knownDurations are spread over Envoy's bounds: 0.2ms x3, 0.7ms x2,
// 3ms x4, 40ms, 2s and 2h (above the last bound, so only in +Inf).
func knownDurations() []time.Duration {
	var ds []time.Duration
	add := func(d time.Duration, n int) {
		for i := 0; i < n; i++ {
			ds = append(ds, d)
		}
	}
	add(200*time.Microsecond, 3)
	add(700*time.Microsecond, 2)
	add(3*time.Millisecond, 4)
	add(40*time.Millisecond, 1)
	add(2*time.Second, 1)
	add(2*time.Hour, 1)
	return ds
}

// parsePrometheus parses text with the Prometheus project's own parser
// (strict legacy metric names), failing the test on any format error.
func parsePrometheus(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, text)
	}
	return fams
}

func TestPrometheusHistogramsParseAndCountKnownValues(t *testing.T) {
	ds := knownDurations()
	text := Prometheus(recordedSnapshot(nil, ds), nil)
	fams := parsePrometheus(t, text)

	// The format: one TYPE line per family, before the family's samples.
	seen := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Fatalf("second TYPE line for %s", name)
			}
			seen[name] = true
			continue
		}
		if line != "" && !seen[familyOf(line)] {
			t.Fatalf("sample before its family's TYPE line: %q", line)
		}
	}

	fam := fams["envoy_cluster_upstream_rq_time"]
	if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM || len(fam.Metric) != 1 {
		t.Fatalf("envoy_cluster_upstream_rq_time: %v", fam)
	}
	m := fam.Metric[0]
	if len(m.Label) != 1 || m.Label[0].GetName() != "envoy_cluster_name" || m.Label[0].GetValue() != "wsgi" {
		t.Fatalf("labels %v", m.Label)
	}
	h := m.GetHistogram()
	want := map[float64]uint64{0.5: 3, 1: 5, 5: 9, 10: 9, 25: 9, 50: 10, 100: 10, 1000: 10, 2500: 11, 3600000: 11, math.Inf(1): 12}
	var bounds []float64
	prev := uint64(0)
	for _, b := range h.Bucket {
		ub, n := b.GetUpperBound(), b.GetCumulativeCount()
		bounds = append(bounds, ub)
		if n < prev {
			t.Errorf("le=%v: %d after %d: buckets must be cumulative", ub, n, prev)
		}
		prev = n
		if w, ok := want[ub]; ok && n != w {
			t.Errorf("le=%v: %d values, recorded %d at or below it", ub, n, w)
		}
	}
	// Envoy's bounds in order, then +Inf.
	if len(bounds) != len(DefaultBuckets)+1 || !math.IsInf(bounds[len(bounds)-1], 1) {
		t.Fatalf("bounds %v, want Envoy's then +Inf", bounds)
	}
	for i, b := range DefaultBuckets {
		if bounds[i] != b {
			t.Fatalf("bound %d is %v, want %v", i, bounds[i], b)
		}
	}
	if h.GetSampleCount() != 12 || prev != h.GetSampleCount() {
		t.Fatalf("_count %d, +Inf %d: want both 12", h.GetSampleCount(), prev)
	}
	wantSum := (3*0.2 + 2*0.7 + 4*3 + 40 + 2000 + 7200000.0)
	if math.Abs(h.GetSampleSum()-wantSum) > 1e-6*wantSum {
		t.Fatalf("_sum %v ms, want %v", h.GetSampleSum(), wantSum)
	}
	if !strings.Contains(string(text), `envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="wsgi",le="3600000"} 11`+"\n") {
		t.Fatal(`le is printed as Envoy prints it ("3600000", not "3.6e+06")`)
	}

	lst := fams["envoy_http_downstream_rq_time"]
	if lst == nil || lst.GetType() != dto.MetricType_HISTOGRAM || lst.Metric[0].GetHistogram().GetSampleCount() != 12 {
		t.Fatalf("listener histogram %v", lst)
	}
	if c := fams["envoy_cluster_upstream_rq_total"]; c == nil || c.GetType() != dto.MetricType_COUNTER || c.Metric[0].GetCounter().GetValue() != 12 {
		t.Fatalf("upstream_rq_total %v", c)
	}
	if g := fams["envoy_cluster_upstream_rq_active"]; g == nil || g.GetType() != dto.MetricType_GAUGE {
		t.Fatalf("upstream_rq_active %v", g)
	}
}

func TestPrometheusEmptyHistogramAndFilter(t *testing.T) {
	text := Prometheus(recordedSnapshot(nil, nil), nil)
	h := parsePrometheus(t, text)["envoy_cluster_upstream_rq_time"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("an unused histogram is still a histogram (all zero): %v", h)
	}
	for _, b := range h.Metric[0].GetHistogram().Bucket {
		if b.GetCumulativeCount() != 0 {
			t.Fatalf("le=%v: %d values in an empty histogram", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	fams := parsePrometheus(t, Prometheus(recordedSnapshot(nil, knownDurations()), compile(t, "upstream_rq_time")))
	if len(fams) != 1 || fams["envoy_cluster_upstream_rq_time"] == nil {
		t.Fatalf("filter upstream_rq_time kept %d families", len(fams))
	}
}

// familyOf is the metric family a sample line belongs to: its name less
// a histogram's or summary's suffix.
func familyOf(line string) string {
	name := line
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			return base
		}
	}
	return name
}

func TestPrometheusCountsParseAsIntegers(t *testing.T) {
	// The counts a scraper sees must be whole numbers, never 1.2e+07.
	var ds []time.Duration
	for i := 0; i < 1234567; i += 997 {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	for _, line := range strings.Split(string(Prometheus(recordedSnapshot(nil, ds), nil)), "\n") {
		if !strings.Contains(line, "_bucket") && !strings.Contains(line, "_count") {
			continue
		}
		v := line[strings.LastIndexByte(line, ' ')+1:]
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("count %q in %q is not an integer", v, line)
		}
	}
}
