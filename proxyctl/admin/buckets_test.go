package admin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/stats"
)

// The shapes below are those of Envoy's docs/root/operations/admin.rst
// ("/stats?format=json&histogram_buckets=detailed|cumulative|disjoint")
// and source/server/admin/stats_render.cc (StatsJsonRender).

type detailedDoc struct {
	Stats []struct {
		Histograms *struct {
			SupportedPercentiles []float64 `json:"supported_percentiles"`
			Details              []struct {
				Name      string         `json:"name"`
				Totals    []stats.Bucket `json:"totals"`
				Intervals []stats.Bucket `json:"intervals"`
				// Percentiles are one per supported percentile.
				Percentiles []struct {
					Interval   *float64 `json:"interval"`
					Cumulative *float64 `json:"cumulative"`
				} `json:"percentiles"`
			} `json:"details"`
		} `json:"histograms"`
	} `json:"stats"`
}

type boundsDoc struct {
	Stats []struct {
		Name       string `json:"name"`
		Histograms []struct {
			Name    string `json:"name"`
			Buckets []struct {
				UpperBound float64 `json:"upper_bound"`
				Interval   uint64  `json:"interval"`
				Cumulative uint64  `json:"cumulative"`
			} `json:"buckets"`
		} `json:"histograms"`
	} `json:"stats"`
}

// inBuckets counts the durations in [lower, lower+width) ms.
func inBucket(ds []time.Duration, b stats.Bucket) uint64 {
	n := uint64(0)
	for _, d := range ds {
		ms := float64(d) / float64(time.Millisecond)
		if ms >= b.LowerBound && ms < b.LowerBound+b.Width {
			n++
		}
	}
	return n
}

// checkDetail asserts that buckets hold exactly the durations ds.
func checkDetail(t *testing.T, what string, got []stats.Bucket, ds []time.Duration) {
	t.Helper()
	total := uint64(0)
	for _, b := range got {
		if n := inBucket(ds, b); n != b.Count || n == 0 {
			t.Errorf("%s bucket %+v: %d recorded durations lie in it", what, b, n)
		}
		if b.Width <= 0 || b.Width > b.LowerBound/32+0.001 {
			t.Errorf("%s bucket %+v: width out of the histogram's bounds", what, b)
		}
		total += b.Count
	}
	if total != uint64(len(ds)) {
		t.Errorf("%s buckets hold %d values, recorded %d", what, total, len(ds))
	}
}

func TestDetailedBucketsAreTheRecordedValues(t *testing.T) {
	ds := knownDurations()
	before, after := ds[:5], ds[5:]
	s := recordedSnapshot(before, after)
	var doc detailedDoc
	out := StatsJSON(s, StatsOptions{Buckets: BucketsDetailed})
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	h := doc.Stats[len(doc.Stats)-1].Histograms
	if h == nil || len(h.SupportedPercentiles) != 10 || len(h.Details) != 2 {
		t.Fatalf("histograms element: %s", out)
	}
	for _, d := range h.Details {
		checkDetail(t, d.Name+" totals", d.Totals, ds)
		checkDetail(t, d.Name+" intervals", d.Intervals, after)
		if len(d.Percentiles) != 10 {
			t.Fatalf("%d percentiles, want one per supported one", len(d.Percentiles))
		}
		// P50 of the 12 values is the 6th, 3ms (within its bucket);
		// P100 is the max, 2h; the interval's P0 is its least, 3ms.
		p50, p100, p0 := d.Percentiles[2], d.Percentiles[9], d.Percentiles[0]
		if *p50.Cumulative < 2.944 || *p50.Cumulative > 3.008 {
			t.Errorf("%s cumulative P50 %v, want 3ms's bucket", d.Name, *p50.Cumulative)
		}
		if *p100.Cumulative != 7200000 {
			t.Errorf("%s cumulative P100 %v, want 7200000", d.Name, *p100.Cumulative)
		}
		if *p0.Interval < 2.9 || *p0.Interval > 3.1 {
			t.Errorf("%s interval P0 %v, want about 3ms", d.Name, *p0.Interval)
		}
	}
	// Counters stay name/value pairs before the histograms element.
	if !strings.HasPrefix(string(out), `{"stats":[{"name":`) {
		t.Fatalf("counters first: %.80s", out)
	}
}

