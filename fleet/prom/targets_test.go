package prom

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/fleet/inventory"
)

const fleetINI = `
[web]
web01.example.com ansible_user=deploy
web02.example.com:2222 whisgee_admin=127.0.0.1:9911
web03.example.com whisgee_tunnel_port=19901 ansible_ssh_private_key_file=~/.ssh/fleet ansible_ssh_common_args='-o ProxyJump=bastion'

[db]
db1 ansible_host=10.0.0.5

[prod:children]
web
db
`

func fleetHosts(t *testing.T, pattern string) []inventory.Host {
	t.Helper()
	inv, err := inventory.Parse("fleet.ini", []byte(fleetINI))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := inv.Select(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return hosts
}

func TestTunnelTargetsGetStablePortsAndNameTheirHost(t *testing.T) {
	targets, err := PlanTargets(fleetHosts(t, "all"), TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		admin, scrape string
	}{
		// web03 pins 19901, so the others take the ports after it.
		"web01.example.com": {"127.0.0.1:9901", "127.0.0.1:19902"},
		"web02.example.com": {"127.0.0.1:9911", "127.0.0.1:19903"},
		"web03.example.com": {"127.0.0.1:9901", "127.0.0.1:19901"},
		"db1":               {"127.0.0.1:9901", "127.0.0.1:19904"},
	}
	if len(targets) != len(want) {
		t.Fatalf("%d targets, want %d", len(targets), len(want))
	}
	for _, tg := range targets {
		w := want[tg.Host.Name]
		if tg.Admin != w.admin || tg.Scrape != w.scrape {
			t.Errorf("%s: admin %s scraped at %s, want %s at %s", tg.Host.Name, tg.Admin, tg.Scrape, w.admin, w.scrape)
		}
	}
	var groups []struct {
		Targets []string
		Labels  map[string]string
	}
	if err := json.Unmarshal(FileSD(targets), &groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		name := g.Labels["instance"]
		if len(g.Targets) != 1 || g.Targets[0] != want[name].scrape || g.Labels[LabelHost] != name {
			t.Errorf("target group %+v", g)
		}
	}
	if g := groups[3]; g.Labels[LabelAddress] != "10.0.0.5" || g.Labels[LabelGroups] != ",db,prod," {
		t.Errorf("db1 labels %v", g.Labels)
	}
}

func TestTunnelCommandCarriesTheHostsSSHSettings(t *testing.T) {
	targets, err := PlanTargets(fleetHosts(t, "web"), TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range targets {
		got[tg.Host.Name] = strings.Join(tg.TunnelArgv(), " ")
	}
	common := "ssh -N -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=3 "
	for name, want := range map[string]string{
		"web01.example.com": common + "-L 127.0.0.1:19902:127.0.0.1:9901 -l deploy -- web01.example.com",
		"web02.example.com": common + "-L 127.0.0.1:19903:127.0.0.1:9911 -p 2222 -- web02.example.com",
		"web03.example.com": common + "-L 127.0.0.1:19901:127.0.0.1:9901 -i ~/.ssh/fleet -o ProxyJump=bastion -- web03.example.com",
	} {
		if got[name] != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got[name], want)
		}
	}
	ipv6 := Target{Host: inventory.Host{Name: "v6", Address: "v6"}, Admin: "[::1]:9901", TunnelPort: 20000}
	if a := strings.Join(ipv6.TunnelArgv(), " "); !strings.Contains(a, "-L 127.0.0.1:20000:[::1]:9901 ") {
		t.Errorf("IPv6 admin: %s", a)
	}
}

func TestLocalTargetIsTheHostsOwnLoopback(t *testing.T) {
	targets, err := PlanTargets(fleetHosts(t, "web02*"), TargetOptions{Via: ViaLocal})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Scrape != "127.0.0.1:9911" || targets[0].TunnelArgv() != nil {
		t.Fatalf("%+v", targets)
	}
}

func TestTargetsRefuseWhatCannotWork(t *testing.T) {
	dup := fleetHosts(t, "web")
	dup[0].Vars = map[string]any{VarTunnelPort: 19901}
	for _, c := range []struct {
		name  string
		hosts []inventory.Host
		o     TargetOptions
		want  string
	}{
		{"local with many hosts", fleetHosts(t, "web"), TargetOptions{Via: ViaLocal}, "select one host"},
		{"unknown via", fleetHosts(t, "web"), TargetOptions{Via: "carrier-pigeon"}, "want tunnel"},
		{"tunnel port taken twice", dup, TargetOptions{}, "both have tunnel port 19901"},
		{"bad admin", fleetHosts(t, "db1"), TargetOptions{Admin: "9901"}, "HOST:PORT"},
		{"low base", fleetHosts(t, "db1"), TargetOptions{TunnelBase: 80}, "1024"},
		{"no hosts", nil, TargetOptions{}, "no hosts"},
	} {
		if _, err := PlanTargets(c.hosts, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error saying %q", c.name, err, c.want)
		}
	}
}

// promtool check config reads the scrape job and the file_sd file it
// names, as Prometheus would load them.
func TestTargetsFileAndScrapeConfigPassPromtool(t *testing.T) {
	targets, err := PlanTargets(fleetHosts(t, "all"), TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sd := filepath.Join(dir, "whisgee-targets.json")
	rules, err := Rules(RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := "rule_files: [whisgee-rules.yml]\n" + ScrapeConfig("", sd)
	for name, data := range map[string][]byte{"whisgee-targets.json": FileSD(targets), "whisgee-rules.yml": rules, "prometheus.yml": []byte(cfg)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := promtool(t, dir, "check", "config", "prometheus.yml")
	if err != nil || !strings.Contains(out, "SUCCESS: prometheus.yml is valid") || !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	// promtool reads the file_sd file too: a broken one fails the check.
	os.WriteFile(sd, []byte(`[{"targets": "not a list"}]`), 0o600)
	if out, err := promtool(t, dir, "check", "config", "prometheus.yml"); err == nil {
		t.Fatalf("promtool check config accepts a broken targets file, so it proves nothing:\n%s", out)
	}
}
