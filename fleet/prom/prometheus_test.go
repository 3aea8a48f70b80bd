package prom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/fleet/inventory"
	"github.com/whisgee/whisgee/internal/testenv"
)

// A real Prometheus loads the rules and the scrape job, finds the admin
// endpoint through the targets file, scrapes it, and every dashboard
// query returns series. The endpoint is an admin.Prometheus rendering
// with the worker families appended, as the admin endpoint is to serve
// them once the supervisor's metrics are wired in.
func TestPrometheusScrapesTheTargetsAndAnswersEveryDashboardQuery(t *testing.T) {
	bin := testenv.Tool(t, "prometheus", "apt-get install prometheus")
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats/prometheus" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(adminOutput())
	}))
	t.Cleanup(endpoint.Close)

	inv, err := inventory.Parse("fleet.ini", []byte("web01 "+VarAdmin+"="+strings.TrimPrefix(endpoint.URL, "http://")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := inv.Select("web01")
	targets, err := PlanTargets(hosts, TargetOptions{Via: ViaLocal})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Rules(RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sd := filepath.Join(dir, "targets.json")
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [whisgee-rules.yml]\n" + ScrapeConfig("", sd)
	for name, data := range map[string][]byte{"targets.json": FileSD(targets), "whisgee-rules.yml": rules, "prometheus.yml": []byte(cfg)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	api := startPrometheus(t, bin, dir)

	// Wait for three scrapes, so rates and increases have samples.
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, _ := query(api, `count_over_time(up{job="whisgee",instance="web01"}[1m]) >= 3 and on () up{job="whisgee",instance="web01"} == 1`)
		if len(res) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape web01 three times in 90s; targets: %s", get(api, "/api/v1/targets"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	for key, expr := range panelExprs(t, loadDashboard(t)) {
		expr = strings.ReplaceAll(expr, "[5m]", "[1m]")
		res, err := query(api, expr)
		if err != nil || len(res) == 0 {
			t.Errorf("%s: %q gives %d series, %v", key, expr, len(res), err)
		}
	}
	var ruleList struct {
		Data struct {
			Groups []struct {
				Rules []struct{ Name, Health, LastError string }
			}
		}
	}
	json.Unmarshal([]byte(get(api, "/api/v1/rules")), &ruleList)
	n := 0
	for _, g := range ruleList.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n != 5 {
		t.Errorf("Prometheus loaded %d rules, want 5", n)
	}
}

// startPrometheus runs prometheus on a loopback port with its data in
// dir, stopped when the test ends, and returns its base URL.
func startPrometheus(t *testing.T, bin, dir string) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	var logs testenv.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for get(base, "/-/ready") == "" {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready in 60s:\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return base
}

// get returns the body of a 200 answer, else "".
func get(base, path string) string {
	resp, err := http.Get(base + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// query runs an instant query and returns its result vector.
func query(base, expr string) ([]json.RawMessage, error) {
	body := get(base, "/api/v1/query?query="+url.QueryEscape(expr))
	var r struct {
		Status string
		Data   struct {
			ResultType string
			Result     []json.RawMessage
		}
		Error string
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: %v (%q)", expr, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, r.Error)
	}
	return r.Data.Result, nil
}
