package dash

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

var classNames = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// trafficView is two lines of figures and, under them, the req/s and the
// latency charts side by side, chartH rows high.
func (m *Model) trafficView(chartH int) string {
	st := m.styles
	t := &m.frame.Totals
	var l1, l2 strings.Builder
	if m.frame.Status.Proxy == nil || !t.Valid {
		l1.WriteString(st.Muted.Render("req/s ") + st.Header.Render("-"))
		if m.frame.Status.ProxyError != "" {
			l1.WriteString(st.Warn.Render("  proxy stats unavailable: " + m.frame.Status.ProxyError))
		} else {
			l1.WriteString(st.Faint.Render("  (rates need two samples)"))
		}
	} else {
		l1.WriteString(st.Muted.Render("req/s ") + st.Header.Render(fmtRate(t.ReqRate)))
		for i := 1; i < 5; i++ {
			l1.WriteString("  " + st.Muted.Render(classNames[i]+" "))
			v := fmtRate(t.Classes[i]) + " " + fmtPct(t.Share(i))
			switch {
			case i == 4 && t.Classes[4] > 0:
				v = st.Error.Render(v)
			case i == 3 && t.Classes[3] > 0:
				v = st.Warn.Render(v)
			}
			l1.WriteString(v)
		}
		if t.Errors > 0 {
			l1.WriteString("  " + st.Error.Render("no answer "+fmtRate(t.Errors)+"/s"))
		}
	}
	l2.WriteString(st.Muted.Render("latency p50 ") + fmtMs(t.P50) +
		st.Muted.Render(" p95 ") + fmtMs(t.P95) + st.Muted.Render(" p99 ") + st.Header.Render(fmtMs(t.P99)))
	l2.WriteString("  " + st.Muted.Render("conns ") + strconv.FormatInt(t.Conns, 10))
	l2.WriteString("  " + st.Muted.Render("in flight ") + strconv.FormatInt(t.Active, 10))
	if tr := m.frame.Status.Traffic; tr != nil {
		state := st.Faint.Render("off")
		if tr.Enabled {
			state = st.OK.Render("on")
		}
		l2.WriteString("  " + st.Muted.Render("traffic ") + state + " " + strconv.Itoa(tr.Rate) + "/s")
	}

	leftW := m.width / 2
	rightW := m.width - leftW - 1
	win := strings.TrimSuffix(fmtAge(m.window), "00s")
	var b strings.Builder
	b.WriteString(fit(l1.String(), m.width))
	b.WriteString("\n")
	b.WriteString(fit(l2.String(), m.width))
	b.WriteString("\n")
	b.WriteString(rule(m.styles, "req/s · last "+win, leftW))
	b.WriteString(" ")
	b.WriteString(rule(m.styles, "latency p50 · p95 · p99 · last "+win, rightW))

	hist := m.tracker.History()
	end := m.frame.At
	reqVals := resample(hist, func(p *Point) float64 { return p.ReqRate }, end, m.window, (leftW-7)*2)
	latN := (rightW - 7) * 2
	lat := [][]float64{
		resample(hist, func(p *Point) float64 { return p.P50 }, end, m.window, latN),
		resample(hist, func(p *Point) float64 { return p.P95 }, end, m.window, latN),
		resample(hist, func(p *Point) float64 { return p.P99 }, end, m.window, latN),
	}
	left := chart([][]float64{reqVals}, leftW, chartH, fmtRate)
	right := chart(lat, rightW, chartH, func(v float64) string {
		if v <= 0 {
			return "0"
		}
		return fmtMs(v)
	})
	for r := 0; r < chartH; r++ {
		b.WriteString("\n")
		if r < len(left) {
			b.WriteString(st.Info.Render(fitChart(left[r], leftW)))
		} else {
			b.WriteString(strings.Repeat(" ", leftW))
		}
		b.WriteString(" ")
		if r < len(right) {
			b.WriteString(st.Warn.Render(fitChart(right[r], rightW)))
		}
	}
	return b.String()
}

// fitChart pads a chart line to w cells.
func fitChart(s string, w int) string {
	n := ansi.StringWidth(s)
	if n >= w {
		return s
	}
	return s + strings.Repeat(" ", w-n)
}
