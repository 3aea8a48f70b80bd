package metric

import (
	"bytes"
	"go/build"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/whisgee/whisgee/internal/testenv"
)

var states = []string{"starting", "running", "draining", "stopping", "stopped", "backoff", "failed"}

func sample() []Worker {
	return []Worker{
		{ID: 0, Name: "worker-0", State: "running", Up: true, Restarts: 2, CPUSeconds: 12.5, ResidentBytes: 48 << 20, Exited: true, LastExitCode: -9},
		{ID: 1, Name: `odd "name"\`, State: "backoff", Restarts: 7, CPUSeconds: 0.25},
	}
}

func TestWorkerMetricsParseWithTheirTypesAndValues(t *testing.T) {
	text := AppendWorkers(nil, states, sample())
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, text)
	}
	for _, f := range WorkerFamilies() {
		got := fams[f.Name]
		if got == nil {
			t.Fatalf("family %s missing:\n%s", f.Name, text)
		}
		if strings.ToLower(got.GetType().String()) != f.Type || got.GetHelp() != f.Help {
			t.Errorf("%s: type %s help %q, want %s %q", f.Name, got.GetType(), got.GetHelp(), f.Type, f.Help)
		}
		for _, m := range got.Metric {
			var names []string
			for _, l := range m.Label {
				names = append(names, l.GetName())
			}
			if strings.Join(names, ",") != strings.Join(f.Labels, ",") {
				t.Errorf("%s labels %v, want %v", f.Name, names, f.Labels)
			}
		}
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, m := range fams[name].Metric {
			match := true
			for _, l := range m.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					match = false
				}
			}
			if match {
				if m.Gauge != nil {
					return m.GetGauge().GetValue(), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
		return 0, false
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{WorkerUp, map[string]string{"worker": "0", "name": "worker-0"}, 1},
		{WorkerUp, map[string]string{"worker": "1"}, 0},
		{WorkerState, map[string]string{"worker": "0", "state": "running"}, 1},
		{WorkerState, map[string]string{"worker": "0", "state": "backoff"}, 0},
		{WorkerState, map[string]string{"worker": "1", "name": `odd "name"\`, "state": "backoff"}, 1},
		{WorkerRestartsTotal, map[string]string{"worker": "1"}, 7},
		{WorkerCPUSecondsTotal, map[string]string{"worker": "0"}, 12.5},
		{WorkerResidentMemoryBytes, map[string]string{"worker": "0"}, 48 << 20},
		{WorkerLastExitCode, map[string]string{"worker": "0"}, -9},
	}
	for _, c := range checks {
		if v, ok := value(c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if n := len(fams[WorkerState].Metric); n != 2*len(states) {
		t.Errorf("%d state series, want one per state per worker (%d)", n, 2*len(states))
	}
	if _, ok := value(WorkerLastExitCode, map[string]string{"worker": "1"}); ok {
		t.Error("a worker whose process never ended has a last exit code")
	}
}

func TestWorkerMetricsPassPromtoolsLint(t *testing.T) {
	promtool := testenv.Tool(t, "promtool", "apt-get install prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(AppendWorkers(nil, states, sample()))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// The package is a leaf: engines and renderers both import it.
func TestMetricImportsNothingOfTheProject(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("fleet/prom/metric imports %s; it may import the standard library only", imp)
		}
	}
}
