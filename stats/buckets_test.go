package stats

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// envoyBounds are Envoy's default histogram bucket bounds in ms.
var envoyBounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

func TestDistributionHoldsEveryRecordedValue(t *testing.T) {
	durations := []time.Duration{0, 7 * time.Microsecond, 200 * time.Microsecond, 200 * time.Microsecond,
		700*time.Microsecond + 300*time.Nanosecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second}
	var h Histogram
	for _, d := range durations {
		h.Record(d)
	}
	var c Counts
	h.Snapshot(&c)
	bs := c.Distribution()
	if BucketsTotal(bs) != uint64(len(durations)) {
		t.Fatalf("buckets hold %d values, recorded %d", BucketsTotal(bs), len(durations))
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].LowerBound < bs[i-1].LowerBound+bs[i-1].Width {
			t.Fatalf("buckets overlap or are out of order: %+v then %+v", bs[i-1], bs[i])
		}
	}
	// Each bucket's count is the number of recorded durations in its
	// half-open range [lower, lower+width), in true (untruncated) ms.
	for _, b := range bs {
		want := uint64(0)
		for _, d := range durations {
			ms := float64(d) / float64(time.Millisecond)
			if ms >= b.LowerBound && ms < b.LowerBound+b.Width {
				want++
			}
		}
		if b.Count != want || b.Count == 0 {
			t.Errorf("bucket %+v: count %d, %d recorded durations lie in it", b, b.Count, want)
		}
	}
	if got := (&Counts{}).Distribution(); got != nil {
		t.Fatalf("empty counts gave buckets %+v", got)
	}
}

func TestCountAtMostIsExactOrConservative(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var h Histogram
	var ms []float64
	for i := 0; i < 50000; i++ {
		// Log-normal around 20ms, wide: values on both sides of most bounds,
		// with sub-microsecond parts that truncation drops.
		d := time.Duration(math.Exp(rng.NormFloat64()*2.5+math.Log(20e6)) + 0.5)
		h.Record(d)
		ms = append(ms, float64(d)/float64(time.Millisecond))
	}
	var c Counts
	h.Snapshot(&c)
	bs := c.Distribution()
	prev := uint64(0)
	for _, bound := range envoyBounds {
		got := CountAtMost(bs, bound)
		atMost, surelyBelow := uint64(0), uint64(0)
		for _, v := range ms {
			if v <= bound {
				atMost++
			}
			// A bucket is at most 1/32 of its lower bound wide, so a
			// straddling bucket starts above bound*32/33.
			if v < bound*32/33 {
				surelyBelow++
			}
		}
		if got > atMost {
			t.Errorf("le=%v: counted %d, only %d values are <= it (a value above the bound was counted)", bound, got, atMost)
		}
		if got < surelyBelow {
			t.Errorf("le=%v: counted %d, but %d values lie more than one bucket below it", bound, got, surelyBelow)
		}
		if got < prev {
			t.Errorf("le=%v: %d after %d: cumulative counts must not decrease", bound, got, prev)
		}
		prev = got
	}
}

func TestCountAtMostIsExactWhenNoBucketStraddles(t *testing.T) {
	// 0.2ms, 0.7ms, 3ms, 40ms and 2s sit in buckets well inside Envoy's
	// bounds (e.g. 0.2ms in [0.2, 0.204)), so each count is exact.
	var h Histogram
	for _, d := range []time.Duration{200 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond, 2 * time.Second} {
		h.Record(d)
	}
	var c Counts
	h.Snapshot(&c)
	bs := c.Distribution()
	for bound, want := range map[float64]uint64{0.1: 0, 0.5: 1, 1: 2, 5: 3, 10: 3, 25: 3, 50: 4, 1000: 4, 2500: 5, 3600000: 5} {
		if got := CountAtMost(bs, bound); got != want {
			t.Errorf("le=%v: %d, want %d", bound, got, want)
		}
	}
}

func TestBucketsQuantileAgreesWithCounts(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var h Histogram
	for i := 0; i < 10000; i++ {
		h.Record(time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond)))
	}
	var c Counts
	h.Snapshot(&c)
	bs := c.Distribution()
	for _, q := range []float64{0, 0.25, 0.5, 0.9, 0.995, 1} {
		want := c.Quantile(q) / 1000
		if got := BucketsQuantile(bs, q); math.Abs(got-want) > 1e-9*want+1e-12 {
			t.Errorf("q%v: %v from buckets, %v from counts", q, got, want)
		}
	}
	if !math.IsNaN(BucketsQuantile(nil, 0.5)) {
		t.Fatal("no buckets gave a quantile")
	}
}

func TestFillCarriesIntervalAndCumulativeBuckets(t *testing.T) {
	var c Counters
	w := NewWindow(1, time.Second)
	c.Begin()
	c.End(200, 100*time.Millisecond, 0, 0)
	w.Tick(&c.Latency)
	for i := 0; i < 3; i++ {
		c.Begin()
		c.End(200, time.Millisecond, 0, 0)
	}
	var e Endpoint
	c.Fill(&e, w)
	if BucketsTotal(e.Latency.CumulativeBuckets) != 4 || BucketsTotal(e.Latency.IntervalBuckets) != 3 {
		t.Fatalf("cumulative %+v, interval %+v: want 4 and 3 values", e.Latency.CumulativeBuckets, e.Latency.IntervalBuckets)
	}
	if CountAtMost(e.Latency.IntervalBuckets, 50) != 3 {
		t.Fatalf("interval %+v holds the 100ms request from before the window", e.Latency.IntervalBuckets)
	}
	var none Endpoint
	c.Fill(&none, nil)
	if BucketsTotal(none.Latency.CumulativeBuckets) != 4 || none.Latency.IntervalBuckets != nil {
		t.Fatalf("without a window: cumulative %+v, interval %+v", none.Latency.CumulativeBuckets, none.Latency.IntervalBuckets)
	}
}
