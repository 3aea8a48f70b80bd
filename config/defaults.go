package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Servers the Python runner can use for workers.server.
var servers = []string{"auto", "bjoern", "chaussette", "waitress", "wsgiref"}

var moduleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// complete fills defaults, resolves relative paths and rejects impossible
// settings. lines maps dotted keys to the line they were set on.
func (c *Config) complete(file string, lines map[string]int) error {
	bad := func(key, format string, a ...any) error {
		return &Error{File: file, Line: lines[key], Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	base := "."
	if c.Path != "" {
		base = filepath.Dir(c.Path)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}

	// app
	if c.App.Module != "" && !moduleRE.MatchString(c.App.Module) {
		return bad("app.module", "want \"module:attribute\" like app:application, got %q", c.App.Module)
	}
	if c.App.Module == "" && len(c.Workers.Cmd) == 0 {
		return bad("app.module", "missing; name the WSGI callable as app.module: \"module:attribute\", or set workers.cmd")
	}
	if c.App.Dir == "" {
		c.App.Dir = base
	}
	c.App.Dir = abs(c.App.Dir)
	if c.App.Python == "" {
		c.App.Python = "python3"
	} else if strings.ContainsRune(c.App.Python, '/') {
		c.App.Python = abs(c.App.Python)
	}

	// workers
	if _, set := lines["workers.count"]; set && c.Workers.Count < 1 {
		return bad("workers.count", "want at least 1, got %d", c.Workers.Count)
	}
	if c.Workers.Count == 0 {
		c.Workers.Count = 4
	}
	if c.Workers.Count > 1024 {
		return bad("workers.count", "want at most 1024, got %d", c.Workers.Count)
	}
	if c.Workers.Server == "" {
		c.Workers.Server = "auto"
	}
	if !contains(servers, c.Workers.Server) {
		return bad("workers.server", "want one of %s, got %q", strings.Join(servers, ", "), c.Workers.Server)
	}
	if _, set := lines["workers.cmd"]; set && len(c.Workers.Cmd) == 0 && c.App.Module == "" {
		return bad("workers.cmd", "empty command; give an argv or remove the key")
	}
	switch c.Workers.Socket {
	case "":
		c.Workers.Socket = "unix"
	case "unix", "tcp":
	default:
		return bad("workers.socket", "want unix or tcp, got %q", c.Workers.Socket)
	}
	if c.Workers.StopSignal == "" {
		c.Workers.StopSignal = "INT"
	}
	if _, err := ParseSignal(c.Workers.StopSignal); err != nil {
		return bad("workers.stop_signal", "%v", err)
	}
	def(&c.Workers.GracefulTimeout, 30*time.Second)
	def(&c.Workers.Backoff.Initial, 100*time.Millisecond)
	def(&c.Workers.Backoff.Max, 10*time.Second)
	if c.Workers.Backoff.Max < c.Workers.Backoff.Initial {
		return bad("workers.backoff.max", "must be at least backoff.initial (%s)", c.Workers.Backoff.Initial)
	}
	defInt(&c.Workers.CrashLoop.MaxCrashes, 5)
	def(&c.Workers.CrashLoop.Window, 60*time.Second)
	if c.Workers.Health.Path == "" {
		c.Workers.Health.Path = "/"
	}
	if !strings.HasPrefix(c.Workers.Health.Path, "/") {
		return bad("workers.health.path", "want a path starting with /, got %q", c.Workers.Health.Path)
	}
	def(&c.Workers.Health.Interval, 2*time.Second)
	def(&c.Workers.Health.Timeout, time.Second)
	defInt(&c.Workers.Health.Rise, 1)
	defInt(&c.Workers.Health.Fall, 2)
	defInt(&c.Workers.LogLines, 1000)
	c.Workers.LogDir = abs(c.Workers.LogDir)

	// proxy
	switch c.Proxy.Engine {
	case "":
		c.Proxy.Engine = "builtin"
	case "builtin", "envoy":
	default:
		return bad("proxy.engine", "want builtin or envoy, got %q", c.Proxy.Engine)
	}
	if c.Proxy.Listen == "" {
		c.Proxy.Listen = "127.0.0.1:8080"
	}
	if c.Proxy.Listen != "off" {
		if err := checkHostPort(c.Proxy.Listen); err != nil {
			return bad("proxy.listen", "%v", err)
		}
	}
	if c.Proxy.TLS.Listen != "" {
		if err := checkHostPort(c.Proxy.TLS.Listen); err != nil {
			return bad("proxy.tls.listen", "%v", err)
		}
		if (c.Proxy.TLS.Cert == "") != (c.Proxy.TLS.Key == "") {
			return bad("proxy.tls.cert", "set both cert and key, or neither with self_signed: true")
		}
		if c.Proxy.TLS.Cert == "" && !c.Proxy.TLS.SelfSigned {
			return bad("proxy.tls.listen", "no certificate; set tls.cert and tls.key, or self_signed: true for a demo")
		}
	}
	if c.Proxy.Listen == "off" && c.Proxy.TLS.Listen == "" {
		return bad("proxy.listen", "both listeners are off; set proxy.listen or proxy.tls.listen")
	}
	c.Proxy.TLS.Cert = abs(c.Proxy.TLS.Cert)
	c.Proxy.TLS.Key = abs(c.Proxy.TLS.Key)
	if c.Proxy.Admin == "" {
		c.Proxy.Admin = "127.0.0.1:9901"
	}
	if c.Proxy.Admin != "off" {
		if err := checkLoopback(c.Proxy.Admin); err != nil {
			return bad("proxy.admin", "%v", err)
		}
	}
	switch c.Proxy.Balance {
	case "":
		c.Proxy.Balance = "least_request"
	case "least_request", "p2c":
	default:
		return bad("proxy.balance", "want least_request or p2c, got %q", c.Proxy.Balance)
	}
	if c.Proxy.Retries == 0 {
		c.Proxy.Retries = 2
	} else if c.Proxy.Retries < -1 {
		return bad("proxy.retries", "want -1 (off) or more, got %d", c.Proxy.Retries)
	}
	defInt(&c.Proxy.MaxHeaderBytes, 64<<10)
	if c.Proxy.MaxBodyBytes == 0 {
		c.Proxy.MaxBodyBytes = 16 << 20
	}
	def(&c.Proxy.ReadHeaderTimeout, 10*time.Second)
	def(&c.Proxy.IdleTimeout, 60*time.Second)
	def(&c.Proxy.UpstreamTimeout, 60*time.Second)
	if c.Proxy.RequestIDHeader == "" {
		c.Proxy.RequestIDHeader = "X-Request-Id"
	}
	c.Proxy.Envoy.ConfigDir = abs(c.Proxy.Envoy.ConfigDir)
	if c.Proxy.Envoy.BaseID < 0 {
		return bad("proxy.envoy.base_id", "want 0 or more, got %d", c.Proxy.Envoy.BaseID)
	}
	def(&c.Proxy.Envoy.DrainTime, 30*time.Second)
	def(&c.Proxy.Envoy.ParentShutdownTime, 45*time.Second)
	def(&c.Proxy.Envoy.StartTimeout, 30*time.Second)
	if c.Proxy.Envoy.ParentShutdownTime <= c.Proxy.Envoy.DrainTime {
		return bad("proxy.envoy.parent_shutdown_time", "must be longer than drain_time (%s): the old epoch must finish draining before it is stopped", c.Proxy.Envoy.DrainTime)
	}
	if c.Proxy.Engine == "envoy" && c.Proxy.Admin == "off" {
		return bad("proxy.admin", "the envoy engine needs its admin endpoint to drain and watch workers; set proxy.admin: 127.0.0.1:9901")
	}

	// supervisor
	switch c.Supervisor.Engine {
	case "":
		c.Supervisor.Engine = "builtin"
	case "builtin":
	case "circus":
		if c.Supervisor.Endpoint == "" {
			return bad("supervisor.engine", "the circus engine needs supervisor.endpoint, e.g. tcp://127.0.0.1:5555")
		}
	default:
		return bad("supervisor.engine", "want builtin or circus, got %q", c.Supervisor.Engine)
	}
	for _, ep := range []struct{ key, value string }{
		{"supervisor.endpoint", c.Supervisor.Endpoint},
		{"supervisor.pubsub", c.Supervisor.PubSub},
		{"supervisor.circus_endpoint", c.Supervisor.CircusEndpoint},
	} {
		if ep.value != "" && !strings.HasPrefix(ep.value, "tcp://") && !strings.HasPrefix(ep.value, "ipc://") {
			return bad(ep.key, "want tcp://HOST:PORT or ipc://PATH, got %q", ep.value)
		}
	}
	if c.Supervisor.CircusEndpoint != "" && strings.HasPrefix(c.Supervisor.CircusEndpoint, "tcp://") {
		if err := checkLoopback(strings.TrimPrefix(c.Supervisor.CircusEndpoint, "tcp://")); err != nil {
			return bad("supervisor.circus_endpoint", "%v", err)
		}
	}
	if c.Supervisor.Watcher == "" {
		c.Supervisor.Watcher = "web"
	}

	// control and run dir
	if c.Control.Socket == "" {
		sock, err := DefaultControlSocket()
		if err != nil {
			return bad("control.socket", "%v", err)
		}
		c.Control.Socket = sock
	}
	c.Control.Socket = abs(c.Control.Socket)
	if len(c.Control.Socket) > 100 {
		// sun_path holds 108 bytes; leave room rather than fail at bind.
		return bad("control.socket", "path is %d bytes, over the 100 a Unix socket allows; use a shorter path", len(c.Control.Socket))
	}
	if c.RunDir == "" {
		c.RunDir = filepath.Dir(c.Control.Socket)
	}
	c.RunDir = abs(c.RunDir)
	if c.Proxy.Envoy.ConfigDir == "" {
		c.Proxy.Envoy.ConfigDir = filepath.Join(c.RunDir, "envoy")
	}

	if c.Demo.Rate == 0 {
		c.Demo.Rate = 50
	}
	def(&c.Demo.CrashEvery, 30*time.Second)
	if c.Demo.Rate < 0 {
		return bad("demo.rate", "want a positive rate per second, got %d", c.Demo.Rate)
	}
	return nil
}

// DefaultControlSocket is where the daemon listens when the config names no
// socket: /run/whisgee for root, else the user's runtime directory, else a
// directory in the user's home (~/.whisgee). Never a predictable name in a
// shared /tmp: another user could create it first.
func DefaultControlSocket() (string, error) {
	return defaultControlSocket(os.Geteuid(), os.Getenv)
}

func defaultControlSocket(euid int, getenv func(string) string) (string, error) {
	if euid == 0 {
		return "/run/whisgee/control.sock", nil
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		if p := filepath.Join(d, "whisgee", "control.sock"); len(p) <= 100 {
			return p, nil
		}
	}
	home := getenv("HOME")
	fix := "set control.socket in whisgee.yaml to a path in a directory of your own, or set XDG_RUNTIME_DIR"
	if home == "" || !filepath.IsAbs(home) {
		return "", fmt.Errorf("no default: XDG_RUNTIME_DIR is not set and HOME (%q) is not an absolute path; %s", home, fix)
	}
	p := filepath.Join(home, ".whisgee", "control.sock")
	if len(p) > 100 {
		return "", fmt.Errorf("no default: %s would be %d bytes, over the 100 a Unix socket allows; %s", p, len(p), fix)
	}
	return p, nil
}

// ParseSignal accepts INT, SIGINT, int, 2 and the like.
func ParseSignal(s string) (syscall.Signal, error) {
	names := map[string]syscall.Signal{
		"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "QUIT": syscall.SIGQUIT,
		"HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1,
		"USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH,
	}
	u := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := names[u]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 32 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("want a signal name like INT, TERM or QUIT, got %q", s)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT like 127.0.0.1:8080, got %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("want a port from 0 to 65535, got %q", port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("want an IP address or localhost, got %q", host)
	}
	return nil
}

// checkLoopback refuses control endpoints that other hosts could reach.
func checkLoopback(addr string) error {
	if err := checkHostPort(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("must listen on loopback (127.0.0.1:PORT), got %q", addr)
	}
	return nil
}

func def(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

func defInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
