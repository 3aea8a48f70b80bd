package envoy

import (
	"bytes"
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/whisgee/whisgee/proxyctl/admin"
	"github.com/whisgee/whisgee/stats"
)

// builtinSnapshot is what the built-in proxy might hold: two listeners,
// three workers in three health states, latencies with samples and the
// buckets they came from (the built-in's snapshots always have them).
func builtinSnapshot(now time.Time) *stats.Snapshot {
	lat := func(base float64) stats.Latency {
		q := stats.Quantiles{Count: 100, P50: base, P95: base * 3, P99: base * 5, P999: base * 9, Mean: base * 1.2, Max: base * 20}
		bs := []stats.Bucket{{LowerBound: base, Width: base / 32, Count: 90}, {LowerBound: base * 16, Width: base / 2, Count: 10}}
		return stats.Latency{Window: 10 * time.Second, Interval: q, Cumulative: q, IntervalBuckets: bs, CumulativeBuckets: bs}
	}
	host := func(id int, health string, flags ...string) stats.Host {
		return stats.Host{
			Endpoint: stats.Endpoint{
				Name: "worker-" + string(rune('0'+id)), Address: "/run/whisgee/worker-" + string(rune('0'+id)) + ".sock",
				Requests: uint64(100 * (id + 1)), Classes: [5]uint64{0, uint64(90 * (id + 1)), 0, 0, uint64(id)},
				Errors: 1, Active: int64(id), CxActive: 1, CxTotal: 10, CxConnectFail: uint64(id),
			},
			WorkerID: id, Health: health, HealthFlags: flags,
		}
	}
	return &stats.Snapshot{
		Time: now, Engine: "builtin", StartedAt: now.Add(-90 * time.Second),
		Listeners: []stats.Endpoint{
			{Name: "http", Requests: 600, Classes: [5]uint64{0, 540, 10, 20, 30}, Active: 3, CxActive: 4, CxTotal: 50, BytesIn: 1000, BytesOut: 9000, Latency: lat(2)},
			{Name: "https", Requests: 60, Classes: [5]uint64{0, 60, 0, 0, 0}, CxActive: 1, CxTotal: 5, BytesIn: 100, BytesOut: 900, Latency: lat(4)},
		},
		Cluster: stats.Endpoint{Name: "wsgi", Requests: 600, Classes: [5]uint64{0, 540, 10, 20, 30}, Retries: 7, Active: 3, CxActive: 3, CxTotal: 30, CxConnectFail: 3, BytesIn: 9000, BytesOut: 1000, Latency: lat(1.5)},
		Hosts: []stats.Host{
			host(0, stats.HealthHealthy),
			host(1, stats.HealthUnhealthy, "failed_active_hc"),
			host(2, stats.HealthDraining, "eds_status_draining"),
		},
	}
}

