package prom

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/fleet/inventory"
)

// How Prometheus reaches the admin endpoints. whisgee's admin endpoint
// listens on each host's loopback only (config refuses anything else), so
// a Prometheus elsewhere cannot scrape it directly:
//
//   - ViaTunnel: the Prometheus host keeps one `ssh -N -L` per whisgee host
//     (Tunnels gives the commands), forwarding a local port to that host's
//     admin address; the targets are those local ports. The operator's own
//     ssh setup (keys, ProxyJump, known_hosts) applies, and nothing new
//     listens on the hosts' networks.
//   - ViaLocal: a Prometheus (or agent) on each host scrapes its own
//     loopback admin endpoint and remote-writes on; the targets file is for
//     that one host.
const (
	ViaTunnel = "tunnel"
	ViaLocal  = "local"
)

// Inventory variables a host may set to change its target.
const (
	// VarAdmin is the host's admin address as its whisgee.yaml sets
	// proxy.admin, if not DefaultAdmin.
	VarAdmin = "whisgee_admin"
	// VarTunnelPort pins the host's tunnel port on the Prometheus host, so
	// it does not move when hosts are added before it.
	VarTunnelPort = "whisgee_tunnel_port"
)

// DefaultAdmin is proxy.admin's default in whisgee.yaml.
const DefaultAdmin = "127.0.0.1:9901"

// TargetOptions say how the targets are reached.
type TargetOptions struct {
	// Via is ViaTunnel or ViaLocal. If empty, ViaTunnel.
	Via string
	// TunnelBase is the first tunnel port on the Prometheus host; hosts
	// without whisgee_tunnel_port take the ports from there up, in
	// inventory order, skipping pinned ones. If zero, 19901.
	TunnelBase int
	// Admin is the admin address of hosts without whisgee_admin. If
	// empty, DefaultAdmin.
	Admin string
}

// Target is one host's admin endpoint and how Prometheus scrapes it.
type Target struct {
	// Host is the inventory host.
	Host inventory.Host
	// Admin is the admin endpoint's address on the host itself.
	Admin string
	// Scrape is the address Prometheus scrapes: the tunnel's local end, or
	// Admin itself with ViaLocal.
	Scrape string
	// TunnelPort is the tunnel's local port (ViaTunnel), else 0.
	TunnelPort int
}

// PlanTargets works out each host's target.
func PlanTargets(hosts []inventory.Host, o TargetOptions) ([]Target, error) {
	if o.Via == "" {
		o.Via = ViaTunnel
	}
	if o.TunnelBase == 0 {
		o.TunnelBase = 19901
	}
	if o.Admin == "" {
		o.Admin = DefaultAdmin
	}
	switch {
	case o.Via != ViaTunnel && o.Via != ViaLocal:
		return nil, fmt.Errorf("via %q: want %s (SSH tunnels from the Prometheus host) or %s (a Prometheus agent on each host)", o.Via, ViaTunnel, ViaLocal)
	case o.Via == ViaLocal && len(hosts) != 1:
		return nil, fmt.Errorf("via %s writes one host's own target (its agent scrapes its loopback); select one host, not %d", ViaLocal, len(hosts))
	case o.TunnelBase < 1024 || o.TunnelBase > 65535:
		return nil, fmt.Errorf("tunnel base port %d: give a port from 1024 to 65535", o.TunnelBase)
	case len(hosts) == 0:
		return nil, fmt.Errorf("no hosts selected")
	}
	if _, err := checkAdmin(o.Admin); err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	targets := make([]Target, len(hosts))
	used := map[int]string{}
	for i, h := range hosts {
		t := &targets[i]
		t.Host, t.Admin = h, o.Admin
		if v, ok := h.Vars[VarAdmin]; ok {
			a, err := checkAdmin(fmt.Sprint(v))
			if err != nil {
				return nil, fmt.Errorf("host %s: %s: %w", h.Name, VarAdmin, err)
			}
			t.Admin = a
		}
		t.Scrape = t.Admin
		if v, ok := h.Vars[VarTunnelPort]; ok && o.Via == ViaTunnel {
			p, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || p < 1 || p > 65535 {
				return nil, fmt.Errorf("host %s: %s %v is not a port number", h.Name, VarTunnelPort, v)
			}
			if other, dup := used[p]; dup {
				return nil, fmt.Errorf("hosts %s and %s both have tunnel port %d", other, h.Name, p)
			}
			used[p], t.TunnelPort = h.Name, p
		}
	}
	if o.Via == ViaTunnel {
		next := o.TunnelBase
		for i := range targets {
			t := &targets[i]
			if t.TunnelPort == 0 {
				for used[next] != "" {
					next++
				}
				if next > 65535 {
					return nil, fmt.Errorf("tunnel ports from %d run past 65535; lower the base port", o.TunnelBase)
				}
				t.TunnelPort, used[next] = next, t.Host.Name
			}
			t.Scrape = net.JoinHostPort("127.0.0.1", strconv.Itoa(t.TunnelPort))
		}
	}
	return targets, nil
}

// checkAdmin wants HOST:PORT.
func checkAdmin(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q is not HOST:PORT (like %s)", a, DefaultAdmin)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q: port %s is not a port number", a, port)
	}
	return a, nil
}

// Labels of each target group.
const (
	// LabelHost is the host's inventory name. It is also the target's
	// instance label, so alerts and the dashboard name hosts, not tunnel
	// ports.
	LabelHost = "whisgee_host"
	// LabelAddress is the address ssh reaches the host at.
	LabelAddress = "whisgee_address"
	// LabelGroups is the host's inventory groups, comma-separated with a
	// comma at each end (select with =~".*,web,.*").
	LabelGroups = "whisgee_groups"
)

// FileSD renders a Prometheus file_sd_configs file: one target group per
// host, labelled with its inventory name.
func FileSD(targets []Target) []byte {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	out := make([]group, 0, len(targets))
	for _, t := range targets {
		out = append(out, group{
			Targets: []string{t.Scrape},
			Labels: map[string]string{
				"instance":   t.Host.Name,
				LabelHost:    t.Host.Name,
				LabelAddress: t.Host.Address,
				LabelGroups:  "," + strings.Join(t.Host.Groups, ",") + ",",
			},
		})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return append(b, '\n')
}

// TunnelArgv is the ssh command that keeps the target's tunnel: the
// system ssh with the host's inventory connection settings, forwarding
// the tunnel port on the Prometheus host's loopback to the admin address
// on the host. With ViaLocal there is none.
func (t Target) TunnelArgv() []string {
	if t.TunnelPort == 0 {
		return nil
	}
	host, port, _ := net.SplitHostPort(t.Admin)
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	argv := []string{"ssh", "-N",
		"-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
		"-L", "127.0.0.1:" + strconv.Itoa(t.TunnelPort) + ":" + host + ":" + port}
	h := t.Host
	if h.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(h.Port))
	}
	if h.User != "" {
		argv = append(argv, "-l", h.User)
	}
	if h.IdentityFile != "" {
		argv = append(argv, "-i", h.IdentityFile)
	}
	argv = append(argv, h.SSHArgs...)
	// -- ends the options: an inventory address is never read as one.
	return append(argv, "--", h.Address)
}

// ScrapeConfig is the prometheus.yml scrape job for a targets file at
// path: the job the rules assume, reading the file_sd file.
func ScrapeConfig(job, path string) string {
	if job == "" {
		job = DefaultJob
	}
	q, _ := json.Marshal(path)
	return fmt.Sprintf(`scrape_configs:
  - job_name: %s
    metrics_path: /stats/prometheus
    file_sd_configs:
      - files: [%s]
`, job, q)
}
