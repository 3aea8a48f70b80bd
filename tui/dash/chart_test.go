package dash

import (
	"math"
	"testing"
	"time"
)

func TestBrailleAreaFillsFromTheBottom(t *testing.T) {
	// Two cells, one row: values 0, 4 (full), 2 (half), NaN.
	got := brailleArea([]float64{0, 4, 2, math.NaN()}, 4, 2, 1)
	// Left cell: left column empty, right column all four dots (0x08|0x10|0x20|0x80).
	// Right cell: left column the bottom two dots (0x04|0x40), right empty.
	want := string([]rune{0x2800 + 0xB8, 0x2800 + 0x44})
	if got[0] != want {
		t.Errorf("got %q, want %q", got[0], want)
	}
	// A tiny value above zero still shows one dot; values over the top clip.
	got = brailleArea([]float64{0.001, 100}, 4, 1, 2)
	// Top row: only the clipped right column; bottom row: that and one dot.
	if got[0] != string(rune(0x2800+0xB8)) || got[1] != string(rune(0x2800+0x40+0xB8)) {
		t.Errorf("got %q", got)
	}
}

func TestNiceMax(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.1: 2, 3: 5, 7: 10, 160: 200, 999: 1000, 1001: 2000} {
		if got := niceMax(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestResampleBucketsAndBridgesGaps(t *testing.T) {
	var pts []Point
	for s := 0; s <= 10; s++ {
		pts = append(pts, Point{Time: t0.Add(time.Duration(s) * time.Second), ReqRate: float64(s)})
	}
	get := func(p *Point) float64 { return p.ReqRate }
	// 10 s window over 20 columns: half a second each, so every other
	// column has no point and carries the last value.
	vals := resample(pts, get, t0.Add(10*time.Second), 10*time.Second, 20)
	if vals[1] != 1 || vals[2] != 1 || vals[19] != 10 {
		t.Errorf("vals = %v", vals)
	}
	// Before the first point: nothing.
	vals = resample(pts, get, t0.Add(10*time.Second), time.Minute, 60)
	if !math.IsNaN(vals[0]) || vals[59] != 10 {
		t.Errorf("vals[0] = %v (want NaN), vals[59] = %v (want 10)", vals[0], vals[59])
	}
	// Long after the last point: nothing either (the data stopped).
	vals = resample(pts, get, t0.Add(5*time.Minute), time.Minute, 60)
	if !math.IsNaN(vals[59]) {
		t.Errorf("a minute after the data the chart still shows %v", vals[59])
	}
}

func TestTrackerDropsOldHistory(t *testing.T) {
	var tr Tracker
	for s := 0; s < 20*60; s += 1 {
		at := t0.Add(time.Duration(s) * time.Second)
		tr.Add(fixture(1, at, uint64(s)), at)
	}
	h := tr.History()
	if span := h[len(h)-1].Time.Sub(h[0].Time); span > historySpan {
		t.Errorf("history spans %s, over %s", span, historySpan)
	}
}

func TestBrailleLinesKeepSeriesApart(t *testing.T) {
	// One cell wide, one row (4 levels), top 4: a flat series at 1 and one
	// at 4 light the bottom and the top dots of both columns, not between.
	got := brailleLines([][]float64{{1, 1}, {4, 4}}, 4, 1, 1)
	want := string(rune(0x2800 + 0x40 + 0x80 + 0x01 + 0x08))
	if got[0] != want {
		t.Errorf("got %q, want %q", got[0], want)
	}
	// A jump from 1 to 4 is joined by a vertical run in the second column.
	got = brailleLines([][]float64{{1, 4}}, 4, 1, 1)
	if want := string(rune(0x2800 + 0x40 + 0x08 + 0x10 + 0x20 + 0x80)); got[0] != want {
		t.Errorf("got %q, want %q", got[0], want)
	}
}
