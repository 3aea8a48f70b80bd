package dash

import (
	"math"
	"strings"
	"time"
)

// The charts are braille area charts: each terminal cell holds a 2x4 grid
// of dots, so a chart w cells wide shows 2w samples at 4h levels. This is
// small enough to write here rather than pull in a chart library, and it
// keeps View() allocation-light (see BenchmarkView).

// brailleBits[col][row] is the dot's bit in a braille cell (U+2800 + bits).
var brailleBits = [2][4]rune{
	{0x01, 0x02, 0x04, 0x40},
	{0x08, 0x10, 0x20, 0x80},
}

// resample returns n values covering (end-window, end], one per dot
// column: the mean of the points in each slice of time, or the last point
// before it when the slice has none and that point is recent enough.
// Columns before the first point are NaN (drawn empty).
func resample(pts []Point, get func(*Point) float64, end time.Time, window time.Duration, n int) []float64 {
	out := make([]float64, n)
	if n == 0 {
		return out
	}
	step := window / time.Duration(n)
	if step <= 0 {
		step = time.Nanosecond
	}
	// A sample stands for the interval before it; bridge gaps up to a few
	// refreshes so a 1 s poll on a fine grid draws a solid area.
	const maxGap = 5 * time.Second
	start := end.Add(-window)
	i := 0
	for i < len(pts) && !pts[i].Time.After(start) {
		i++
	}
	last := math.NaN()
	var lastAt time.Time
	if i > 0 {
		last, lastAt = get(&pts[i-1]), pts[i-1].Time
	}
	for k := 0; k < n; k++ {
		hi := start.Add(step * time.Duration(k+1))
		var sum float64
		cnt := 0
		for i < len(pts) && !pts[i].Time.After(hi) {
			sum += get(&pts[i])
			cnt++
			last, lastAt = get(&pts[i]), pts[i].Time
			i++
		}
		switch {
		case cnt > 0:
			out[k] = sum / float64(cnt)
		case !lastAt.IsZero() && hi.Sub(lastAt) <= maxGap+step:
			out[k] = last
		default:
			out[k] = math.NaN()
		}
	}
	return out
}

// brailleArea draws vals (2 per cell) as a filled area scaled to top,
// width cells wide and height rows high. NaN values draw nothing; a value
// above zero always shows at least one dot.
func brailleArea(vals []float64, top float64, width, height int) []string {
	return braille([][]float64{vals}, top, width, height, true)
}

// brailleLines draws each series as a line: one dot per sample, joined to
// the previous sample by a vertical run, so several series stay apart.
func brailleLines(series [][]float64, top float64, width, height int) []string {
	return braille(series, top, width, height, false)
}

func braille(series [][]float64, top float64, width, height int, fill bool) []string {
	if width <= 0 || height <= 0 {
		return nil
	}
	cells := make([]rune, width*height)
	for i := range cells {
		cells[i] = 0x2800
	}
	levels := height * 4
	// level is the dot count from the bottom for v, 0 for nothing.
	level := func(v float64) int {
		if math.IsNaN(v) || v <= 0 || top <= 0 {
			return 0
		}
		return min(max(int(math.Round(v/top*float64(levels))), 1), levels)
	}
	set := func(x, d int) { // d counts dots from the bottom, from 0
		row := height - 1 - d/4
		cells[row*width+x/2] |= brailleBits[x%2][3-d%4]
	}
	for _, vals := range series {
		prev := 0
		for x := 0; x < width*2 && x < len(vals); x++ {
			n := level(vals[x])
			switch {
			case n == 0:
			case fill:
				for d := 0; d < n; d++ {
					set(x, d)
				}
			default:
				lo, hi := n-1, n-1
				if prev > 0 {
					lo, hi = min(lo, prev-1), max(hi, prev-1)
				}
				for d := lo; d <= hi; d++ {
					set(x, d)
				}
			}
			prev = n
		}
	}
	lines := make([]string, height)
	for r := 0; r < height; r++ {
		lines[r] = string(cells[r*width : (r+1)*width])
	}
	return lines
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, so axis labels
// stay readable and the scale does not jitter with every sample.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// maxOf is the largest non-NaN value, 0 when there is none.
func maxOf(vals []float64) float64 {
	m := 0.0
	for _, v := range vals {
		if !math.IsNaN(v) && v > m {
			m = v
		}
	}
	return m
}

// chart renders series with a y-axis label column: one series as a
// filled area, several as lines.
func chart(series [][]float64, width, height int, label func(float64) string) []string {
	const axis = 6
	plotW := width - axis - 1
	if plotW < 4 || height < 1 || len(series) == 0 {
		return nil
	}
	peak := 0.0
	for _, vals := range series {
		peak = max(peak, maxOf(vals))
	}
	top := niceMax(peak)
	var plot []string
	if len(series) == 1 {
		plot = brailleArea(series[0], top, plotW, height)
	} else {
		plot = brailleLines(series, top, plotW, height)
	}
	out := make([]string, height)
	for r, line := range plot {
		lbl := ""
		switch r {
		case 0:
			lbl = label(top)
		case height - 1:
			lbl = label(0)
		}
		out[r] = padLeft(lbl, axis) + "│" + line
	}
	return out
}

// padLeft right-aligns s in w cells (s is ASCII).
func padLeft(s string, w int) string {
	if len(s) >= w {
		return s[:w]
	}
	return strings.Repeat(" ", w-len(s)) + s
}
