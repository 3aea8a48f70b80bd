package envoy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/stats"
)

// StatsDump is Envoy's /stats?format=json: counters and gauges by name,
// text readouts, and histograms with their quantiles.
type StatsDump struct {
	Values     map[string]uint64
	Texts      map[string]string
	Histograms map[string]HistogramStats
}

// HistogramStats are one histogram's quantiles over the last flush
// interval and since Envoy started. Count, Mean and the buckets are known
// only when Envoy gave bucket details (histogram_buckets=detailed); they
// are zero otherwise.
type HistogramStats struct {
	Interval, Cumulative stats.Quantiles
	// IntervalBuckets and CumulativeBuckets are Envoy's detailed
	// "intervals" and "totals", in its histogram's unit (ms).
	IntervalBuckets, CumulativeBuckets []stats.Bucket
}

// ParseStats reads /stats?format=json in any of the shapes Envoy writes:
// plain (supported_quantiles + computed_quantiles) or detailed
// (supported_percentiles + details with bucket totals and intervals).
// Quantile values may be null (no samples in the interval).
func ParseStats(r io.Reader) (*StatsDump, error) {
	var doc struct {
		Stats []map[string]json.RawMessage `json:"stats"`
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("stats: not Envoy's JSON stats: %v", err)
	}
	d := &StatsDump{Values: map[string]uint64{}, Texts: map[string]string{}, Histograms: map[string]HistogramStats{}}
	for _, e := range doc.Stats {
		if h, ok := e["histograms"]; ok {
			if err := parseHistograms(h, d); err != nil {
				return nil, err
			}
			continue
		}
		var name string
		if err := json.Unmarshal(e["name"], &name); err != nil || name == "" {
			continue
		}
		raw := bytes.TrimSpace(e["value"])
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			d.Texts[name] = s
			continue
		}
		if v, err := strconv.ParseFloat(string(raw), 64); err == nil && v >= 0 {
			d.Values[name] = uint64(v)
		}
	}
	return d, nil
}

type quantilePair struct {
	Interval   *float64 `json:"interval"`
	Cumulative *float64 `json:"cumulative"`
}