// The reader against the built-in proxy's Envoy-format admin endpoint
// (proxyctl/admin): what the built-in puts in, the reader gets out.
func TestReaderAgainstTheBuiltinProxysAdmin(t *testing.T) {
	now := time.Now()
	want := builtinSnapshot(now)
	srv := httptest.NewServer(admin.Handler(func(context.Context) (*stats.Snapshot, error) { return want, nil }, admin.Info{Version: "dev", StartedAt: want.StartedAt}))
	defer srv.Close()
	a := &Admin{URL: srv.URL, RunDir: "/run/whisgee", FlushInterval: 10 * time.Second}
	ctx := context.Background()
	if st, err := a.Ready(ctx); err != nil || st != "LIVE" {
		t.Fatalf("ready = %q, %v", st, err)
	}
	got, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Engine != "envoy" || got.StartedAt.Sub(want.StartedAt).Abs() > 2*time.Second {
		t.Fatalf("header = %q %v, want started %v", got.Engine, got.StartedAt, want.StartedAt)
	}
	if len(got.Listeners) != 2 {
		t.Fatalf("listeners = %+v", got.Listeners)
	}
	for i, wl := range want.Listeners {
		gl := got.Listeners[i]
		if gl.Name != wl.Name || gl.Requests != wl.Requests || gl.Classes != wl.Classes || gl.Active != wl.Active ||
			gl.CxActive != wl.CxActive || gl.CxTotal != wl.CxTotal || gl.BytesIn != wl.BytesIn || gl.BytesOut != wl.BytesOut {
			t.Errorf("listener %s:\n got %+v\nwant %+v", wl.Name, gl, wl)
		}
		sameQuantiles(t, "listener "+wl.Name, gl.Latency, wl.Latency)
	}
	gc, wc := got.Cluster, want.Cluster
	if gc.Requests != wc.Requests || gc.Classes != wc.Classes || gc.Retries != wc.Retries || gc.Active != wc.Active ||
		gc.CxActive != wc.CxActive || gc.CxTotal != wc.CxTotal || gc.CxConnectFail != wc.CxConnectFail || gc.BytesIn != wc.BytesIn {
		t.Errorf("cluster:\n got %+v\nwant %+v", gc, wc)
	}
	sameQuantiles(t, "cluster", gc.Latency, wc.Latency)
	if len(got.Hosts) != 3 {
		t.Fatalf("hosts = %+v", got.Hosts)
	}
	for _, wh := range want.Hosts {
		gh := got.HostByAddress(wh.Address)
		if gh == nil {
			t.Fatalf("host %s missing", wh.Address)
		}
		// The built-in folds its per-host errors into rq_error, as 5xx.
		if gh.WorkerID != wh.WorkerID || gh.Name != wh.Name || gh.Health != wh.Health || gh.Active != wh.Active ||
			gh.Requests != wh.Requests || gh.CxConnectFail != wh.CxConnectFail || gh.Classes[4] != wh.Classes[4]+wh.Errors {
			t.Errorf("host %s:\n got %+v\nwant %+v", wh.Address, gh, wh)
		}
	}

	// The text form of /clusters says the same about the hosts.
	text, err := ParseClustersText(bytes.NewReader(admin.ClustersText(want)))
	if err != nil {
		t.Fatal(err)
	}
	js, err := ParseClustersJSON(bytes.NewReader(admin.ClustersJSON(want)))
	if err != nil {
		t.Fatal(err)
	}
	if len(text) != 3 || len(js) != 3 {
		t.Fatalf("text %d hosts, json %d", len(text), len(js))
	}
	for i := range text {
		if text[i].Address != js[i].Address || text[i].Health() != js[i].Health() || text[i].Stats["rq_active"] != js[i].Stats["rq_active"] {
			t.Errorf("text %+v\n json %+v", text[i], js[i])
		}
	}
}

func sameQuantiles(t *testing.T, what string, got, want stats.Latency) {
	t.Helper()
	for _, p := range []struct {
		name string
		g, w stats.Quantiles
	}{{"interval", got.Interval, want.Interval}, {"cumulative", got.Cumulative, want.Cumulative}} {
		if p.g.P50 != p.w.P50 || p.g.P95 != p.w.P95 || p.g.P99 != p.w.P99 || p.g.P999 != p.w.P999 || p.g.Max != p.w.Max {
			t.Errorf("%s %s quantiles: got %+v want %+v", what, p.name, p.g, p.w)
		}
	}
	if got.Window != want.Window {
		t.Errorf("%s window %v, want %v", what, got.Window, want.Window)
	}
	// The reader asks for detailed buckets and gets the built-in's own.
	if !reflect.DeepEqual(got.CumulativeBuckets, want.CumulativeBuckets) || !reflect.DeepEqual(got.IntervalBuckets, want.IntervalBuckets) {
		t.Errorf("%s buckets: got %+v / %+v, want %+v", what, got.IntervalBuckets, got.CumulativeBuckets, want.CumulativeBuckets)
	}
	if got.Cumulative.Count != want.Cumulative.Count || got.Interval.Count != want.Interval.Count {
		t.Errorf("%s counts %d/%d, want %d", what, got.Interval.Count, got.Cumulative.Count, want.Cumulative.Count)
	}
}
