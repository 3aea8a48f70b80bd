package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/stats"
)

func sampleSnapshot() *stats.Snapshot {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lat := stats.Latency{
		Window:     5 * time.Second,
		Interval:   stats.Quantiles{Count: 10, P50: 1.5, P95: 3, P99: 4, P999: 4.5, Max: 5, Mean: 1.8},
		Cumulative: stats.Quantiles{Count: 12, P50: 1.25, P95: 2.5, P99: 3.5, P999: 4, Max: 6, Mean: 1.6},
	}
	return &stats.Snapshot{
		Time: start.Add(90 * time.Second), Engine: "builtin", StartedAt: start,
		Listeners: []stats.Endpoint{
			{Name: "http", Requests: 12, Classes: [5]uint64{0, 10, 0, 2, 0}, Active: 1, CxActive: 3, CxTotal: 4, BytesIn: 100, BytesOut: 200, Latency: lat},
			{Name: "https", Requests: 1, Classes: [5]uint64{0, 1, 0, 0, 0}, CxTotal: 1},
		},
		Cluster: stats.Endpoint{Name: "wsgi", Requests: 12, Classes: [5]uint64{0, 9, 0, 2, 1}, Retries: 2, CxActive: 2, CxTotal: 5, CxConnectFail: 1, Latency: lat},
		Hosts: []stats.Host{
			{Endpoint: stats.Endpoint{Name: "worker-0", Address: "/run/wg/worker-0.sock", Requests: 7, Classes: [5]uint64{0, 6, 0, 0, 1}, Errors: 1, CxActive: 1, CxTotal: 3}, WorkerID: 0, Health: stats.HealthHealthy},
			{Endpoint: stats.Endpoint{Name: "worker-1", Address: "/run/wg/worker-1.sock", Requests: 5}, WorkerID: 1, Health: stats.HealthUnhealthy, HealthFlags: []string{"failed_active_hc"}},
			{Endpoint: stats.Endpoint{Name: "worker-2", Address: "127.0.0.1:8002"}, WorkerID: 2, Health: stats.HealthDraining, HealthFlags: []string{"eds_status_draining"}},
		},
	}
}

// envoyStats is Envoy's /stats?format=json, as a reader would parse it.
type envoyStats struct {
	Stats []struct {
		Name       string  `json:"name"`
		Value      *uint64 `json:"value"`
		Histograms *struct {
			SupportedQuantiles []float64 `json:"supported_quantiles"`
			ComputedQuantiles  []struct {
				Name   string `json:"name"`
				Values []struct {
					Interval   *float64 `json:"interval"`
					Cumulative *float64 `json:"cumulative"`
				} `json:"values"`
			} `json:"computed_quantiles"`
		} `json:"histograms"`
	} `json:"stats"`
}

