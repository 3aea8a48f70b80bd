package envoy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/stats"
)

func openFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseStatsPlainQuantilesWithNulls(t *testing.T) {
	d, err := ParseStats(openFixture(t, "stats_plain.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Values["cluster.wsgi.upstream_rq_2xx"] != 950 || d.Texts["server.version"] != "1.39.1" {
		t.Fatalf("values: %v texts: %v", d.Values["cluster.wsgi.upstream_rq_2xx"], d.Texts)
	}
	up := d.Histograms["cluster.wsgi.upstream_rq_time"]
	want := stats.Quantiles{P50: 3.1, P95: 14, P99: 42, P999: 99, Max: 250}
	if up.Cumulative != want {
		t.Fatalf("cumulative = %+v, want %+v", up.Cumulative, want)
	}
	if up.Interval.P50 != 3.05 || up.Interval.P999 != 95 || up.Interval.Max != 120 {
		t.Fatalf("interval = %+v", up.Interval)
	}
	// null interval values (no samples since the last flush) read as 0.
	if dn := d.Histograms["http.ingress_http.downstream_rq_time"]; dn.Interval != (stats.Quantiles{}) || dn.Cumulative.P99 != 44 {
		t.Fatalf("downstream = %+v", dn)
	}
}

func TestParseStatsDetailedGivesCountsAndMeans(t *testing.T) {
	d, err := ParseStats(openFixture(t, "stats_detailed.json"))
	if err != nil {
		t.Fatal(err)
	}
	h := d.Histograms["http.ingress_https.downstream_rq_time"]
	if h.Cumulative.Count != 34 || h.Interval.Count != 5 {
		t.Fatalf("counts = %d/%d, want 34/5", h.Cumulative.Count, h.Interval.Count)
	}
	// 25 samples around 1.125 and 9 around 2.125.
	if m := h.Cumulative.Mean; m < 1.38 || m > 1.40 {
		t.Fatalf("mean = %v", m)
	}
	if h.Cumulative.P50 != 1.0703703703703704 || h.Cumulative.Max != 2.1 {
		t.Fatalf("quantiles = %+v", h.Cumulative)
	}
}

func TestParseStatsRejectsWhatIsNotEnvoy(t *testing.T) {
	if _, err := ParseStats(strings.NewReader("<html>nginx</html>")); err == nil || !strings.Contains(err.Error(), "not Envoy's JSON stats") {
		t.Fatalf("err = %v", err)
	}
}

// wantHosts is what every /clusters fixture says about cluster wsgi.
func snapshotOfHosts(hosts []HostStatus) *stats.Snapshot {
	return SnapshotFrom(nil, hosts, nil, "/run/whisgee", 0, time.Now())
}

func checkFixtureHosts(t *testing.T, hosts []HostStatus) {
	t.Helper()
	byAddr := map[string]HostStatus{}
	for _, h := range hosts {
		if h.Cluster == ClusterName {
			byAddr[h.Address] = h
		}
	}
	if len(byAddr) != 4 {
		t.Fatalf("wsgi hosts = %v", hosts)
	}
	w0 := byAddr["/run/whisgee/worker-0.sock"]
	if w0.Hostname != "worker-0" || w0.Stats["rq_active"] != 1 || w0.Stats["rq_total"] != 504 || w0.Stats["cx_active"] != 2 || len(w0.Flags) != 0 {
		t.Fatalf("worker-0 = %+v", w0)
	}
	w1 := byAddr["/run/whisgee/worker-1.sock"]
	if !reflect.DeepEqual(w1.Flags, []string{"failed_active_hc", "failed_outlier_check"}) || w1.Health() != stats.HealthUnhealthy || w1.PassedActiveCheck() {
		t.Fatalf("worker-1 flags = %q", w1.Flags)
	}
	// Per-host failures Envoy counts (host stats in every shape): timeouts
	// become the host's Errors, failed connects its CxConnectFail.
	if s := snapshotOfHosts(hosts).HostByAddress("/run/whisgee/worker-1.sock"); s.Errors != 1 || s.CxConnectFail != 4 || s.Requests != 9 {
		t.Fatalf("worker-1 in the model = %+v", s)
	}
	w2 := byAddr["/run/whisgee/worker-2.sock"]
	if !w2.Draining() || w2.Health() != stats.HealthDraining || w2.Stats["rq_active"] != 2 {
		t.Fatalf("worker-2 = %+v", w2)
	}
	v6 := byAddr["[::1]:9000"]
	if v6.Health() != stats.HealthUnknown || v6.Stats["rq_total"] != 5 {
		t.Fatalf("[::1]:9000 = %+v", v6)
	}
}

func TestParseClustersInEveryShape(t *testing.T) {
	for _, tc := range []struct {
		file  string
		parse func(io.Reader) ([]HostStatus, error)
	}{
		{"clusters.txt", ParseClustersText},
		{"clusters_proto.json", ParseClustersJSON},
		{"clusters_chunked.json", ParseClustersJSON},
	} {
		t.Run(tc.file, func(t *testing.T) {
			hosts, err := tc.parse(openFixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			checkFixtureHosts(t, hosts)
		})
	}
}

func TestSnapshotFromFixtures(t *testing.T) {
	d, err := ParseStats(openFixture(t, "stats_plain.json"))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := ParseClustersText(openFixture(t, "clusters.txt"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseServerInfo(openFixture(t, "server_info.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s := SnapshotFrom(d, hosts, info, "/run/whisgee", 0, now)

	if s.Engine != "envoy" || s.Version != "1.39.1" || !s.StartedAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("header = %q %q %v", s.Engine, s.Version, s.StartedAt)
	}
	if len(s.Listeners) != 1 {
		t.Fatalf("listeners = %+v", s.Listeners)
	}
	l := s.Listeners[0]
	if l.Name != "http" || l.Requests != 1008 || l.Active != 3 || l.Classes != [5]uint64{0, 950, 0, 30, 28} ||
		l.CxActive != 7 || l.CxTotal != 70 || l.BytesIn != 70000 || l.BytesOut != 140000 || l.Latency.Cumulative.P99 != 44 || l.Latency.Window != 5*time.Second {
		t.Fatalf("listener = %+v", l)
	}
	// 2 connections refused at the limit + 3 streams reset towards the
	// client; the client's own resets, protocol errors and timeouts
	// (40 + 6 + 1 + 9) are not failures of the stack.
	if l.Errors != 5 {
		t.Fatalf("listener errors = %d, want 5", l.Errors)
	}
	c := s.Cluster
	if c.Name != "wsgi" || c.Requests != 1000 || c.CxConnectFail != 0 || c.Retries != 4 || c.Errors != 8 || c.Active != 3 || c.BytesIn != 123456 || c.Latency.Interval.P95 != 12.5 {
		t.Fatalf("cluster = %+v", c)
	}
	if len(s.Hosts) != 4 {
		t.Fatalf("hosts = %+v", s.Hosts)
	}
	h0 := s.HostByAddress("/run/whisgee/worker-0.sock")
	if h0 == nil || h0.WorkerID != 0 || h0.Name != "worker-0" || h0.Health != stats.HealthHealthy || h0.Requests != 503 || h0.Active != 1 || h0.Classes[4] != 3 {
		t.Fatalf("worker-0 = %+v", h0)
	}
	if h1 := s.HostByAddress("/run/whisgee/worker-1.sock"); h1.WorkerID != 1 || h1.Errors != 1 || h1.CxConnectFail != 4 || h1.Requests != 9 || h1.Health != stats.HealthUnhealthy {
		t.Fatalf("worker-1 = %+v", h1)
	}
	if h := s.HostByAddress("[::1]:9000"); h.WorkerID != -1 || h.Name != "[::1]:9000" {
		t.Fatalf("foreign host = %+v", h)
	}
	// A socket outside the run directory is not one of our workers.
	if got := WorkerIDFromAddress("/elsewhere/worker-3.sock", "/run/whisgee"); got != -1 {
		t.Fatalf("worker id of a foreign socket = %d", got)
	}
}

// adminFixtureServer serves the fixtures as Envoy's admin API would.
func adminFixtureServer(t *testing.T, ready int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := map[string]string{"/stats": "stats_detailed.json", "/clusters": "clusters_chunked.json", "/server_info": "server_info.json"}[r.URL.Path]
		switch {
		case r.URL.Path == "/ready":
			w.WriteHeader(ready)
			if ready == http.StatusOK {
				fmt.Fprintln(w, "LIVE")
			} else {
				fmt.Fprintln(w, "PRE_INITIALIZING")
			}
		case file != "":
			if r.URL.Path == "/stats" && (r.URL.Query().Get("format") != "json" || r.URL.Query().Get("histogram_buckets") != "detailed") {
				http.Error(w, "want format=json", http.StatusBadRequest)
				return
			}
			data, _ := os.ReadFile(filepath.Join("testdata", file))
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAdminReadsALiveEndpoint(t *testing.T) {
	srv := adminFixtureServer(t, http.StatusOK)
	a := &Admin{URL: srv.URL, RunDir: "/run/whisgee"}
	ctx := context.Background()
	if st, err := a.Ready(ctx); err != nil || st != "LIVE" {
		t.Fatalf("ready = %q, %v", st, err)
	}
	s, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Listeners) != 1 || s.Listeners[0].Name != "https" || s.Listeners[0].Requests != 36 || s.Listeners[0].Latency.Cumulative.Count != 34 {
		t.Fatalf("listeners = %+v", s.Listeners)
	}
	if s.Version != "1.39.1" || len(s.Hosts) != 4 || s.HostByAddress("/run/whisgee/worker-2.sock").Health != stats.HealthDraining {
		t.Fatalf("snapshot = %+v", s)
	}

	notReady := adminFixtureServer(t, http.StatusServiceUnavailable)
	if st, err := (&Admin{URL: notReady.URL}).Ready(ctx); err == nil || st != "PRE_INITIALIZING" {
		t.Fatalf("not ready = %q, %v", st, err)
	}
}

func TestAdminUnreachableSaysWhatToCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	_, err = (&Admin{URL: url}).Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "is Envoy running") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkAdminParse measures one dashboard refresh's parsing: /stats
// and /clusters of a 64-worker stack, into a Snapshot.
func BenchmarkAdminParse(b *testing.B) {
	statsJSON, _ := os.ReadFile(filepath.Join("testdata", "stats_plain.json"))
	var clusters strings.Builder
	for i := 0; i < 64; i++ {
		for _, st := range []string{"cx_active::1", "cx_total::10", "rq_active::2", "rq_error::1", "rq_success::99", "rq_total::102", "hostname::w", "health_flags::healthy"} {
			fmt.Fprintf(&clusters, "wsgi::/run/whisgee/worker-%d.sock::%s\n", i, st)
		}
	}
	text := clusters.String()
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := ParseStats(strings.NewReader(string(statsJSON)))
		if err != nil {
			b.Fatal(err)
		}
		hosts, err := ParseClustersText(strings.NewReader(text))
		if err != nil || len(hosts) != 64 {
			b.Fatal(err)
		}
		SnapshotFrom(d, hosts, nil, "/run/whisgee", 0, now)
	}
}
