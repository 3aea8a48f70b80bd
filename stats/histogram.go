package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, as HdrHistogram is: values below 2^subBits
// microseconds have a bucket each; above, every power of two is split into
// 2^subBits equal buckets. A bucket's width is at most 1/32 of its lower
// bound, so a quantile reported as the bucket's midpoint is within 1.6% of
// the true value.
const (
	subBits    = 5
	subCount   = 1 << subBits
	maxExp     = 37 // 2^37µs ≈ 38h; slower values land in the last bucket
	numBuckets = (maxExp - subBits + 2) * subCount
)

// Histogram records durations without locks or allocations. The zero
// value is ready to use; it must not be copied after first use.
type Histogram struct {
	count   atomic.Uint64
	sumUS   atomic.Uint64
	maxUS   atomic.Uint64
	buckets [numBuckets]atomic.Uint64
}

// Record adds one duration. It is safe for concurrent use.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.buckets[bucketOf(us)].Add(1)
	h.count.Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			break
		}
	}
}

// bucketOf maps microseconds to a bucket index.
func bucketOf(us uint64) int {
	if us < subCount {
		return int(us)
	}
	exp := bits.Len64(us) - 1 // us in [2^exp, 2^(exp+1))
	if exp > maxExp {
		return numBuckets - 1
	}
	sub := (us >> (exp - subBits)) & (subCount - 1)
	return (exp-subBits+1)*subCount + int(sub)
}

// bucketBounds is the [low, high) range of a bucket in microseconds.
func bucketBounds(i int) (low, high float64) {
	if i < subCount {
		return float64(i), float64(i + 1)
	}
	exp := i/subCount + subBits - 1
	sub := uint64(i % subCount)
	width := uint64(1) << (exp - subBits) // exp <= maxExp+1: no overflow
	lowUS := uint64(1)<<exp + sub*width
	return float64(lowUS), float64(lowUS + width)
}

// Counts is a point-in-time copy of a histogram's buckets, for quantiles
// over all time or, subtracted from a later copy, over an interval.
type Counts struct {
	Count   uint64
	SumUS   uint64
	MaxUS   uint64
	Buckets [numBuckets]uint64
}

// Snapshot copies the histogram into c without allocating.
func (h *Histogram) Snapshot(c *Counts) {
	for i := range h.buckets {
		c.Buckets[i] = h.buckets[i].Load()
	}
	c.Count = h.count.Load()
	c.SumUS = h.sumUS.Load()
	c.MaxUS = h.maxUS.Load()
}

// Sub sets c to a-b, the values recorded between two snapshots. The max
// is the top of the highest bucket used in between (capped by a's max): the
// best bound there is without tracking a max per interval.
func (c *Counts) Sub(a, b *Counts) {
	top := -1
	for i := range c.Buckets {
		c.Buckets[i] = a.Buckets[i] - b.Buckets[i]
		if c.Buckets[i] != 0 {
			top = i
		}
	}
	c.Count = a.Count - b.Count
	c.SumUS = a.SumUS - b.SumUS
	c.MaxUS = 0
	if top >= 0 {
		_, high := bucketBounds(top)
		c.MaxUS = min(a.MaxUS, uint64(high))
	}
}

// Add adds o into c, to merge histograms of several hosts.
func (c *Counts) Add(o *Counts) {
	for i := range c.Buckets {
		c.Buckets[i] += o.Buckets[i]
	}
	c.Count += o.Count
	c.SumUS += o.SumUS
	c.MaxUS = max(c.MaxUS, o.MaxUS)
}

// Quantile returns the q-quantile (0..1) in microseconds, the midpoint of
// the bucket holding it, or NaN when nothing was recorded.
func (c *Counts) Quantile(q float64) float64 {
	total := uint64(0)
	for _, n := range c.Buckets {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	seen := uint64(0)
	for i, n := range c.Buckets {
		seen += n
		if seen >= rank {
			low, high := bucketBounds(i)
			if i < subCount {
				return low // exact below 32µs
			}
			return (low + high) / 2
		}
	}
	return math.NaN()
}

// Quantiles summarizes the counts in milliseconds.
func (c *Counts) Quantiles() Quantiles {
	ms := func(us float64) float64 { return us / 1000 }
	q := Quantiles{Count: c.Count}
	if c.Count == 0 {
		return q
	}
	q.P50 = ms(c.Quantile(0.50))
	q.P95 = ms(c.Quantile(0.95))
	q.P99 = ms(c.Quantile(0.99))
	q.P999 = ms(c.Quantile(0.999))
	q.Mean = ms(float64(c.SumUS) / float64(c.Count))
	q.Max = ms(float64(c.MaxUS))
	return q
}