func TestCumulativeAndDisjointBuckets(t *testing.T) {
	ds := knownDurations()
	s := recordedSnapshot(ds[:9], ds[9:]) // interval: 40ms, 2s, 2h
	get := func(mode BucketMode) map[float64][2]uint64 {
		var doc boundsDoc
		out := StatsJSON(s, StatsOptions{Buckets: mode, Filter: compile(t, "cluster")})
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		last := doc.Stats[len(doc.Stats)-1]
		if len(last.Histograms) != 1 || last.Histograms[0].Name != "cluster.wsgi.upstream_rq_time" {
			t.Fatalf("%s: histograms %s", mode, out)
		}
		m := map[float64][2]uint64{}
		for i, b := range last.Histograms[0].Buckets {
			if b.UpperBound != DefaultBuckets[i] {
				t.Fatalf("%s: bound %d is %v, want %v", mode, i, b.UpperBound, DefaultBuckets[i])
			}
			m[b.UpperBound] = [2]uint64{b.Interval, b.Cumulative}
		}
		return m
	}
	cum := get(BucketsCumulative)
	for bound, want := range map[float64][2]uint64{0.5: {0, 3}, 1: {0, 5}, 5: {0, 9}, 50: {1, 10}, 2500: {2, 11}, 3600000: {2, 11}} {
		if cum[bound] != want {
			t.Errorf("cumulative le=%v: (interval, cumulative) = %v, want %v", bound, cum[bound], want)
		}
	}
	dis := get(BucketsDisjoint)
	for bound, want := range map[float64][2]uint64{0.5: {0, 3}, 1: {0, 2}, 5: {0, 4}, 10: {0, 0}, 50: {1, 1}, 2500: {1, 1}, 3600000: {0, 0}} {
		if dis[bound] != want {
			t.Errorf("disjoint (%v]: (interval, cumulative) = %v, want %v", bound, dis[bound], want)
		}
	}
}

func TestHandlerHistogramBuckets(t *testing.T) {
	_, fetch := serve(t, recordedSnapshot(nil, knownDurations()), Info{Version: "1"})
	code, body := fetch("/stats?format=json&histogram_buckets=detailed&filter=upstream_rq_time")
	var doc detailedDoc
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || len(doc.Stats) != 1 || len(doc.Stats[0].Histograms.Details) != 1 {
		t.Fatalf("detailed: %d %v %s", code, err, body)
	}
	checkDetail(t, "served totals", doc.Stats[0].Histograms.Details[0].Totals, knownDurations())
	for _, mode := range []string{"cumulative", "disjoint", "none"} {
		if code, body := fetch("/stats?format=json&histogram_buckets=" + mode); code != 200 || !json.Valid([]byte(body)) {
			t.Fatalf("%s: %d %s", mode, code, body)
		}
	}
	if code, body := fetch("/stats?histogram_buckets=cumulative&filter=upstream_rq_time"); code != 200 || !strings.Contains(body, "cluster.wsgi.upstream_rq_time: B0.5(3,3) B1(5,5)") {
		t.Fatalf("text cumulative: %d %q", code, body)
	}
	code, body = fetch("/stats?format=json&histogram_buckets=bogus")
	if code != 400 || strings.Count(strings.TrimSpace(body), "\n") != 0 || !strings.HasPrefix(body, "usage: /stats?histogram_buckets=") {
		t.Fatalf("unknown mode: %d %q, want 400 with one usage line", code, body)
	}
	if code, _ := fetch("/stats/prometheus?filter=("); code != 400 {
		t.Fatalf("bad prometheus filter: %d, want 400", code)
	}
}
