package prom

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/whisgee/whisgee/fleet/prom/metric"
	"github.com/whisgee/whisgee/proxyctl/admin"
	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// served is every series name the admin endpoint serves, with the label
// values each label takes: the Envoy-named stats as proxyctl/admin
// renders a snapshot of a proxy with both listeners, and the worker
// families of fleet/prom/metric. Prometheus adds job, instance and up.
type served map[string]map[string]map[string]bool // metric -> label -> values

// servedMetrics renders a real admin output and the worker families.
func servedMetrics(t *testing.T) served {
	t.Helper()
	text := adminOutput()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("the admin output does not parse: %v", err)
	}
	out := served{"up": {}}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]map[string]bool{}
		}
		for _, l := range labels {
			if out[name][l.GetName()] == nil {
				out[name][l.GetName()] = map[string]bool{}
			}
			out[name][l.GetName()][l.GetValue()] = true
		}
		for _, e := range extra {
			out[name][e] = map[string]bool{"*": true}
		}
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m.Label, "le")
				add(name+"_sum", m.Label)
				add(name+"_count", m.Label)
			case dto.MetricType_SUMMARY:
				add(name, m.Label, "quantile")
				add(name+"_sum", m.Label)
				add(name+"_count", m.Label)
			default:
				add(name, m.Label)
			}
		}
	}
	return out
}

// workerStates are the supervisor's states, the values of the state label.
func workerStates() []string {
	var out []string
	for _, s := range []supervisor.State{supervisor.StateStarting, supervisor.StateRunning, supervisor.StateDraining,
		supervisor.StateStopping, supervisor.StateStopped, supervisor.StateBackoff, supervisor.StateFailed} {
		out = append(out, string(s))
	}
	return out
}

// adminOutput is what the admin endpoint serves for a proxy with both
// listeners and two workers, plus the worker families.
func adminOutput() []byte {
	var c stats.Counters
	w := stats.NewWindow(1, time.Second)
	for i, status := range []int{200, 200, 404, 503, 101} {
		c.Begin()
		c.End(status, time.Duration(i+1)*time.Millisecond, 100, 200)
	}
	s := &stats.Snapshot{
		Engine: "builtin", Time: time.Now(), StartedAt: time.Now().Add(-time.Minute),
		Listeners: []stats.Endpoint{{Name: "http"}, {Name: "https"}},
		Cluster:   stats.Endpoint{Name: "wsgi"},
		Hosts:     []stats.Host{{Endpoint: stats.Endpoint{Name: "worker-0", Address: "/run/w0.sock"}, Health: stats.HealthHealthy}},
	}
	for i := range s.Listeners {
		c.Fill(&s.Listeners[i], w)
	}
	c.Fill(&s.Cluster, w)
	workers := []metric.Worker{
		{ID: 0, Name: "worker-0", State: "running", Up: true, Restarts: 1, CPUSeconds: 2, ResidentBytes: 30 << 20, Exited: true, LastExitCode: -15},
	}
	return metric.AppendWorkers(admin.Prometheus(s, nil), workerStates(), workers)
}

// selector is one metric selector of an expression: name{matchers}.
type selector struct {
	name     string
	matchers []matcher
}

type matcher struct{ label, op, value string }

var (
	identifier = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	number     = regexp.MustCompile(`^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?`)
	matcherRE  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)
)

// promqlFunctions are the functions and aggregations the rules and the
// dashboard may use; anything else called is a mistake.
var promqlFunctions = map[string]bool{
	"sum": true, "max": true, "min": true, "count": true, "avg": true, "rate": true, "increase": true,
	"histogram_quantile": true, "max_over_time": true, "label_values": true,
}

var promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}

