package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/whisgee/whisgee/fleet/inventory"
	"github.com/whisgee/whisgee/fleet/prom"
	"github.com/whisgee/whisgee/installer"
)

const prometheusUsage = `rules | dashboard | targets -i INVENTORY [PATTERN] | tunnels -i INVENTORY [PATTERN]

  rules      Prometheus alerting rules: host down, no healthy worker, worker
             crash loop, 5xx ratio, p99 latency (thresholds are flags)
  dashboard  a Grafana dashboard of the terminal dashboard's figures
  targets    a file_sd targets file of the inventory's hosts (Ansible INI or YAML)
  tunnels    the ssh commands that let Prometheus reach those targets

Each host's admin endpoint listens on its loopback only. A central Prometheus
reaches it through one "ssh -N -L" per host, run on the Prometheus host
(targets points at the tunnels' local ports; tunnels prints the commands).
Or run a Prometheus agent on each host and write its target with
"targets --via local HOST".`

// runPrometheus is `whisgee prometheus rules|dashboard|targets|tunnels`.
func runPrometheus(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"want a subcommand: " + strings.SplitN(prometheusUsage, "\n", 2)[0]}
	}
	switch args[0] {
	case "rules":
		return runPrometheusRules(args[1:])
	case "dashboard":
		return runPrometheusDashboard(args[1:])
	case "targets":
		return runPrometheusTargets(args[1:], false)
	case "tunnels":
		return runPrometheusTargets(args[1:], true)
	case "-h", "--help", "help":
		fmt.Println("Usage: whisgee prometheus " + prometheusUsage + "\n\nRun `whisgee prometheus SUBCOMMAND -h` for its flags.")
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q; want rules, dashboard, targets or tunnels", args[0])}
}

func runPrometheusRules(args []string) error {
	fs := newFlags("prometheus rules", "[flags]")
	out := fs.String("o", "", "write the rules to this file (default: standard output)")
	force := fs.Bool("f", false, "overwrite the -o file if it exists")
	job := fs.String("job", prom.DefaultJob, "the scrape job of the whisgee targets")
	p99 := fs.Duration("p99", 0, "p99 request time above which WhisgeeHighP99 fires (default 500ms)")
	ratio := fs.Float64("5xx-ratio", 0, "share of 5xx responses above which WhisgeeHigh5xxRatio fires (default 0.05)")
	restarts := fs.Int("crash-restarts", 0, "restarts within -crash-window, crashes among them, that make a crash loop (default 3)")
	window := fs.Duration("crash-window", 0, "the window of -crash-restarts (default 15m)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("rules: unexpected argument %q; the rules need no inventory", fs.Arg(0))}
	}
	rules, err := prom.Rules(prom.RuleOptions{Job: *job, P99: *p99, ErrorRatio: *ratio, CrashRestarts: *restarts, CrashWindow: *window})
	if err != nil {
		return usageError{"rules: " + err.Error()}
	}
	return writeOutput(*out, rules, *force)
}

func runPrometheusDashboard(args []string) error {
	fs := newFlags("prometheus dashboard", "[flags]")
	out := fs.String("o", "", "write the dashboard JSON to this file (default: standard output); import it in Grafana")
	force := fs.Bool("f", false, "overwrite the -o file if it exists")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("dashboard: unexpected argument %q", fs.Arg(0))}
	}
	return writeOutput(*out, prom.Dashboard(), *force)
}

// runPrometheusTargets is `targets` (the file_sd file) and `tunnels` (the
// ssh commands behind it): both plan the same targets.
func runPrometheusTargets(args []string, tunnels bool) error {
	name := "targets"
	if tunnels {
		name = "tunnels"
	}
	fs := newFlags("prometheus "+name, "-i INVENTORY [flags] [PATTERN]\n\nPATTERN is an Ansible host pattern (default all): a group, a host, web:&prod, web:!web03, db*.")
	inv := fs.String("i", "", "the Ansible inventory (INI or YAML) listing the whisgee hosts")
	via := fs.String("via", prom.ViaTunnel, "how Prometheus reaches each loopback admin endpoint: tunnel (ssh -L from the Prometheus host) or local (an agent on the host itself; select one host)")
	base := fs.Int("tunnel-base", 19901, "first local port of the tunnels on the Prometheus host (a host's whisgee_tunnel_port variable pins its own)")
	adminAddr := fs.String("admin", prom.DefaultAdmin, "the admin address on each host (proxy.admin; a host's whisgee_admin variable overrides it)")
	job := fs.String("job", prom.DefaultJob, "the scrape job to print the configuration of")
	out := fs.String("o", "", "write to this file (default: standard output)")
	force := fs.Bool("f", false, "overwrite the -o file if it exists")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *inv == "" {
		return usageError{name + ": give the inventory with -i INVENTORY (an Ansible inventory, INI or YAML)"}
	}
	if len(pos) > 1 {
		return usageError{fmt.Sprintf("%s: one host pattern, got %q; join patterns with ':' (web:db)", name, pos)}
	}
	pattern := "all"
	if len(pos) == 1 {
		pattern = pos[0]
	}
	if tunnels && *via != prom.ViaTunnel {
		return usageError{"tunnels: there are tunnels only with -via tunnel"}
	}
	loaded, err := inventory.Load(*inv)
	if err != nil {
		return err
	}
	hosts, err := loaded.Select(pattern)
	if err != nil {
		return err
	}
	targets, err := prom.PlanTargets(hosts, prom.TargetOptions{Via: *via, TunnelBase: *base, Admin: *adminAddr})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if tunnels {
		return writeOutput(*out, tunnelScript(targets), *force)
	}
	if err := writeOutput(*out, prom.FileSD(targets), *force); err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = "/etc/prometheus/whisgee-targets.json"
	}
	fmt.Fprintf(os.Stderr, "%d hosts. Scrape them with this job in prometheus.yml:\n\n%s\n", len(targets), prom.ScrapeConfig(*job, path))
	if *via == prom.ViaTunnel {
		fmt.Fprintf(os.Stderr, "and keep their tunnels open on this Prometheus host: %s\n",
			installer.QuoteArgv([]string{"whisgee", "prometheus", "tunnels", "-i", *inv, pattern}))
	}
	return nil
}

// tunnelScript lists the ssh commands, one a line, for people (a unit
// file, autossh); nothing here runs them.
func tunnelScript(targets []prom.Target) []byte {
	var b strings.Builder
	b.WriteString("# whisgee admin endpoints listen on each host's loopback. Run these on the\n" +
		"# Prometheus host and keep them running (a systemd unit with Restart=always,\n" +
		"# or autossh): each forwards a local port to one host's admin endpoint.\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "# %s -> %s\n%s\n", t.Host.Name, t.Scrape, installer.QuoteArgv(t.TunnelArgv()))
	}
	return []byte(b.String())
}
