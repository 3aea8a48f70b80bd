package stats

import "math"

// Bucket is one range of a latency distribution: Count values v with
// LowerBound <= v < LowerBound+Width, in milliseconds. It is the shape of
// Envoy's detailed histogram buckets (/stats?histogram_buckets=detailed).
type Bucket struct {
	LowerBound float64 `json:"lower_bound"`
	Width      float64 `json:"width"`
	Count      uint64  `json:"count"`
}

// Distribution lists c's non-empty buckets, lowest first, in milliseconds;
// nil when nothing was recorded.
//
// A duration is recorded as whole microseconds, truncated, so a value in
// bucket [low, high) µs was a duration d with low <= d < high µs: the
// buckets are exact half-open ranges of the true durations, not only of
// the truncated numbers.
func (c *Counts) Distribution() []Bucket {
	used := 0
	for _, n := range c.Buckets {
		if n != 0 {
			used++
		}
	}
	if used == 0 {
		return nil
	}
	out := make([]Bucket, 0, used) // one allocation: snapshots are frequent
	for i, n := range c.Buckets {
		if n == 0 {
			continue
		}
		low, high := bucketBounds(i)
		out = append(out, Bucket{LowerBound: low / 1000, Width: (high - low) / 1000, Count: n})
	}
	return out
}

// BucketsTotal is the number of values in bs.
func BucketsTotal(bs []Bucket) uint64 {
	var n uint64
	for _, b := range bs {
		n += b.Count
	}
	return n
}

// CountAtMost is how many values in bs are surely <= bound (ms): those in
// the buckets whose whole range lies at or below bound. A bucket that
// straddles bound is left out, so the count is a lower bound of the true
// one and never counts a value above bound; it is exact when no bucket
// straddles. For the buckets of a stats.Histogram the values missed lie
// within one bucket width (at most 1/32 of bound) below it. Counts at
// increasing bounds never decrease.
func CountAtMost(bs []Bucket, bound float64) uint64 {
	var n uint64
	for _, b := range bs {
		// LowerBound+Width is the range's open upper end: a value in it is
		// below that end, so at most bound when the end is.
		if b.LowerBound+b.Width <= bound {
			n += b.Count
		}
	}
	return n
}

// BucketsQuantile is the q-quantile (0..1) of bs in milliseconds, the
// midpoint of the bucket holding it (its lower bound when the bucket is
// under a microsecond wide, as stats.Counts.Quantile reports exact values),
// or NaN when bs is empty.
func BucketsQuantile(bs []Bucket, q float64) float64 {
	total := BucketsTotal(bs)
	if total == 0 {
		return math.NaN()
	}
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	seen := uint64(0)
	for _, b := range bs {
		seen += b.Count
		if seen >= rank {
			if b.Width <= 0.001 {
				return b.LowerBound
			}
			return b.LowerBound + b.Width/2
		}
	}
	return math.NaN()
}
