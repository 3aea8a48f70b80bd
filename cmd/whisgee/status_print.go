package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/stats"
)

// printStatus writes `whisgee ctl status` as a table: the supervisor's and
// the proxy's view of each worker in one row.
func printStatus(out io.Writer, st control.Status) {
	d := st.Daemon
	now := time.Now()
	fmt.Fprintf(out, "whisgee %s on %s, pid %d, up %s; proxy %s on %s; supervisor %s",
		d.Version, d.Host, d.PID, round(now.Sub(d.StartedAt)), d.Proxy, d.Listen, d.Supervisor)
	if d.Python != "" {
		fmt.Fprintf(out, "; %s (%s)", d.Python, d.Server)
	}
	fmt.Fprintln(out)

	hosts := map[string]*stats.Host{}
	if st.Proxy != nil {
		for i := range st.Proxy.Hosts {
			hosts[st.Proxy.Hosts[i].Address] = &st.Proxy.Hosts[i]
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPID\tSTATE\tUPTIME\tRESTARTS\tHEALTH\tIN-FLIGHT\tREQUESTS\tCPU%\tRSS\tLAST EXIT\tSOCKET")
	for _, w := range st.Workers {
		health, requests := "-", "-"
		if h := hosts[w.Socket]; h != nil {
			health, requests = h.Health, fmt.Sprint(h.Requests)
		}
		pid, uptime := "-", "-"
		if w.PID != 0 {
			pid, uptime = fmt.Sprint(w.PID), round(w.Uptime(now)).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%.1f\t%s\t%s\t%s\n",
			w.ID, pid, w.State, uptime, w.Restarts, health, w.InFlight, requests, w.CPUPercent, bytesHuman(w.RSSBytes), dash(w.LastExit), w.Socket)
	}
	tw.Flush()
	for _, w := range st.Workers {
		if w.Error != "" {
			fmt.Fprintf(out, "worker %d: %s\n", w.ID, w.Error)
		}
		for _, l := range w.LastStderr {
			fmt.Fprintf(out, "  worker %d stderr: %s\n", w.ID, l)
		}
	}
	if st.Proxy != nil {
		c := st.Proxy.Cluster
		lat := c.Latency.Cumulative
		fmt.Fprintf(out, "proxy: %d requests (2xx %d, 3xx %d, 4xx %d, 5xx %d), %d errors, %d retries, %d in flight; latency p50 %.1fms p99 %.1fms\n",
			c.Requests, c.Classes[1], c.Classes[2], c.Classes[3], c.Classes[4], c.Errors, c.Retries, c.Active, lat.P50, lat.P99)
	} else if st.ProxyError != "" {
		fmt.Fprintf(out, "proxy: stats unavailable: %s\n", st.ProxyError)
	}
	if t := st.Traffic; t != nil && (t.Enabled || t.Sent > 0) {
		fmt.Fprintf(out, "traffic generator: %s at %d req/s, %d sent, %d failed\n", onOff(t.Enabled), t.Rate, t.Sent, t.Failed)
	}
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func bytesHuman(n uint64) string {
	if n == 0 {
		return "-"
	}
	units := []string{"B", "K", "M", "G", "T"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + units[i]
}
