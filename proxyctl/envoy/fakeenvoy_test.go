package envoy

// A stand-in for the envoy binary, which cannot be installed on this
// project's machines. The test binary runs as it when
// WHISGEE_FAKE_ENVOY=1. It mimics what the engine relies on:
//
//   - the CLI: --version, --mode validate -c FILE, -c FILE
//     --restart-epoch N --base-id B --drain-time-s D
//     --parent-shutdown-time-s P;
//   - hot restart: epoch N>0 asks its parent to give up the admin
//     endpoint, binds the listeners beside it (SO_REUSEPORT, where real
//     Envoy is handed the parent's sockets), fails with Envoy's message
//     when a listener's port is taken, and stops its parent after the
//     parent shutdown time;
//   - the admin API: /ready, /server_info, /clusters (text and JSON),
//     /stats?format=json, POST /drain_listeners;
//   - the data path, plain HTTP only (no TLS): cluster wsgi's hosts come
//     from the EDS file named in the bootstrap, re-read on every use,
//     health-checked over their Unix sockets at the configured interval;
//     requests go to the least busy HEALTHY, passing host.
//
// FAKE_ENVOY_REJECT=1 makes --mode validate refuse any config.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestMain(m *testing.M) {
	if os.Getenv("WHISGEE_FAKE_ENVOY") == "1" {
		os.Exit(fakeEnvoyMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

const fakeVersionLine = "envoy  version: 0123456789abcdef0123456789abcdef01234567/1.39.1/Clean/RELEASE/BoringSSL"

type fakeHost struct {
	address               string
	active, total, errors atomic.Int64
	checked, healthy      atomic.Bool
}

// hostView is a host as the EDS file listed it on one read.
type hostView struct {
	*fakeHost
	hostname, edsStatus string
}

type fakeEnvoy struct {
	epoch          int
	started        time.Time
	configPath     string
	edsPath        string
	hcPath         string
	hcEvery        time.Duration
	parentShutdown time.Duration

	mu        sync.Mutex
	hosts     map[string]*fakeHost
	listeners []net.Listener
	attempts  atomic.Int64
	rqTotal   atomic.Int64
}

func fakeEnvoyMain(args []string) int {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--version" {
			fmt.Println()
			fmt.Println(fakeVersionLine)
			return 0
		}
		if strings.HasPrefix(a, "-") && i+1 < len(args) {
			flags[a] = args[i+1]
			i++
		}
	}
	path := flags["-c"]
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Printf("[critical] error initializing configuration '%s': %v\n", path, err)
		return 1
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fmt.Printf("[critical] error initializing configuration '%s': %v\n", path, err)
		return 1
	}
	if flags["--mode"] == "validate" {
		if os.Getenv("FAKE_ENVOY_REJECT") == "1" {
			fmt.Printf("error initializing configuration '%s': Proto constraint validation failed (fake rejection)\n", path)
			return 1
		}
		fmt.Printf("configuration '%s' OK\n", path)
		return 0
	}
	f := &fakeEnvoy{started: time.Now(), configPath: path, hosts: map[string]*fakeHost{}}
	f.epoch, _ = strconv.Atoi(flags["--restart-epoch"])
	ps, _ := strconv.Atoi(flags["--parent-shutdown-time-s"])
	f.parentShutdown = time.Duration(ps) * time.Second
	return f.serve(doc)
}

// dig walks a decoded YAML document: keys for maps, ints for lists.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func sockAddr(v any) string {
	return net.JoinHostPort(fmt.Sprint(dig(v, "address")), fmt.Sprint(dig(v, "port_value")))
}

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

