// Package prom renders what whisgee gives Prometheus and Grafana: the
// alerting rules (from the template in assets/prometheus, with the
// operator's thresholds), the Grafana dashboard (assets/grafana), and a
// file_sd targets file of an inventory's hosts with the SSH tunnels that
// reach their loopback-only admin endpoints. `whisgee prometheus
// rules|dashboard|targets|tunnels` writes them:
//
//	rules, err := prom.Rules(prom.RuleOptions{P99: 300 * time.Millisecond})
//	targets, err := prom.PlanTargets(hosts, prom.TargetOptions{})
//	file := prom.FileSD(targets)
//
// The metric names are those of proxyctl/admin (Envoy's) and of
// fleet/prom/metric (the workers').
package prom

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"text/template"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/fleet/prom/metric"
)

// RuleOptions are the alerting rules' thresholds.
type RuleOptions struct {
	// Job is the scrape job of the whisgee admin endpoints. If empty,
	// "whisgee".
	Job string
	// P99 is the request time whose 99th percentile, above it for 10
	// minutes, fires WhisgeeHighP99. If zero, 500ms.
	P99 time.Duration
	// ErrorRatio is the share of 5xx responses that, above it for 5
	// minutes, fires WhisgeeHigh5xxRatio. If zero, 0.05.
	ErrorRatio float64
	// CrashRestarts is how many restarts within CrashWindow, crashes among
	// them, make WhisgeeWorkerCrashLoop fire. If zero, 3.
	CrashRestarts int
	// CrashWindow is the window of CrashRestarts. If zero, 15m.
	CrashWindow time.Duration
}

// DefaultJob is the scrape job the rules and targets assume.
const DefaultJob = "whisgee"

// jobName is what a job name may hold here: it is written into PromQL
// string literals and YAML without quoting.
var jobName = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

func (o RuleOptions) withDefaults() (RuleOptions, error) {
	if o.Job == "" {
		o.Job = DefaultJob
	}
	if o.P99 == 0 {
		o.P99 = 500 * time.Millisecond
	}
	if o.ErrorRatio == 0 {
		o.ErrorRatio = 0.05
	}
	if o.CrashRestarts == 0 {
		o.CrashRestarts = 3
	}
	if o.CrashWindow == 0 {
		o.CrashWindow = 15 * time.Minute
	}
	switch {
	case !jobName.MatchString(o.Job):
		return o, fmt.Errorf("job %q: use letters, digits and _ . : - only", o.Job)
	case o.P99 < time.Millisecond || o.P99%time.Millisecond != 0:
		return o, fmt.Errorf("p99 threshold %v: give whole milliseconds, at least 1ms", o.P99)
	case o.ErrorRatio < 0 || o.ErrorRatio > 1:
		return o, fmt.Errorf("5xx ratio %v: give a share between 0 and 1 (0.05 is 5%%)", o.ErrorRatio)
	case o.CrashRestarts < 1:
		return o, fmt.Errorf("crash restarts %d: give at least 1", o.CrashRestarts)
	case o.CrashWindow < time.Minute || o.CrashWindow%time.Second != 0:
		return o, fmt.Errorf("crash window %v: give whole seconds, at least 1m", o.CrashWindow)
	}
	return o, nil
}

// ruleNames are the metric names the template takes from fleet/prom/metric.
type ruleNames struct {
	WorkerRestartsTotal, WorkerState string
}

// Rules renders the alerting rules file (Prometheus rule_files format).
func Rules(o RuleOptions) ([]byte, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("rules").Delims("<<", ">>").Option("missingkey=error").Parse(string(assets.PrometheusRulesTemplate()))
	if err != nil {
		return nil, fmt.Errorf("prometheus rules template: %w", err)
	}
	data := map[string]any{
		"Job":           o.Job,
		"P99Millis":     strconv.FormatInt(o.P99.Milliseconds(), 10),
		"ErrorRatio":    strconv.FormatFloat(o.ErrorRatio, 'f', -1, 64),
		"ErrorPercent":  strconv.FormatFloat(o.ErrorRatio*100, 'f', -1, 64) + "%",
		"CrashRestarts": o.CrashRestarts,
		"CrashWindow":   promDuration(o.CrashWindow),
		"M":             ruleNames{metric.WorkerRestartsTotal, metric.WorkerState},
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("prometheus rules template: %w", err)
	}
	return b.Bytes(), nil
}

// promDuration writes d as Prometheus writes durations: 1h30m, 15m, 90s
// is 1m30s.
func promDuration(d time.Duration) string {
	s := ""
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			s += strconv.FormatInt(int64(n), 10) + u.name
			d -= n * u.unit
		}
	}
	if s == "" {
		return "0s"
	}
	return s
}

// Dashboard is the Grafana dashboard JSON. It asks Grafana for the
// Prometheus data source, the job (any job with whisgee's wsgi cluster)
// and the hosts, so it needs no rendering.
func Dashboard() []byte { return assets.GrafanaDashboard() }
