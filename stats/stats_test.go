package stats

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueWithBoundedError(t *testing.T) {
	for _, us := range []uint64{0, 1, 31, 32, 33, 63, 64, 100, 1000, 12345, 999_999, 1 << 30, 1<<37 - 1} {
		i := bucketOf(us)
		low, high := bucketBounds(i)
		if float64(us) < low || float64(us) >= high {
			t.Fatalf("%dµs landed in bucket %d [%v,%v)", us, i, low, high)
		}
		if us >= subCount && (high-low)/low > 1.0/subCount+1e-9 {
			t.Fatalf("bucket %d [%v,%v) wider than 1/%d of its low bound", i, low, high, subCount)
		}
	}
	if got := bucketOf(math.MaxUint64); got != numBuckets-1 {
		t.Fatalf("huge value went to bucket %d, want the last (%d)", got, numBuckets-1)
	}
}

func TestQuantilesMatchExactOnesWithinTwoPercent(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var h Histogram
	var samples []float64
	for i := 0; i < 100000; i++ {
		// Log-normal around 2ms: a realistic latency shape.
		us := math.Exp(rng.NormFloat64()*1.2 + math.Log(2000))
		h.Record(time.Duration(us * float64(time.Microsecond)))
		samples = append(samples, math.Floor(us))
	}
	sort.Float64s(samples)
	var c Counts
	h.Snapshot(&c)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := c.Quantile(q)
		if rel := math.Abs(got-exact) / exact; rel > 0.02 {
			t.Errorf("q%.3f = %.1fµs, exact %.1fµs: %.2f%% off", q, got, exact, rel*100)
		}
	}
	if c.Count != 100000 {
		t.Fatalf("count %d, want 100000", c.Count)
	}
}

func TestEmptyHistogramHasNoQuantiles(t *testing.T) {
	var h Histogram
	var c Counts
	h.Snapshot(&c)
	if !math.IsNaN(c.Quantile(0.5)) {
		t.Fatal("empty histogram gave a quantile")
	}
	if q := c.Quantiles(); q != (Quantiles{}) {
		t.Fatalf("empty quantiles = %+v", q)
	}
}

func TestWindowCoversOnlyRecentValues(t *testing.T) {
	var c Counters
	w := NewWindow(2, time.Second)
	for i := 0; i < 100; i++ {
		c.Begin()
		c.End(200, 100*time.Millisecond, 0, 0)
	}
	w.Tick(&c.Latency)
	w.Tick(&c.Latency)
	// Two ticks later, only the fast requests are in the window.
	for i := 0; i < 100; i++ {
		c.Begin()
		c.End(200, time.Millisecond, 0, 0)
	}
	w.Tick(&c.Latency)
	var e Endpoint
	c.Fill(&e, w)
	if e.Latency.Interval.Count != 100 || e.Latency.Interval.P99 > 1.1 {
		t.Fatalf("interval = %+v, want 100 requests near 1ms", e.Latency.Interval)
	}
	if e.Latency.Cumulative.Count != 200 || e.Latency.Cumulative.P99 < 90 {
		t.Fatalf("cumulative = %+v, want 200 requests with p99 near 100ms", e.Latency.Cumulative)
	}
	if e.Latency.Interval.Max > 1.1 {
		t.Fatalf("interval max %.2fms counts requests from before the window", e.Latency.Interval.Max)
	}
	if e.Latency.Window != 2*time.Second {
		t.Fatalf("window %v, want 2s", e.Latency.Window)
	}
}

func TestCountersByClass(t *testing.T) {
	var c Counters
	for _, status := range []int{200, 204, 301, 404, 500, 503, 0} {
		c.Begin()
		c.End(status, time.Millisecond, 10, 20)
	}
	c.Error()
	var e Endpoint
	c.Fill(&e, nil)
	want := [5]uint64{0, 2, 1, 1, 2}
	if e.Classes != want || e.Requests != 7 || e.Errors != 1 || e.Active != 0 || e.BytesIn != 70 || e.BytesOut != 140 {
		t.Fatalf("endpoint = %+v", e)
	}
}

func TestRateHandlesRestartedCounters(t *testing.T) {
	prev := Endpoint{Requests: 1000}
	cur := Endpoint{Requests: 50}
	if r := Rate(&prev, &cur, time.Second); r.Requests != 50 {
		t.Fatalf("rate after counter reset = %v, want 50", r.Requests)
	}
	cur.Requests = 1500
	if r := Rate(&prev, &cur, 2*time.Second); r.Requests != 250 {
		t.Fatalf("rate = %v, want 250", r.Requests)
	}
}

func BenchmarkCountersHotPath(b *testing.B) {
	var c Counters
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1500 * time.Microsecond
		for pb.Next() {
			c.Begin()
			c.End(200, d, 120, 512)
		}
	})
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	var c Counters
	allocs := testing.AllocsPerRun(1000, func() {
		c.Begin()
		c.End(200, time.Millisecond, 1, 1)
	})
	if allocs != 0 {
		t.Fatalf("hot path allocates %.1f times per request", allocs)
	}
}

// BenchmarkFillWithWindow is what a snapshot costs per endpoint: counters,
// interval and cumulative quantiles and their buckets, from a histogram
// holding a realistic spread of latencies.
func BenchmarkFillWithWindow(b *testing.B) {
	var c Counters
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		c.Begin()
		c.End(200, time.Duration(math.Exp(rng.NormFloat64()*1.2+math.Log(2000)))*time.Microsecond, 0, 0)
	}
	w := NewWindow(5, time.Second)
	w.Tick(&c.Latency)
	var e Endpoint
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Fill(&e, w)
	}
}
