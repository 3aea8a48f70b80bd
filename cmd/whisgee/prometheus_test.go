package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const promInventory = `[web]
web01 ansible_user=deploy
web02:2222

[db]
db1 ansible_host=10.0.0.5 whisgee_tunnel_port=20001
`

func TestPrometheusSubcommandsWriteRulesDashboardTargetsAndTunnels(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.ini")
	if err := os.WriteFile(inv, []byte(promInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	for _, args := range [][]string{
		{"prometheus", "rules", "-p99", "300ms", "-o", file("rules.yml")},
		{"prometheus", "dashboard", "-o", file("dashboard.json")},
		{"prometheus", "targets", "-i", inv, "-o", file("targets.json")},
		{"prometheus", "tunnels", "web", "-i", inv, "-o", file("tunnels.txt")},
	} {
		if code := run(args); code != 0 {
			t.Fatalf("%s: exit %d", strings.Join(args, " "), code)
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(file(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(read("rules.yml"), &rules); err != nil || len(rules.Groups) != 1 || len(rules.Groups[0].Rules) != 5 {
		t.Fatalf("rules: %v %+v", err, rules)
	}
	if p99 := rules.Groups[0].Rules[4]; p99.Alert != "WhisgeeHighP99" || !strings.Contains(p99.Expr, "> 300") {
		t.Errorf("-p99 300ms: %+v", p99)
	}
	if !json.Valid(read("dashboard.json")) {
		t.Error("the dashboard is not JSON")
	}
	var targets []struct {
		Targets []string
		Labels  map[string]string
	}
	if err := json.Unmarshal(read("targets.json"), &targets); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range targets {
		got[tg.Labels["instance"]] = strings.Join(tg.Targets, ",")
	}
	if len(got) != 3 || got["web01"] != "127.0.0.1:19901" || got["web02"] != "127.0.0.1:19902" || got["db1"] != "127.0.0.1:20001" {
		t.Errorf("targets %v", got)
	}
	tunnels := string(read("tunnels.txt"))
	if !strings.Contains(tunnels, "-L 127.0.0.1:19902:127.0.0.1:9901 -p 2222 -- web02\n") || strings.Contains(tunnels, "db1") {
		t.Errorf("tunnels of web:\n%s", tunnels)
	}
	if code := run([]string{"prometheus", "targets", "-i", inv, "-o", file("targets.json")}); code != 1 {
		t.Errorf("targets over an existing file: exit %d, want 1 (it keeps the file without -f)", code)
	}
}

func TestPrometheusUsageErrorsExit2(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "fleet.ini")
	if err := os.WriteFile(inv, []byte(promInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"prometheus"}, {"prometheus", "frobnicate"}, {"prometheus", "targets"}, {"prometheus", "rules", "extra"},
		{"prometheus", "rules", "-5xx-ratio", "2"}, {"prometheus", "rules", "-job", "a b"},
		{"prometheus", "targets", "-i", inv, "web", "db"}, {"prometheus", "tunnels", "-i", inv, "-via", "local"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("%s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// Bad input gets one line that says where and what.
func TestPrometheusTargetsNameTheBadLineAndTheUnknownPattern(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ini")
	good := filepath.Join(dir, "good.ini")
	os.WriteFile(bad, []byte("[web]\nweb01\nweb02 port 22\n"), 0o600)
	os.WriteFile(good, []byte(promInventory), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", bad}, bad + ":3: expected key=value host variable"},
		{[]string{"-i", good, "web:!nope"}, `host pattern "nope" matches no group or host in ` + good},
		{[]string{"-i", filepath.Join(dir, "missing.ini")}, "no such file"},
		{[]string{"-i", good, "-via", "local", "web"}, "select one host, not 2"},
	} {
		out, err := exec.Command(whisgeeBin, append([]string{"prometheus", "targets"}, c.args...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: %v, want exit 1\n%s", c.args, err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("%v: %q, want one line with %q", c.args, out, c.want)
		}
	}
}