// grouping keywords take a list of label names in parentheses.
var promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// selectors reads the metric selectors out of a PromQL expression; any
// identifier that is no function, keyword, label list or metric is an
// error. It is a reader for the expressions whisgee ships, not PromQL's
// grammar: promtool checks the syntax.
func selectors(expr string) ([]selector, error) {
	var out []selector
	s := expr
	for s != "" {
		switch c := s[0]; {
		case c == ' ' || c == '\n' || c == '\t' || strings.ContainsRune("()*/+-<>=!,", rune(c)):
			s = s[1:]
		case c == '"':
			end := closingQuote(s)
			if end < 0 {
				return nil, fmt.Errorf("unclosed string in %q", expr)
			}
			s = s[end+1:]
		case c == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", expr)
			}
			s = s[end+1:]
		case c == '{':
			ms, rest, err := readMatchers(s)
			if err != nil {
				return nil, err
			}
			out = append(out, selector{matchers: ms})
			s = rest
		case number.MatchString(s) && !identifier.MatchString(s):
			s = s[len(number.FindString(s)):]
		case identifier.MatchString(s):
			id := identifier.FindString(s)
			s = s[len(id):]
			next := strings.TrimLeft(s, " \n\t")
			switch {
			case promqlGrouping[id]:
				if strings.HasPrefix(next, "(") {
					s = next[strings.IndexByte(next, ')')+1:]
				}
			case promqlKeywords[id]:
			case promqlFunctions[id] && (strings.HasPrefix(next, "by") || strings.HasPrefix(next, "without")):
				// an aggregation with its grouping first: sum by (x) (...)
			case strings.HasPrefix(next, "("):
				if !promqlFunctions[id] {
					return nil, fmt.Errorf("%q calls %s, which the test does not know; add it to promqlFunctions if it is right", expr, id)
				}
			case strings.HasPrefix(next, "{"):
				ms, rest, err := readMatchers(next)
				if err != nil {
					return nil, err
				}
				out = append(out, selector{name: id, matchers: ms})
				s = rest
			default:
				out = append(out, selector{name: id})
			}
		default:
			return nil, fmt.Errorf("unexpected %q in %q", c, expr)
		}
	}
	return out, nil
}

func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// readMatchers reads {a="b",c=~"d"} at the start of s.
func readMatchers(s string) ([]matcher, string, error) {
	var parts []string
	start := 1
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			end := closingQuote(s[i:])
			if end < 0 {
				return nil, "", fmt.Errorf("unclosed string in %q", s)
			}
			i += end
		case ',', '}':
			if p := strings.TrimSpace(s[start:i]); p != "" {
				parts = append(parts, p)
			}
			start = i + 1
			if s[i] == '}' {
				var ms []matcher
				for _, p := range parts {
					m := matcherRE.FindStringSubmatch(p)
					if m == nil {
						return nil, "", fmt.Errorf("cannot read matcher %q", p)
					}
					ms = append(ms, matcher{m[1], m[2], m[3]})
				}
				return ms, s[i+1:], nil
			}
		}
	}
	return nil, "", fmt.Errorf("unclosed { in %q", s)
}

// targetLabels are the labels Prometheus itself puts on every series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// checkServed holds every selector of expr against what is served: the
// metric exists, each matched label is one it has, and (with values) each
// = or =~ matcher selects a value the endpoint writes.
func checkServed(t *testing.T, where, expr string, have served, values bool) {
	t.Helper()
	sels, err := selectors(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	for _, sel := range sels {
		labels, ok := have[sel.name]
		if !ok {
			t.Errorf("%s: metric %q is neither in the admin endpoint's output nor in fleet/prom/metric", where, sel.name)
			continue
		}
		for _, m := range sel.matchers {
			if targetLabels[m.label] {
				continue
			}
			written, ok := labels[m.label]
			if !ok {
				t.Errorf("%s: %s has no label %q", where, sel.name, m.label)
				continue
			}
			if !values || written["*"] || m.op == "!=" || m.op == "!~" {
				continue
			}
			re := regexp.MustCompile("^(?:" + m.value + ")$")
			matched := false
			for v := range written {
				matched = matched || (m.op == "=" && v == m.value) || (m.op == "=~" && re.MatchString(v))
			}
			if !matched {
				t.Errorf("%s: %s{%s%s%q} selects no series the endpoint writes (it has %v)", where, sel.name, m.label, m.op, m.value, written)
			}
		}
	}
}