func TestStatsJSONIsEnvoysShape(t *testing.T) {
	var doc envoyStats
	if err := json.Unmarshal(StatsJSON(sampleSnapshot(), StatsOptions{}), &doc); err != nil {
		t.Fatal(err)
	}
	values := map[string]uint64{}
	for _, s := range doc.Stats[:len(doc.Stats)-1] {
		if s.Value == nil || s.Histograms != nil {
			t.Fatalf("stat %+v: want name and value only, histograms last", s)
		}
		values[s.Name] = *s.Value
	}
	want := map[string]uint64{
		"http.ingress_http.downstream_rq_total":  12,
		"http.ingress_http.downstream_rq_2xx":    10,
		"http.ingress_http.downstream_rq_4xx":    2,
		"http.ingress_http.downstream_rq_active": 1,
		"http.ingress_http.downstream_cx_active": 3,
		"http.ingress_http.downstream_cx_total":  4,
		"http.ingress_https.downstream_rq_total": 1,
		"cluster.wsgi.upstream_rq_total":         12,
		"cluster.wsgi.upstream_rq_5xx":           1,
		"cluster.wsgi.upstream_rq_retry":         2,
		"cluster.wsgi.upstream_cx_connect_fail":  1,
		"cluster.wsgi.upstream_cx_total":         5,
		"cluster.wsgi.membership_healthy":        1,
		"cluster.wsgi.membership_total":          3,
		"server.uptime":                          90,
	}
	for name, v := range want {
		if got, ok := values[name]; !ok || got != v {
			t.Errorf("%s = %d (present %v), want %d", name, got, ok, v)
		}
	}
	h := doc.Stats[len(doc.Stats)-1].Histograms
	if h == nil || len(h.SupportedQuantiles) != 10 || h.SupportedQuantiles[2] != 50 || h.SupportedQuantiles[8] != 99.9 {
		t.Fatalf("histograms element %+v", h)
	}
	found := false
	for _, cq := range h.ComputedQuantiles {
		if cq.Name != "cluster.wsgi.upstream_rq_time" {
			continue
		}
		found = true
		if len(cq.Values) != 10 {
			t.Fatalf("%d values, want one per supported quantile", len(cq.Values))
		}
		p50, p99, p0 := cq.Values[2], cq.Values[6], cq.Values[0]
		if *p50.Interval != 1.5 || *p50.Cumulative != 1.25 || *p99.Cumulative != 3.5 {
			t.Fatalf("p50 %v/%v p99 %v", *p50.Interval, *p50.Cumulative, *p99.Cumulative)
		}
		if p0.Interval != nil || p0.Cumulative != nil {
			t.Fatal("P0 is not kept by the model: want null, not a made-up number")
		}
	}
	if !found {
		t.Fatal("no cluster.wsgi.upstream_rq_time histogram")
	}
}

func TestStatsTextAndPrometheusSummariesWithoutBuckets(t *testing.T) {
	s := sampleSnapshot()
	text := string(StatsText(s, StatsOptions{}))
	for _, line := range []string{
		"cluster.wsgi.upstream_rq_2xx: 9\n",
		"http.ingress_http.downstream_rq_total: 12\n",
		"cluster.wsgi.upstream_rq_time: P0(nan,nan) P25(nan,nan) P50(1.5,1.25) P75(nan,nan) P90(nan,nan) P95(3,2.5) P99(4,3.5) P99.5(nan,nan) P99.9(4.5,4) P100(5,6)\n",
		"http.ingress_https.downstream_rq_time: No recorded values\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("text /stats lacks %q:\n%s", line, text)
		}
	}
	// sampleSnapshot's latencies have quantiles but no buckets (as a
	// source that keeps only quantiles gives): summaries, not made-up buckets.
	prom := string(Prometheus(s, nil))
	for _, line := range []string{
		"# TYPE envoy_cluster_upstream_rq_xx counter\n",
		`envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="wsgi"} 9` + "\n",
		`envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_http"} 12` + "\n",
		"# TYPE envoy_cluster_membership_healthy gauge\n",
		"# TYPE envoy_cluster_upstream_rq_time summary\n",
		`envoy_cluster_upstream_rq_time{envoy_cluster_name="wsgi",quantile="0.99"} 3.5` + "\n",
		`envoy_cluster_upstream_rq_time_count{envoy_cluster_name="wsgi"} 12` + "\n",
	} {
		if !strings.Contains(prom, line) {
			t.Errorf("prometheus lacks %q", line)
		}
	}
	if strings.Count(prom, "# TYPE envoy_cluster_upstream_rq_xx ") != 1 {
		t.Error("a metric family's TYPE line must appear once")
	}
}

