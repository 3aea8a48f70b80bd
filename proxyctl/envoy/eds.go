package envoy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"

	"github.com/whisgee/whisgee/supervisor"
)

// RenderEDS renders the endpoint file of cluster wsgi: a DiscoveryResponse
// holding one ClusterLoadAssignment, as Envoy's path_config_source reads
// it. Unix-socket workers are pipe addresses; draining workers are marked
// DRAINING, so Envoy sends them no new requests but keeps the ones in
// flight. version is the response's version_info (if zero, 1).
func RenderEDS(workers []supervisor.Backend, draining map[int]bool, version uint64) ([]byte, error) {
	if version == 0 {
		version = 1
	}
	ws := append([]supervisor.Backend(nil), workers...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Endpoints of cluster %s, rewritten by whisgee on every worker change.\n", ClusterName)
	fmt.Fprintf(&b, "version_info: %q\n", strconv.FormatUint(version, 10))
	b.WriteString("resources:\n")
	b.WriteString("- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n")
	fmt.Fprintf(&b, "  cluster_name: %s\n", ClusterName)
	if len(ws) == 0 {
		b.WriteString("  endpoints: []\n")
		return b.Bytes(), nil
	}
	b.WriteString("  endpoints:\n  - lb_endpoints:\n")
	for _, w := range ws {
		status := "HEALTHY"
		if draining[w.ID] {
			status = "DRAINING"
		}
		name := w.Name
		if name == "" {
			name = "worker-" + strconv.Itoa(w.ID)
		}
		b.WriteString("    - endpoint:\n")
		fmt.Fprintf(&b, "        hostname: %s\n", quote(name))
		switch w.Network {
		case "unix", "":
			if w.Address == "" {
				return nil, fmt.Errorf("worker %d has no socket path", w.ID)
			}
			fmt.Fprintf(&b, "        address: {pipe: {path: %s}}\n", quote(w.Address))
		case "tcp":
			host, port, err := hostPort(w.Address)
			if err != nil {
				return nil, fmt.Errorf("worker %d: %w", w.ID, err)
			}
			fmt.Fprintf(&b, "        address: {socket_address: {address: %s, port_value: %d}}\n", quote(host), port)
		default:
			return nil, fmt.Errorf("worker %d: network %q is neither unix nor tcp", w.ID, w.Network)
		}
		fmt.Fprintf(&b, "      health_status: %s\n", status)
	}
	return b.Bytes(), nil
}

// quote quotes a string for YAML: a JSON string is a valid YAML
// double-quoted scalar, so paths with spaces or colons stay intact.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var workerSocketRE = regexp.MustCompile(`(?:^|/)worker-(\d+)\.sock$`)

// WorkerIDFromAddress is the worker id in a host address of the form
// <run_dir>/worker-<id>.sock (runDir may be empty to accept any
// directory), or -1: a host Envoy knows only by an address whisgee did not
// make.
func WorkerIDFromAddress(addr, runDir string) int {
	m := workerSocketRE.FindStringSubmatch(addr)
	if m == nil {
		return -1
	}
	if runDir != "" && addr != runDir+"/worker-"+m[1]+".sock" {
		return -1
	}
	id, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return id
}

// backendAddress is how Envoy names a backend in /clusters: the socket
// path for a pipe, IP:PORT for TCP.
func backendAddress(w supervisor.Backend) string {
	if w.Network == "tcp" {
		if host, port, err := hostPort(w.Address); err == nil {
			return net.JoinHostPort(host, strconv.Itoa(port))
		}
	}
	return w.Address
}
