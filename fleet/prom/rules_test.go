package prom

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/whisgee/whisgee/internal/testenv"
)

// promtool runs promtool with args in dir and returns its output.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Tool(t, "promtool", "apt-get install prometheus (it ships promtool)")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeRules writes rendered rules and the rules' unit tests into a temp
// dir, as testdata/rules_test.yml expects them.
func writeRules(t *testing.T, rules []byte) string {
	t.Helper()
	dir := t.TempDir()
	tests, err := os.ReadFile(filepath.Join("testdata", "rules_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"whisgee-rules.yml": rules, "rules_test.yml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRulesPassPromtoolCheckAndTheirUnitTests(t *testing.T) {
	rules, err := Rules(RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeRules(t, rules)
	if out, err := promtool(t, dir, "check", "rules", "whisgee-rules.yml"); err != nil || !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtool(t, dir, "test", "rules", "rules_test.yml"); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// The unit tests are sensitive: with every threshold moved, each alert's
// firing case no longer fires as expected.
func TestRulesUnitTestsFailWhenTheThresholdsMove(t *testing.T) {
	moved, err := Rules(RuleOptions{P99: 2 * time.Second, ErrorRatio: 0.6, CrashRestarts: 50, CrashWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, writeRules(t, moved), "test", "rules", "rules_test.yml")
	if err == nil {
		t.Fatalf("promtool test rules passes with every threshold moved:\n%s", out)
	}
	for _, alert := range []string{"WhisgeeHighP99", "WhisgeeHigh5xxRatio", "WhisgeeWorkerCrashLoop"} {
		if !strings.Contains(out, alert) {
			t.Errorf("no failure of %s with its threshold moved:\n%s", alert, out)
		}
	}
}

func TestRuleOptionsChangeTheRules(t *testing.T) {
	rules, err := Rules(RuleOptions{Job: "web-fleet", P99: 250 * time.Millisecond, ErrorRatio: 0.02, CrashRestarts: 5, CrashWindow: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	text := string(rules)
	for _, want := range []string{`up{job="web-fleet"} == 0`, "> 250\n", "> 0.02\n", ">= 5\n", "[1h30m]", "More than 2% of"} {
		if !strings.Contains(text, want) {
			t.Errorf("rules lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, `job="whisgee"`) {
		t.Error(`a rule still selects job="whisgee"`)
	}
	dir := writeRules(t, rules)
	if out, err := promtool(t, dir, "check", "rules", "whisgee-rules.yml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// Each documented default of RuleOptions is the one applied.
func TestRuleOptionsZeroValueIsTheDocumentedDefaults(t *testing.T) {
	zero, err := Rules(RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := Rules(RuleOptions{Job: "whisgee", P99: 500 * time.Millisecond, ErrorRatio: 0.05, CrashRestarts: 3, CrashWindow: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(zero, explicit) {
		t.Fatal("RuleOptions{} renders other rules than its documented defaults")
	}
}

func TestImpossibleRuleOptionsAreRefused(t *testing.T) {
	for _, c := range []struct {
		o    RuleOptions
		want string
	}{
		{RuleOptions{Job: `a"b`}, "job"},
		{RuleOptions{P99: 1500 * time.Microsecond}, "whole milliseconds"},
		{RuleOptions{ErrorRatio: 5}, "between 0 and 1"},
		{RuleOptions{CrashRestarts: -1}, "at least 1"},
		{RuleOptions{CrashWindow: 30 * time.Second}, "at least 1m"},
	} {
		if _, err := Rules(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error saying %q", c.o, err, c.want)
		}
	}
}

// The rules and their unit tests query only series the admin endpoint
// serves (today's Envoy names, or fleet/prom/metric's worker families).
func TestRulesQueryOnlyServedMetrics(t *testing.T) {
	have := servedMetrics(t)
	rules, err := Rules(RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(rules, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			checkServed(t, r.Alert, r.Expr, have, true)
		}
	}
	if n != 5 {
		t.Fatalf("%d rules, want 5", n)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "rules_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			InputSeries []struct{ Series string } `yaml:"input_series"`
		}
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	// Input series may carry label values whisgee does not write (Envoy's
	// admin listener), to show they are left out: names only.
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			checkServed(t, "rules_test.yml", s.Series, have, false)
		}
	}
}