func (f *fakeEnvoy) serve(doc map[string]any) int {
	adminAddr := sockAddr(dig(doc, "admin", "address", "socket_address"))
	cluster := dig(doc, "static_resources", "clusters", 0)
	f.edsPath = fmt.Sprint(dig(cluster, "eds_cluster_config", "eds_config", "path_config_source", "path"))
	f.hcPath = fmt.Sprint(dig(cluster, "health_checks", 0, "http_health_check", "path"))
	f.hcEvery, _ = time.ParseDuration(fmt.Sprint(dig(cluster, "health_checks", 0, "interval")))
	if f.hcEvery <= 0 {
		f.hcEvery = time.Second
	}

	// Hot restart: take the admin endpoint over from the parent.
	parentPID := 0
	if f.epoch > 0 {
		resp, err := http.Post("http://"+adminAddr+"/fake_hot_restart/shutdown_admin", "text/plain", nil)
		if err == nil {
			var b [32]byte
			n, _ := resp.Body.Read(b[:])
			parentPID, _ = strconv.Atoi(strings.TrimSpace(string(b[:n])))
			resp.Body.Close()
		}
	}
	var admin net.Listener
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if admin, err = net.Listen("tcp", adminAddr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		fmt.Printf("[critical] cannot bind admin '%s': %v\n", adminAddr, err)
		return 1
	}
	// Like Envoy's init manager, warm the cluster (a first round of health
	// checks) before the listeners accept: a new epoch must not answer
	// "no healthy upstream" while its parent still serves.
	f.checkOnce()
	lc := net.ListenConfig{Control: reusePort}
	for i := 0; dig(doc, "static_resources", "listeners", i) != nil; i++ {
		addr := sockAddr(dig(doc, "static_resources", "listeners", i, "address", "socket_address"))
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			fmt.Printf("[critical] error initializing configuration '%s': cannot bind '%s': Address already in use\n", f.configPath, addr)
			return 1
		}
		f.listeners = append(f.listeners, l)
		go http.Serve(l, http.HandlerFunc(f.proxy))
	}
	go f.healthCheck()
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "LIVE") })
	adminMux.HandleFunc("/server_info", f.serverInfo)
	adminMux.HandleFunc("/clusters", f.clusters)
	adminMux.HandleFunc("/stats", f.stats)
	adminMux.HandleFunc("/drain_listeners", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "This endpoint requires POST", http.StatusMethodNotAllowed)
			return
		}
		f.mu.Lock()
		for _, l := range f.listeners {
			l.Close()
		}
		f.mu.Unlock()
		fmt.Fprintln(w, "OK")
	})
	adminMux.HandleFunc("/fake_hot_restart/shutdown_admin", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getpid())
		w.(http.Flusher).Flush()
		go admin.Close()
	})
	go http.Serve(admin, adminMux)
	fmt.Printf("[info] starting main dispatch loop (epoch %d)\n", f.epoch)
	if parentPID > 0 {
		time.AfterFunc(f.parentShutdown, func() { syscall.Kill(parentPID, syscall.SIGTERM) })
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Printf("[warning] caught SIGTERM (epoch %d)\n", f.epoch)
	return 0
}

// readEDS re-reads the EDS file and returns the hosts it lists, keeping
// the counters of hosts already known.
func (f *fakeEnvoy) readEDS() []hostView {
	data, err := os.ReadFile(f.edsPath)
	var doc map[string]any
	if err != nil || yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hostView
	eps, _ := dig(doc, "resources", 0, "endpoints", 0, "lb_endpoints").([]any)
	for _, ep := range eps {
		addr := fmt.Sprint(dig(ep, "endpoint", "address", "pipe", "path"))
		h := f.hosts[addr]
		if h == nil {
			h = &fakeHost{address: addr}
			f.hosts[addr] = h
		}
		out = append(out, hostView{h, fmt.Sprint(dig(ep, "endpoint", "hostname")), fmt.Sprint(dig(ep, "health_status"))})
	}
	return out
}

func unixClient(path string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

func (f *fakeEnvoy) healthCheck() {
	for {
		time.Sleep(f.hcEvery)
		f.checkOnce()
	}
}

// checkOnce health-checks every host in the EDS file once.
func (f *fakeEnvoy) checkOnce() {
	for _, h := range f.readEDS() {
		f.attempts.Add(1)
		resp, err := unixClient(h.address, time.Second).Get("http://wsgi" + f.hcPath)
		ok := err == nil && resp.StatusCode < 500
		if resp != nil {
			resp.Body.Close()
		}
		h.healthy.Store(ok)
		h.checked.Store(true)
	}
}

func (f *fakeEnvoy) proxy(w http.ResponseWriter, r *http.Request) {
	f.rqTotal.Add(1)
	var best []hostView
	for _, h := range f.readEDS() {
		if h.edsStatus != "HEALTHY" || !h.checked.Load() || !h.healthy.Load() {
			continue
		}
		if len(best) == 0 || h.active.Load() < best[0].active.Load() {
			best = []hostView{h}
		} else if h.active.Load() == best[0].active.Load() {
			best = append(best, h)
		}
	}
	if len(best) == 0 {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		return
	}
	h := best[rand.Intn(len(best))]
	h.active.Add(1)
	h.total.Add(1)
	defer h.active.Add(-1)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: "wsgi"})
	rp.Transport = unixClient(h.address, 0).Transport
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		h.errors.Add(1)
		http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
	}
	rp.ServeHTTP(w, r)
}

