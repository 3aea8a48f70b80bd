package admin

import (
	"errors"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/stats"
)

// BucketMode is /stats's histogram_buckets parameter: how histograms are
// shown beside (or instead of) their quantiles. Envoy's admin
// (source/server/admin/utils.cc, stats_render.cc) knows the same four.
type BucketMode string

const (
	// BucketsNone shows quantiles only (Envoy's default).
	BucketsNone BucketMode = "none"
	// BucketsCumulative shows, at each of DefaultBuckets, how many values
	// were at or below it: {"histograms":[{"name":..,"buckets":
	// [{"upper_bound":..,"interval":..,"cumulative":..}]}]}.
	BucketsCumulative BucketMode = "cumulative"
	// BucketsDisjoint is the same with each bucket counting only the
	// values above the previous bound.
	BucketsDisjoint BucketMode = "disjoint"
	// BucketsDetailed shows every non-empty bucket the histogram keeps:
	// {"histograms":{"supported_percentiles":[..],"details":[{"name":..,
	// "totals":[{"lower_bound":..,"width":..,"count":..}],"intervals":[..],
	// "percentiles":[{"interval":..,"cumulative":..}]}]}}.
	BucketsDetailed BucketMode = "detailed"
)

// ErrBucketMode is the answer to an unknown histogram_buckets value, in
// the form Envoy gives it (a usage line with status 400).
var ErrBucketMode = errors.New("usage: /stats?histogram_buckets=(cumulative|disjoint|detailed|none)")

// ParseBucketMode reads a histogram_buckets value; "" is BucketsNone.
func ParseBucketMode(v string) (BucketMode, error) {
	switch m := BucketMode(v); m {
	case "":
		return BucketsNone, nil
	case BucketsNone, BucketsCumulative, BucketsDisjoint, BucketsDetailed:
		return m, nil
	}
	return "", ErrBucketMode
}

// DefaultBuckets are Envoy's default histogram bucket bounds, in
// milliseconds (HistogramStatisticsImpl::supportedBuckets in Envoy's
// source/common/stats/histogram_impl.cc): the upper bounds of /stats's
// cumulative and disjoint buckets and of /stats/prometheus's histograms.
var DefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// boundCounts is how many values are surely at or below each of
// DefaultBuckets (see stats.CountAtMost: a bucket straddling a bound is
// counted at the next bound, never early), cumulative or disjoint.
func boundCounts(bs []stats.Bucket, disjoint bool) []uint64 {
	out := make([]uint64, len(DefaultBuckets))
	prev := uint64(0)
	for i, bound := range DefaultBuckets {
		n := stats.CountAtMost(bs, bound)
		out[i] = n
		if disjoint {
			out[i] = n - prev
		}
		prev = n
	}
	return out
}

// hasBuckets tells whether h can be shown by bucket: it has its buckets,
// or nothing was recorded (then every count is truly 0). A histogram
// from a source that kept only quantiles has neither, and the bucket
// modes leave it out rather than show made-up zeros.
func hasBuckets(h *Histogram) bool {
	return h.CumulativeBuckets != nil || h.Cumulative.Count == 0
}

// bucketsJSON writes the histograms element of a buckets mode.
func bucketsJSON(b *strings.Builder, hists []Histogram, mode BucketMode) {
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if mode == BucketsDetailed {
		b.WriteString(`{"histograms":{"supported_percentiles":`)
		writeSupported(b)
		b.WriteString(`,"details":[`)
		for i := range hists {
			h := &hists[i]
			if !hasBuckets(h) {
				continue
			}
			sep()
			b.WriteString(`{"name":` + strconv.Quote(h.Name) + `,"totals":`)
			writeDetail(b, h.CumulativeBuckets)
			b.WriteString(`,"intervals":`)
			writeDetail(b, h.IntervalBuckets)
			b.WriteString(`,"percentiles":`)
			writePercentiles(b, h)
			b.WriteByte('}')
		}
		b.WriteString("]}}")
		return
	}
	b.WriteString(`{"histograms":[`)
	for i := range hists {
		h := &hists[i]
		if !hasBuckets(h) {
			continue
		}
		sep()
		disjoint := mode == BucketsDisjoint
		iv, cv := boundCounts(h.IntervalBuckets, disjoint), boundCounts(h.CumulativeBuckets, disjoint)
		b.WriteString(`{"name":` + strconv.Quote(h.Name) + `,"buckets":[`)
		for j, bound := range DefaultBuckets {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"upper_bound":` + formatFloat(bound) +
				`,"interval":` + strconv.FormatUint(iv[j], 10) +
				`,"cumulative":` + strconv.FormatUint(cv[j], 10) + `}`)
		}
		b.WriteString("]}")
	}
	b.WriteString("]}")
}

// writeDetail writes buckets as [{"lower_bound":..,"width":..,"count":..}].
func writeDetail(b *strings.Builder, bs []stats.Bucket) {
	b.WriteByte('[')
	for i, bk := range bs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"lower_bound":` + formatFloat(bk.LowerBound) +
			`,"width":` + formatFloat(bk.Width) +
			`,"count":` + strconv.FormatUint(bk.Count, 10) + `}`)
	}
	b.WriteByte(']')
}

// bucketsText writes one used histogram in a buckets mode as Envoy's text
// /stats does: "name: B0.5(interval,cumulative) B1(..) ..." for the
// cumulative and disjoint modes; for detailed,
// "name:\n  totals=lower,width:count, ...\n  intervals=...\n  summary=P0(..) ...".
func bucketsText(b *strings.Builder, h *Histogram, mode BucketMode) {
	if !hasBuckets(h) {
		b.WriteString(h.Name + ": " + quantileSummary(h) + "\n")
		return
	}
	if mode == BucketsDetailed {
		b.WriteString(h.Name + ":\n  totals=")
		detailText(b, h.CumulativeBuckets)
		b.WriteString("\n  intervals=")
		detailText(b, h.IntervalBuckets)
		b.WriteString("\n  summary=" + quantileSummary(h) + "\n")
		return
	}
	disjoint := mode == BucketsDisjoint
	iv, cv := boundCounts(h.IntervalBuckets, disjoint), boundCounts(h.CumulativeBuckets, disjoint)
	b.WriteString(h.Name + ": ")
	for j, bound := range DefaultBuckets {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("B" + formatFloat(bound) + "(" + strconv.FormatUint(iv[j], 10) + "," + strconv.FormatUint(cv[j], 10) + ")")
	}
	b.WriteByte('\n')
}

func detailText(b *strings.Builder, bs []stats.Bucket) {
	for i, bk := range bs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatFloat(bk.LowerBound) + "," + formatFloat(bk.Width) + ":" + strconv.FormatUint(bk.Count, 10))
	}
}
