package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/whisgee/whisgee/stats"
)

// ClustersJSON renders /clusters?format=json in Envoy's shape
// (envoy.admin.v3.Clusters): uint64 stat values are strings, as proto3
// JSON writes them; gauges carry "type":"GAUGE".
func ClustersJSON(s *stats.Snapshot) []byte {
	type metric struct {
		Type  string `json:"type,omitempty"`
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type hostStatus struct {
		Address      map[string]any    `json:"address"`
		Stats        []metric          `json:"stats"`
		HealthStatus map[string]any    `json:"health_status"`
		Weight       int               `json:"weight"`
		Hostname     string            `json:"hostname,omitempty"`
		Locality     map[string]string `json:"locality"`
	}
	type clusterStatus struct {
		Name              string       `json:"name"`
		AddedViaAPI       bool         `json:"added_via_api"`
		HostStatuses      []hostStatus `json:"host_statuses"`
		ObservabilityName string       `json:"observability_name"`
	}
	cs := clusterStatus{Name: ClusterName, ObservabilityName: ClusterName, HostStatuses: []hostStatus{}}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		hs := hostStatus{
			Address:      addressJSON(h.Address),
			HealthStatus: map[string]any{"eds_health_status": "HEALTHY"},
			Weight:       1,
			Hostname:     h.Name,
			Locality:     map[string]string{},
		}
		for _, st := range hostStats(h) {
			m := metric{Name: st.Name, Value: strconv.FormatUint(st.Value, 10)}
			if st.Gauge {
				m.Type = "GAUGE"
			}
			hs.Stats = append(hs.Stats, m)
		}
		for _, f := range h.HealthFlags {
			switch f {
			case "failed_active_hc":
				hs.HealthStatus["failed_active_health_check"] = true
			case "pending_active_hc":
				hs.HealthStatus["pending_active_hc"] = true
			case "eds_status_draining":
				hs.HealthStatus["eds_health_status"] = "DRAINING"
			default:
				hs.HealthStatus[f] = true
			}
		}
		cs.HostStatuses = append(cs.HostStatuses, hs)
	}
	b, _ := json.Marshal(map[string]any{"cluster_statuses": []clusterStatus{cs}})
	return append(b, '\n')
}

// addressJSON is an envoy.config.core.v3.Address: a pipe for a Unix
// socket path, a socket_address for HOST:PORT.
func addressJSON(addr string) map[string]any {
	if host, port, err := net.SplitHostPort(addr); err == nil && !strings.HasPrefix(addr, "/") {
		p, _ := strconv.Atoi(port)
		return map[string]any{"socket_address": map[string]any{"address": host, "port_value": p}}
	}
	return map[string]any{"pipe": map[string]any{"path": addr}}
}

// Info is what /server_info reports beside the snapshot.
type Info struct {
	// Version is whisgee's version.
	Version string
	// StartedAt is when the proxy started.
	StartedAt time.Time
}

// ServerInfo renders /server_info: Envoy's fields that matter (version,
// state LIVE, uptimes as "Ns" durations), with the version saying the
// engine is whisgee's own.
func ServerInfo(info Info, now time.Time) []byte {
	up := strconv.FormatInt(int64(now.Sub(info.StartedAt).Seconds()), 10) + "s"
	b, _ := json.Marshal(map[string]any{
		"version":              "whisgee-builtin/" + info.Version,
		"state":                "LIVE",
		"hot_restart_version":  "disabled",
		"uptime_current_epoch": up,
		"uptime_all_epochs":    up,
		"node":                 map[string]any{"id": "whisgee", "cluster": "whisgee"},
		"command_line_options": map[string]any{},
	})
	return append(b, '\n')
}

// SnapshotFunc reads the current stats.
type SnapshotFunc func(ctx context.Context) (*stats.Snapshot, error)

// Handler serves the admin endpoint from snapshots taken per request.
// Only GET and HEAD are allowed; Envoy's mutating endpoints do not exist.
func Handler(snap SnapshotFunc, info Info) http.Handler {
	mux := http.NewServeMux()
	read := func(w http.ResponseWriter, r *http.Request) *stats.Snapshot {
		s, err := snap(r.Context())
		if err != nil {
			http.Error(w, "stats unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return nil
		}
		return s
	}
	send := func(w http.ResponseWriter, ctype string, body []byte) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache, max-age=0")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(body)
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s := read(w, r)
		if s == nil {
			return
		}
		filter, err := compileFilter(r.URL.Query().Get("filter"))
		if err != nil {
			http.Error(w, "bad filter: "+err.Error(), http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("format") {
		case "json":
			send(w, "application/json", filterJSON(StatsJSON(s), filter))
		case "prometheus":
			send(w, "text/plain; version=0.0.4", Prometheus(s))
		case "", "text":
			send(w, "text/plain; charset=UTF-8", filterLines(StatsText(s), filter))
		default:
			http.Error(w, "format must be json, prometheus or text", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		if s := read(w, r); s != nil {
			send(w, "text/plain; version=0.0.4", Prometheus(s))
		}
	})
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, r *http.Request) {
		s := read(w, r)
		if s == nil {
			return
		}
		if r.URL.Query().Get("format") == "json" {
			send(w, "application/json", ClustersJSON(s))
			return
		}
		send(w, "text/plain; charset=UTF-8", ClustersText(s))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		send(w, "text/plain; charset=UTF-8", []byte("LIVE\n"))
	})
	mux.HandleFunc("GET /server_info", func(w http.ResponseWriter, r *http.Request) {
		send(w, "application/json", ServerInfo(info, time.Now()))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		send(w, "text/plain; charset=UTF-8", []byte("whisgee admin (Envoy formats):\n  /stats[?format=json|prometheus][&filter=REGEX]\n  /stats/prometheus\n  /clusters[?format=json]\n  /ready\n  /server_info\n"))
	})
	return mux
}

func compileFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile(expr)
}

// filterLines keeps the "name: value" lines whose name matches.
func filterLines(text []byte, re *regexp.Regexp) []byte {
	if re == nil {
		return text
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(text), "\n") {
		name, _, _ := strings.Cut(line, ":")
		if line != "" && re.MatchString(name) {
			b.WriteString(line)
		}
	}
	return []byte(b.String())
}

// filterJSON keeps the stats and histograms whose name matches.
func filterJSON(doc []byte, re *regexp.Regexp) []byte {
	if re == nil {
		return doc
	}
	var d struct {
		Stats []json.RawMessage `json:"stats"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return doc
	}
	var kept []json.RawMessage
	for _, raw := range d.Stats {
		var st struct {
			Name       string `json:"name"`
			Histograms *struct {
				Supported json.RawMessage `json:"supported_quantiles"`
				Computed  []struct {
					Name   string          `json:"name"`
					Values json.RawMessage `json:"values"`
				} `json:"computed_quantiles"`
			} `json:"histograms"`
		}
		json.Unmarshal(raw, &st)
		if st.Histograms != nil {
			h := st.Histograms
			var comp []any
			for _, c := range h.Computed {
				if re.MatchString(c.Name) {
					comp = append(comp, c)
				}
			}
			if comp == nil {
				comp = []any{}
			}
			b, _ := json.Marshal(map[string]any{"histograms": map[string]any{"supported_quantiles": h.Supported, "computed_quantiles": comp}})
			kept = append(kept, b)
			continue
		}
		if re.MatchString(st.Name) {
			kept = append(kept, raw)
		}
	}
	b, _ := json.Marshal(map[string]any{"stats": kept})
	return append(b, '\n')
}
