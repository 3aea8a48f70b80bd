package assets

import "embed"

// The monitoring assets: Prometheus alerting rules (a template that
// fleet/prom renders with the operator's thresholds) and a Grafana
// dashboard. `whisgee prometheus rules|dashboard` writes them.
//
//go:embed prometheus/whisgee-rules.yml.tmpl grafana/whisgee-dashboard.json
var monitoring embed.FS

// PrometheusRulesTemplate is the alerting rules file as a text/template
// with << >> delimiters (Prometheus's own {{ }} stay in its annotations).
func PrometheusRulesTemplate() []byte {
	return mustReadFrom(monitoring, "prometheus/whisgee-rules.yml.tmpl")
}

// GrafanaDashboard is the Grafana dashboard JSON: the terminal
// dashboard's figures, for every host Prometheus scrapes.
func GrafanaDashboard() []byte { return mustReadFrom(monitoring, "grafana/whisgee-dashboard.json") }

func mustReadFrom(fs embed.FS, name string) []byte {
	b, err := fs.ReadFile(name)
	if err != nil {
		panic("assets: " + name + " missing from the binary: " + err.Error())
	}
	return b
}
