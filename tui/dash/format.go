package dash

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// fmtAge is a short duration: 45s, 12m03s, 3h07m, 2d04h.
func fmtAge(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}

// fmtBytes is a size in binary units: 512B, 20.1M, 1.2G.
func fmtBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + "B"
	}
	f := float64(b)
	for _, u := range []string{"K", "M", "G", "T"} {
		f /= unit
		if f < unit {
			if f < 10 {
				return strconv.FormatFloat(f, 'f', 1, 64) + u
			}
			return strconv.FormatFloat(f, 'f', 0, 64) + u
		}
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + "P"
}

// fmtRate is a per-second rate with sensible precision: 0, 0.4, 12.3, 1.2k.
func fmtRate(r float64) string {
	switch {
	case r <= 0:
		return "0"
	case r < 100:
		return strconv.FormatFloat(r, 'f', 1, 64)
	case r < 10000:
		return strconv.FormatFloat(r, 'f', 0, 64)
	default:
		return strconv.FormatFloat(r/1000, 'f', 1, 64) + "k"
	}
}

// fmtMs is a latency in milliseconds: 0.4ms, 12ms, 1.2s.
func fmtMs(ms float64) string {
	switch {
	case ms <= 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	}
}

// fmtPct is a share as a percentage: 97%, 0.4%.
func fmtPct(f float64) string {
	p := f * 100
	if p > 0 && p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// fit pads or cuts s (which may hold ANSI styles) to exactly w cells.
func fit(s string, w int) string {
	n := ansi.StringWidth(s)
	switch {
	case n == w:
		return s
	case n < w:
		return s + strings.Repeat(" ", w-n)
	default:
		return ansi.Truncate(s, w, "…")
	}
}

// fitRight right-aligns plain s in w cells, cutting it if needed.
func fitRight(s string, w int) string {
	n := ansi.StringWidth(s)
	if n >= w {
		return ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-n) + s
}

// cutLeft keeps the end of plain s in w cells: socket paths differ at
// their end, so that is the part worth showing.
func cutLeft(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	if w <= 1 {
		return string(r[len(r)-w:])
	}
	return "…" + string(r[len(r)-w+1:])
}