func TestClustersTextAndJSON(t *testing.T) {
	s := sampleSnapshot()
	text := string(ClustersText(s))
	for _, line := range []string{
		"wsgi::/run/wg/worker-0.sock::health_flags::healthy\n",
		"wsgi::/run/wg/worker-0.sock::rq_total::7\n",
		"wsgi::/run/wg/worker-0.sock::rq_error::2\n",
		"wsgi::/run/wg/worker-0.sock::cx_active::1\n",
		"wsgi::/run/wg/worker-1.sock::health_flags::/failed_active_hc\n",
		"wsgi::127.0.0.1:8002::health_flags::/eds_status_draining\n",
		"wsgi::added_via_api::false\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("/clusters lacks %q", line)
		}
	}
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				Address struct {
					Pipe          *struct{ Path string } `json:"pipe"`
					SocketAddress *struct {
						Address   string `json:"address"`
						PortValue int    `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
				Stats []struct {
					Type  string `json:"type"`
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"stats"`
				HealthStatus map[string]any `json:"health_status"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.Unmarshal(ClustersJSON(s), &doc); err != nil {
		t.Fatal(err)
	}
	hs := doc.ClusterStatuses[0].HostStatuses
	if doc.ClusterStatuses[0].Name != "wsgi" || len(hs) != 3 {
		t.Fatalf("clusters %+v", doc)
	}
	if hs[0].Address.Pipe == nil || hs[0].Address.Pipe.Path != "/run/wg/worker-0.sock" {
		t.Fatalf("host 0 address %+v", hs[0].Address)
	}
	if hs[2].Address.SocketAddress == nil || hs[2].Address.SocketAddress.PortValue != 8002 {
		t.Fatalf("host 2 address %+v", hs[2].Address)
	}
	for _, st := range hs[0].Stats {
		if st.Name == "rq_total" && st.Value != "7" {
			t.Fatalf("rq_total %q, want \"7\" (proto3 JSON uint64)", st.Value)
		}
		if st.Name == "cx_active" && st.Type != "GAUGE" {
			t.Fatalf("cx_active type %q", st.Type)
		}
	}
	if hs[1].HealthStatus["failed_active_health_check"] != true || hs[2].HealthStatus["eds_health_status"] != "DRAINING" || hs[0].HealthStatus["eds_health_status"] != "HEALTHY" {
		t.Fatalf("health statuses %v / %v / %v", hs[0].HealthStatus, hs[1].HealthStatus, hs[2].HealthStatus)
	}
}

func TestHandlerServesEnvoyEndpoints(t *testing.T) {
	url, fetch := serve(t, sampleSnapshot(), Info{Version: "1.2.3", StartedAt: time.Now().Add(-time.Minute)})
	if code, body := fetch("/ready"); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready: %d %q", code, body)
	}
	code, body := fetch("/server_info")
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 || info["state"] != "LIVE" || info["version"] != "whisgee-builtin/1.2.3" || info["uptime_current_epoch"] != "60s" {
		t.Fatalf("/server_info: %d %s", code, body)
	}
	code, body = fetch("/stats?format=json&filter=upstream_rq_total")
	var doc envoyStats
	if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 {
		t.Fatalf("filtered json: %d %s", code, body)
	}
	if len(doc.Stats) != 2 || doc.Stats[0].Name != "cluster.wsgi.upstream_rq_total" || doc.Stats[1].Histograms == nil {
		t.Fatalf("filtered json: %s", body)
	}
	if code, body = fetch("/stats?filter=retry"); body != "cluster.wsgi.upstream_rq_retry: 2\n" {
		t.Fatalf("filtered text: %d %q", code, body)
	}
	if code, _ = fetch("/stats/prometheus"); code != 200 {
		t.Fatalf("/stats/prometheus: %d", code)
	}
	if code, body = fetch("/clusters?format=json"); code != 200 || !strings.Contains(body, `"cluster_statuses"`) {
		t.Fatalf("/clusters?format=json: %d", code)
	}
	if code, _ = fetch("/stats?format=xml"); code != 400 {
		t.Fatalf("unknown format: %d, want 400", code)
	}
	if code, _ = fetch("/stats?filter=("); code != 400 {
		t.Fatalf("bad filter: %d, want 400", code)
	}
	resp, err := http.Post(url+"/stats", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("POST /stats: %d, want 405 (nothing mutates)", resp.StatusCode)
	}
}
