package builtin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/whisgee/whisgee/config"
)

// adminStats fetches /stats?format=json and returns counters by name and
// the cumulative p50 of each histogram, read the way a reader of Envoy's
// admin API reads them.
func adminStats(t *testing.T, addr string) (map[string]uint64, map[string]*float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/stats?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Stats []struct {
			Name       string  `json:"name"`
			Value      *uint64 `json:"value"`
			Histograms *struct {
				SupportedQuantiles []float64 `json:"supported_quantiles"`
				ComputedQuantiles  []struct {
					Name   string `json:"name"`
					Values []struct {
						Cumulative *float64 `json:"cumulative"`
					} `json:"values"`
				} `json:"computed_quantiles"`
			} `json:"histograms"`
		} `json:"stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	counters := map[string]uint64{}
	p50 := map[string]*float64{}
	for _, s := range doc.Stats {
		if s.Histograms != nil {
			at := -1
			for i, q := range s.Histograms.SupportedQuantiles {
				if q == 50 {
					at = i
				}
			}
			for _, cq := range s.Histograms.ComputedQuantiles {
				p50[cq.Name] = cq.Values[at].Cumulative
			}
			continue
		}
		counters[s.Name] = *s.Value
	}
	return counters, p50
}

func TestAdminCountersEqualRequestsSent(t *testing.T) {
	dir := sockDir(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok")
	})
	up0 := startGoUpstream(t, dir, 0, h)
	up1 := startGoUpstream(t, dir, 1, h)
	p := startProxy(t, testConfig(t, ""), Options{}, up0.backend, up1.backend)
	c := client()
	const ok, missing = 30, 7
	for i := 0; i < ok+missing; i++ {
		path := "/"
		if i < missing {
			path = "/missing"
		}
		get(t, c, "http://"+p.Addr("http")+path)
	}
	admin := p.Addr("admin")
	var counters map[string]uint64
	var p50 map[string]*float64
	// A listener counts a request just after its response goes out.
	waitFor(t, "counters to settle", 5*time.Second, func() bool {
		counters, p50 = adminStats(t, admin)
		return counters["http.ingress_http.downstream_rq_total"] == ok+missing
	})
	want := map[string]uint64{
		"http.ingress_http.downstream_rq_2xx":   ok,
		"http.ingress_http.downstream_rq_4xx":   missing,
		"http.ingress_http.downstream_rq_5xx":   0,
		"cluster.wsgi.upstream_rq_total":        ok + missing,
		"cluster.wsgi.upstream_rq_2xx":          ok,
		"cluster.wsgi.upstream_rq_4xx":          missing,
		"cluster.wsgi.membership_healthy":       2,
		"cluster.wsgi.membership_total":         2,
		"http.ingress_http.downstream_cx_total": 1,
	}
	for name, v := range want {
		if counters[name] != v {
			t.Errorf("%s = %d, want %d", name, counters[name], v)
		}
	}
	for _, name := range []string{"cluster.wsgi.upstream_rq_time", "http.ingress_http.downstream_rq_time"} {
		if v := p50[name]; v == nil || *v <= 0 {
			t.Errorf("%s p50 = %v, want a positive latency", name, v)
		}
	}
	checkPrometheus(t, admin, ok+missing)
	// /clusters: one host per worker, their requests adding up.
	resp, err := http.Get("http://" + admin + "/clusters")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		var n int
		if strings.Contains(line, "::rq_total::") {
			f := strings.Split(line, "::")
			if _, err := fmt.Sscan(f[len(f)-1], &n); err != nil {
				t.Fatalf("line %q", line)
			}
			total += n
		}
	}
	if total != ok+missing || !strings.Contains(string(body), "wsgi::"+up0.backend.Address+"::health_flags::healthy") {
		t.Fatalf("/clusters sums to %d requests, want %d:\n%s", total, ok+missing, body)
	}
	if resp, err := http.Get("http://" + admin + "/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ready: %v %v", resp, err)
	}
}

func TestAdminRefusesANonLoopbackAddress(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Proxy.Admin = "0.0.0.0:0" // config.Load refuses this; New's caller may not have used it
	p, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "loopback") {
		p.Close(t.Context())
		t.Fatalf("Start with admin on 0.0.0.0: %v, want a loopback error", err)
	}
	if p.Addr("http") != "" {
		t.Fatal("a failed Start left a listener open")
	}
}

func TestTLSListenerWithASelfSignedCertificate(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	cfg.Proxy.TLS = config.TLS{Listen: "127.0.0.1:0", SelfSigned: true}
	cfg.Proxy.ReadHeaderTimeout = 300 * time.Millisecond // also bounds the handshake
	tlsDir := filepath.Join(dir, "tls")
	p := startProxy(t, cfg, Options{TLSDir: tlsDir}, up.backend)

	pem, err := os.ReadFile(filepath.Join(tlsDir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	for i := 0; i < 3; i++ {
		resp, body := get(t, c, "https://"+p.Addr("https")+"/secure")
		if body != "w0 /secure 0" || resp.Header.Get("X-Got-XFP") != "https" {
			t.Fatalf("over TLS: %q, X-Forwarded-Proto %q", body, resp.Header.Get("X-Got-XFP"))
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("TLS state %+v", resp.TLS)
		}
		if i == 1 {
			// Outlive the handshake's deadline on the same connection.
			time.Sleep(500 * time.Millisecond)
		}
	}
	s, _ := p.Snapshot(t.Context())
	for _, l := range s.Listeners {
		if l.Name == "https" && l.CxTotal != 1 {
			t.Fatalf("%d TLS connections for 3 keep-alive requests, want 1", l.CxTotal)
		}
	}
	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}, Timeout: 5 * time.Second}
	if resp, err := old.Get("https://" + p.Addr("https") + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	waitFor(t, "3 requests counted on the https listener", 5*time.Second, func() bool {
		counters, _ := adminStats(t, p.Addr("admin"))
		return counters["http.ingress_https.downstream_rq_total"] == 3
	})
}

// checkPrometheus reads the live /stats/prometheus with the Prometheus
// project's parser and checks the cluster's latency histogram holds the
// requests sent, in Envoy's buckets, cumulative up to +Inf.
func checkPrometheus(t *testing.T, admin string, requests uint64) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/stats/prometheus is not valid Prometheus text: %v", err)
	}
	fam := fams["envoy_cluster_upstream_rq_time"]
	if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("envoy_cluster_upstream_rq_time: %v, want a histogram", fam)
	}
	h := fam.Metric[0].GetHistogram()
	last := h.Bucket[len(h.Bucket)-1]
	if h.GetSampleCount() != requests || last.GetCumulativeCount() != requests || !math.IsInf(last.GetUpperBound(), 1) {
		t.Fatalf("_count %d, +Inf bucket %v: want %d requests", h.GetSampleCount(), last, requests)
	}
	// Loopback requests to a Go upstream take well under 2.5s.
	for _, b := range h.Bucket {
		if b.GetUpperBound() == 2500 && b.GetCumulativeCount() != requests {
			t.Fatalf("le=2500: %d of %d requests", b.GetCumulativeCount(), requests)
		}
	}
}
