package prom

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/fleet/prom/metric"
)

type dashboard struct {
	Title, UID string
	Panels     []struct {
		ID         int
		Title      string
		Kind       string          `json:"type"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []struct {
			RefID string `json:"refId"`
			Expr  string
		}
	}
	Templating struct {
		List []struct {
			Name, Type string
			Query      json.RawMessage
		}
	}
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(Dashboard(), &d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without uid, title or panels: %+v", d)
	}
	return d
}

// grafanaVars are replaced by what Grafana puts there, to read the
// queries as PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$job", "whisgee", "$instance", ".*")

// panelExprs are the dashboard's queries by "panel/refId".
func panelExprs(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.Kind == "row" {
			continue
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q does not use the dashboard's data source variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			key := fmt.Sprintf("panel %d %q/%s", p.ID, p.Title, tg.RefID)
			if _, dup := out[key]; dup || tg.RefID == "" {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			out[key] = grafanaVars.Replace(tg.Expr)
		}
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestDashboardQueriesOnlyServedMetrics(t *testing.T) {
	have := servedMetrics(t)
	d := loadDashboard(t)
	for key, expr := range panelExprs(t, d) {
		checkServed(t, key, expr, have, true)
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		json.Unmarshal(v.Query, &q)
		m := labelValues.FindStringSubmatch(grafanaVars.Replace(q.Query))
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q.Query)
			continue
		}
		checkServed(t, "variable "+v.Name, m[1], have, true)
		if sels, _ := selectors(m[1]); len(sels) == 1 && !targetLabels[m[2]] && have[sels[0].name][m[2]] == nil {
			t.Errorf("variable %s: %s has no label %s", v.Name, sels[0].name, m[2])
		}
	}
}

// The dashboard shows the terminal dashboard's figures.
func TestDashboardShowsTheTerminalDashboardsFigures(t *testing.T) {
	all := ""
	for _, e := range panelExprs(t, loadDashboard(t)) {
		all += e + "\n"
	}
	for figure, want := range map[string]string{
		"req/s":                    "rate(envoy_http_downstream_rq_xx{",
		"requests by status class": "sum by (envoy_response_code_class)",
		"p50":                      "histogram_quantile(0.5, sum by (le) (rate(envoy_http_downstream_rq_time_bucket{",
		"p95":                      "histogram_quantile(0.95,",
		"p99":                      "histogram_quantile(0.99,",
		"connections":              "envoy_http_downstream_cx_active{",
		"in flight":                "envoy_http_downstream_rq_active{",
		"workers healthy/total":    "envoy_cluster_membership_healthy{",
		"worker state":             metric.WorkerState + "{",
		"worker restarts":          metric.WorkerRestartsTotal + "{",
		"worker cpu":               "rate(" + metric.WorkerCPUSecondsTotal + "{",
		"worker rss":               metric.WorkerResidentMemoryBytes + "{",
		"worker last exit":         metric.WorkerLastExitCode + "{",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel shows %s (%s)", figure, want)
		}
	}
}

// promtool reads every dashboard query: each becomes a recording rule
// of a throwaway rules file that `promtool check rules` must accept.
func TestDashboardQueriesParseAsPromQL(t *testing.T) {
	exprs := panelExprs(t, loadDashboard(t))
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	i := 0
	for key, e := range exprs {
		q, _ := json.Marshal(e)
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n        labels: {panel: %q}\n", i, q, key)
		i++
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, dir, "check", "rules", "dashboard-rules.yml")
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(exprs))) {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