func parseHistograms(raw json.RawMessage, d *StatsDump) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		// histogram_buckets=cumulative|disjoint: buckets without
		// quantiles. whisgee never asks for these; nothing to read.
		return nil
	}
	var h struct {
		SupportedQuantiles   []float64 `json:"supported_quantiles"`
		SupportedPercentiles []float64 `json:"supported_percentiles"`
		Computed             []struct {
			Name   string         `json:"name"`
			Values []quantilePair `json:"values"`
		} `json:"computed_quantiles"`
		Details []struct {
			Name        string         `json:"name"`
			Percentiles []quantilePair `json:"percentiles"`
			Totals      []stats.Bucket `json:"totals"`
			Intervals   []stats.Bucket `json:"intervals"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("stats: histograms: %v", err)
	}
	supported := h.SupportedQuantiles
	if supported == nil {
		supported = h.SupportedPercentiles
	}
	for _, c := range h.Computed {
		d.Histograms[c.Name] = HistogramStats{
			Interval:   quantilesFrom(supported, c.Values, false),
			Cumulative: quantilesFrom(supported, c.Values, true),
		}
	}
	for _, c := range h.Details {
		hs := HistogramStats{
			Interval:          quantilesFrom(supported, c.Percentiles, false),
			Cumulative:        quantilesFrom(supported, c.Percentiles, true),
			IntervalBuckets:   c.Intervals,
			CumulativeBuckets: c.Totals,
		}
		hs.Interval.Count, hs.Interval.Mean = countMean(c.Intervals)
		hs.Cumulative.Count, hs.Cumulative.Mean = countMean(c.Totals)
		d.Histograms[c.Name] = hs
	}
	return nil
}

// quantilesFrom picks P50, P95, P99, P99.9 and the max (P100) out of
// Envoy's list, by the percentiles it says it supports.
func quantilesFrom(supported []float64, values []quantilePair, cumulative bool) stats.Quantiles {
	at := func(p float64) float64 {
		for i, s := range supported {
			if math.Abs(s-p) < 1e-9 && i < len(values) {
				v := values[i].Interval
				if cumulative {
					v = values[i].Cumulative
				}
				if v != nil && !math.IsNaN(*v) {
					return *v
				}
			}
		}
		return 0
	}
	return stats.Quantiles{P50: at(50), P95: at(95), P99: at(99), P999: at(99.9), Max: at(100)}
}

// countMean sums bucket counts, and estimates the mean from bucket
// midpoints (Envoy's buckets are narrow: within a few percent).
func countMean(bs []stats.Bucket) (uint64, float64) {
	var n uint64
	var sum float64
	for _, b := range bs {
		n += b.Count
		sum += (b.LowerBound + b.Width/2) * float64(b.Count)
	}
	if n == 0 {
		return 0, 0
	}
	return n, sum / float64(n)
}

// HostStatus is one upstream host in Envoy's /clusters.
type HostStatus struct {
	Cluster string
	// Address is a socket path (pipe) or IP:PORT.
	Address  string
	Hostname string
	// Stats are the host's counters and gauges: cx_total, cx_active,
	// cx_connect_fail, rq_total, rq_active, rq_success, rq_error,
	// rq_timeout.
	Stats map[string]uint64
	// Flags are the health flags in the text form's names
	// (failed_active_hc, eds_status_draining, ...); none means healthy.
	Flags []string
}

// ParseClustersText reads the text form of /clusters:
// "<cluster>::<host>::<stat>::<value>" per line. Cluster-wide lines
// (outlier, circuit breakers, added_via_api) are skipped.
func ParseClustersText(r io.Reader) ([]HostStatus, error) {
	var hosts []HostStatus
	index := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		cluster, rest, ok := strings.Cut(line, "::")
		if !ok {
			continue
		}
		// The host may hold "::" itself ([::1]:80), the stat and value
		// never do: split those off the right.
		i := strings.LastIndex(rest, "::")
		if i < 0 {
			continue
		}
		value := rest[i+2:]
		j := strings.LastIndex(rest[:i], "::")
		if j < 0 {
			continue // cluster::key::value
		}
		host, stat := rest[:j], rest[j+2:i]
		switch host {
		case "outlier", "default_priority", "high_priority":
			continue
		}
		key := cluster + "\x00" + host
		k, seen := index[key]
		if !seen {
			k = len(hosts)
			index[key] = k
			hosts = append(hosts, HostStatus{Cluster: cluster, Address: host, Stats: map[string]uint64{}})
		}
		h := &hosts[k]
		switch stat {
		case "hostname":
			h.Hostname = value
		case "health_flags":
			if value != "healthy" {
				for _, f := range strings.Split(value, "/") {
					if f != "" {
						h.Flags = append(h.Flags, f)
					}
				}
			}
		default:
			if n, err := strconv.ParseUint(value, 10, 64); err == nil && (strings.HasPrefix(stat, "cx_") || strings.HasPrefix(stat, "rq_")) {
				h.Stats[stat] = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("clusters: %v", err)
	}
	return hosts, nil
}

// flexUint is a uint64 that Envoy writes as a number or, in proto JSON,
// as a string.
type flexUint uint64

func (u *flexUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	*u = flexUint(f)
	return nil
}

type jsonAddress struct {
	Pipe *struct {
		Path string `json:"path"`
		// The chunked JSON renderer of recent Envoy writes the path
		// under "pipe" rather than the proto's "path".
		Pipe string `json:"pipe"`
	} `json:"pipe"`
	SocketAddress *struct {
		Address   string   `json:"address"`
		PortValue flexUint `json:"port_value"`
	} `json:"socket_address"`
}

func (a jsonAddress) String() string {
	switch {
	case a.Pipe != nil && a.Pipe.Path != "":
		return a.Pipe.Path
	case a.Pipe != nil:
		return a.Pipe.Pipe
	case a.SocketAddress != nil:
		return net.JoinHostPort(a.SocketAddress.Address, strconv.FormatUint(uint64(a.SocketAddress.PortValue), 10))
	}
	return ""
}

// jsonHealthFlags maps /clusters?format=json health_status keys to the
// names the text form uses.
var jsonHealthFlags = map[string]string{
	"failed_active_health_check":        "failed_active_hc",
	"failed_outlier_check":              "failed_outlier_check",
	"failed_active_degraded_check":      "degraded_active_hc",
	"pending_dynamic_removal":           "pending_dynamic_removal",
	"pending_active_hc":                 "pending_active_hc",
	"excluded_via_immediate_hc_fail":    "excluded_via_immediate_hc_fail",
	"active_hc_timeout":                 "active_hc_timeout",
	"failed_degraded_outlier_detection": "degraded_outlier_detection",
}

// ParseClustersJSON reads /clusters?format=json, in proto JSON (numbers
// as strings, default values left out) or the chunked renderer's shape.
func ParseClustersJSON(r io.Reader) ([]HostStatus, error) {
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				Address jsonAddress `json:"address"`
				Stats   []struct {
					Name  string   `json:"name"`
					Value flexUint `json:"value"`
				} `json:"stats"`
				HealthStatus map[string]json.RawMessage `json:"health_status"`
				Hostname     string                     `json:"hostname"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("clusters: not Envoy's JSON clusters: %v", err)
	}
	var hosts []HostStatus
	for _, c := range doc.ClusterStatuses {
		for _, hs := range c.HostStatuses {
			h := HostStatus{Cluster: c.Name, Address: hs.Address.String(), Hostname: hs.Hostname, Stats: map[string]uint64{}}
			for _, s := range hs.Stats {
				h.Stats[s.Name] = uint64(s.Value)
			}
			for k, v := range hs.HealthStatus {
				if k == "eds_health_status" {
					var st string
					_ = json.Unmarshal(v, &st)
					switch st {
					case "DRAINING":
						h.Flags = append(h.Flags, "eds_status_draining")
					case "UNHEALTHY", "TIMEOUT":
						h.Flags = append(h.Flags, "failed_eds_health")
					case "DEGRADED":
						h.Flags = append(h.Flags, "degraded_eds_health")
					}
					continue
				}
				var on bool
				if json.Unmarshal(v, &on) == nil && on && jsonHealthFlags[k] != "" {
					h.Flags = append(h.Flags, jsonHealthFlags[k])
				}
			}
			sort.Strings(h.Flags)
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// Draining reports whether Envoy has applied a DRAINING status from EDS
// to the host. Envoy before 1.31 shows a draining host as failed_eds_health.
func (h *HostStatus) Draining() bool {
	return h.hasFlag("eds_status_draining") || h.hasFlag("failed_eds_health")
}

// Health is the host's verdict in the stats model's terms.
func (h *HostStatus) Health() string {
	switch {
	case h.hasFlag("eds_status_draining"):
		return stats.HealthDraining
	case h.hasFlag("failed_active_hc") || h.hasFlag("failed_outlier_check") || h.hasFlag("failed_eds_health") || h.hasFlag("active_hc_timeout"):
		return stats.HealthUnhealthy
	case h.hasFlag("pending_active_hc") || h.hasFlag("excluded_via_immediate_hc_fail"):
		return stats.HealthUnknown
	}
	return stats.HealthHealthy
}

// PassedActiveCheck reports whether the host is in service as far as
// active health checking goes: checked at least once, and passing.
func (h *HostStatus) PassedActiveCheck() bool {
	return !h.hasFlag("failed_active_hc") && !h.hasFlag("pending_active_hc") && !h.hasFlag("active_hc_timeout") && !h.hasFlag("excluded_via_immediate_hc_fail")
}

func (h *HostStatus) hasFlag(f string) bool {
	for _, x := range h.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// ServerInfo is the part of /server_info whisgee reads.
type ServerInfo struct {
	// Version is Envoy's build string, e.g. "<sha>/1.39.1/Clean/RELEASE/BoringSSL".
	Version string `json:"version"`
	// State is LIVE, DRAINING, PRE_INITIALIZING or INITIALIZING.
	State              string `json:"state"`
	UptimeCurrentEpoch string `json:"uptime_current_epoch"`
	UptimeAllEpochs    string `json:"uptime_all_epochs"`
	CommandLineOptions struct {
		RestartEpoch flexUint `json:"restart_epoch"`
		BaseID       flexUint `json:"base_id"`
		ConfigPath   string   `json:"config_path"`
	} `json:"command_line_options"`
}

// ParseServerInfo reads /server_info.
func ParseServerInfo(r io.Reader) (*ServerInfo, error) {
	var si ServerInfo
	if err := json.NewDecoder(r).Decode(&si); err != nil {
		return nil, fmt.Errorf("server_info: not Envoy's server info: %v", err)
	}
	return &si, nil
}