func (f *fakeEnvoy) serverInfo(w http.ResponseWriter, r *http.Request) {
	json.NewEncoder(w).Encode(map[string]any{
		"version": strings.TrimPrefix(fakeVersionLine, "envoy  version: "),
		"state":   "LIVE",
		"command_line_options": map[string]any{
			"restart_epoch": f.epoch, "config_path": f.configPath,
		},
		"uptime_current_epoch": fmt.Sprintf("%ds", int(time.Since(f.started).Seconds())),
		"uptime_all_epochs":    fmt.Sprintf("%ds", int(time.Since(f.started).Seconds())),
	})
}

func (f *fakeEnvoy) flags(h hostView) []string {
	var fl []string
	if !h.checked.Load() {
		fl = append(fl, "pending_active_hc")
	} else if !h.healthy.Load() {
		fl = append(fl, "failed_active_hc")
	}
	if h.edsStatus == "DRAINING" {
		fl = append(fl, "eds_status_draining")
	}
	return fl
}

// clusters answers in proto JSON (uint64 as strings) or the text form.
func (f *fakeEnvoy) clusters(w http.ResponseWriter, r *http.Request) {
	hosts := f.readEDS()
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].address < hosts[j].address })
	if r.URL.Query().Get("format") == "json" {
		var hs []any
		for _, h := range hosts {
			health := map[string]any{"eds_health_status": "HEALTHY"}
			for _, fl := range f.flags(h) {
				switch fl {
				case "pending_active_hc":
					health["pending_active_hc"] = true
				case "failed_active_hc":
					health["failed_active_health_check"] = true
				case "eds_status_draining":
					health["eds_health_status"] = "DRAINING"
				}
			}
			hs = append(hs, map[string]any{
				"address":  map[string]any{"pipe": map[string]any{"path": h.address}},
				"hostname": h.hostname,
				"stats": []any{
					map[string]any{"name": "rq_total", "value": strconv.FormatInt(h.total.Load(), 10)},
					map[string]any{"name": "rq_active", "type": "GAUGE", "value": strconv.FormatInt(h.active.Load(), 10)},
					map[string]any{"name": "cx_connect_fail", "value": strconv.FormatInt(h.errors.Load(), 10)},
				},
				"health_status": health,
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"cluster_statuses": []any{map[string]any{"name": "wsgi", "host_statuses": hs}}})
		return
	}
	fmt.Fprintln(w, "wsgi::added_via_api::false")
	for _, h := range hosts {
		fmt.Fprintf(w, "wsgi::%s::rq_active::%d\n", h.address, h.active.Load())
		fmt.Fprintf(w, "wsgi::%s::rq_total::%d\n", h.address, h.total.Load())
		fmt.Fprintf(w, "wsgi::%s::hostname::%s\n", h.address, h.hostname)
		flags := "healthy"
		if fl := f.flags(h); len(fl) > 0 {
			flags = "/" + strings.Join(fl, "/")
		}
		fmt.Fprintf(w, "wsgi::%s::health_flags::%s\n", h.address, flags)
	}
}

func (f *fakeEnvoy) stats(w http.ResponseWriter, r *http.Request) {
	var active int64
	for _, h := range f.readEDS() {
		active += h.active.Load()
	}
	json.NewEncoder(w).Encode(map[string]any{"stats": []any{
		map[string]any{"name": "cluster.wsgi.health_check.attempt", "value": f.attempts.Load()},
		map[string]any{"name": "cluster.wsgi.upstream_rq_active", "value": active},
		map[string]any{"name": "http.ingress_http.downstream_rq_total", "value": f.rqTotal.Load()},
		map[string]any{"name": "http.ingress_http.downstream_rq_active", "value": active},
	}})
}
