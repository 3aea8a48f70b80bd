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

// Info is what /server_info and /ready report beside the snapshot.
type Info struct {
	// Version is whisgee's version.
	Version string
	// StartedAt is when the proxy started.
	StartedAt time.Time
	// State is Envoy's server state: "LIVE", or "DRAINING" while the proxy
	// shuts down (then /ready answers 503). If nil, always "LIVE".
	State func() string
}

func (i Info) state() string {
	if i.State == nil {
		return "LIVE"
	}
	return i.State()
}

// ServerInfo renders /server_info: Envoy's fields that matter (version,
// state, uptimes as "Ns" durations), with the version saying the
// engine is whisgee's own.
func ServerInfo(info Info, now time.Time) []byte {
	up := strconv.FormatInt(int64(now.Sub(info.StartedAt).Seconds()), 10) + "s"
	b, _ := json.Marshal(map[string]any{
		"version":              "whisgee-builtin/" + info.Version,
		"state":                info.state(),
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
		// Parameters are checked before the snapshot is taken, as Envoy
		// answers a bad query with 400 whatever the stats.
		q := r.URL.Query()
		filter, err := compileFilter(q.Get("filter"))
		if err != nil {
			http.Error(w, "bad filter: "+err.Error(), http.StatusBadRequest)
			return
		}
		mode, err := ParseBucketMode(q.Get("histogram_buckets"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		format := q.Get("format")
		if format != "" && format != "json" && format != "text" && format != "prometheus" {
			http.Error(w, "usage: /stats?format=(json|prometheus|text)", http.StatusBadRequest)
			return
		}
		s := read(w, r)
		if s == nil {
			return
		}
		o := StatsOptions{Filter: filter, Buckets: mode}
		switch format {
		case "json":
			send(w, "application/json", StatsJSON(s, o))
		case "prometheus":
			send(w, "text/plain; version=0.0.4", Prometheus(s, filter))
		default:
			send(w, "text/plain; charset=UTF-8", StatsText(s, o))
		}
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		filter, err := compileFilter(r.URL.Query().Get("filter"))
		if err != nil {
			http.Error(w, "bad filter: "+err.Error(), http.StatusBadRequest)
			return
		}
		if s := read(w, r); s != nil {
			send(w, "text/plain; version=0.0.4", Prometheus(s, filter))
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
		// As Envoy: 200 LIVE, else 503 with the state's name.
		st := info.state()
		if st != "LIVE" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		send(w, "text/plain; charset=UTF-8", []byte(st+"\n"))
	})
	mux.HandleFunc("GET /server_info", func(w http.ResponseWriter, r *http.Request) {
		send(w, "application/json", ServerInfo(info, time.Now()))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		send(w, "text/plain; charset=UTF-8", []byte("whisgee admin (Envoy formats):\n  /stats[?format=json|prometheus][&filter=REGEX][&histogram_buckets=cumulative|disjoint|detailed]\n  /stats/prometheus\n  /clusters[?format=json]\n  /ready\n  /server_info\n"))
	})
	return mux
}

func compileFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile(expr)
}
