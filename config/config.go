// Package config loads and validates whisgee.yaml, the one file that
// describes a stack: the Python app, its workers, the proxy in front of them
// and the control socket the daemon listens on.
//
// Load reads a file, rejects unknown keys and bad values with errors that
// name the line and what to write instead, and fills every setting that was
// left out with its documented default:
//
//	cfg, err := config.Load("whisgee.yaml")
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err) // whisgee.yaml:7: workers.count: ...
//	}
package config

import (
	"time"
)

// Config is a whole stack. The zero value of every field means "use the
// default", documented on each field.
type Config struct {
	App        App        `yaml:"app"`
	Workers    Workers    `yaml:"workers"`
	Proxy      Proxy      `yaml:"proxy"`
	Control    Control    `yaml:"control"`
	Supervisor Supervisor `yaml:"supervisor"`
	// RunDir holds the workers' sockets and logs. If empty, the directory
	// of the control socket.
	RunDir string `yaml:"run_dir"`
	// Demo settings, used by `whisgee demo` only.
	Demo Demo `yaml:"demo"`

	// Path is the file the config was loaded from, if any. Relative paths
	// in the file are resolved against its directory.
	Path string `yaml:"-"`
}

// App is the WSGI application the workers serve.
type App struct {
	// Module is the WSGI callable as "module:attribute", e.g. "app:application".
	// Required unless workers.cmd is set.
	Module string `yaml:"module"`
	// Dir is the working directory of the workers, put on the Python path.
	// If empty, the directory of the config file.
	Dir string `yaml:"dir"`
	// Python is the interpreter, e.g. a venv's bin/python. If empty, python3 on PATH.
	Python string `yaml:"python"`
	// Env is added to the workers' environment.
	Env map[string]string `yaml:"env"`
}

// Workers describes the worker processes and how they are supervised.
type Workers struct {
	// Count is how many workers run. If zero, 4. Set 0 explicitly with Scale.
	Count int `yaml:"count"`
	// Server is the WSGI server the runner uses: auto, bjoern, chaussette,
	// waitress or wsgiref. If empty, auto (the best one importable).
	Server string `yaml:"server"`
	// Cmd, if set, is run instead of the Python runner. It is an argv: a YAML
	// list, or a string split on spaces (quotes group words; no shell runs
	// it). "{fd}" becomes the inherited socket's fd number, "{socket}" its
	// path, "{id}" the worker id.
	Cmd Argv `yaml:"cmd"`
	// Socket is the kind of socket each worker listens on: unix (default,
	// one Unix socket per worker in the run directory) or tcp (a loopback
	// port per worker).
	Socket string `yaml:"socket"`
	// StopSignal ends a worker gracefully. If empty, INT: bjoern finishes
	// active connections on SIGINT, while SIGTERM kills it at once.
	StopSignal string `yaml:"stop_signal"`
	// GracefulTimeout bounds a drain and a graceful stop; SIGKILL follows.
	// If zero, 30s.
	GracefulTimeout time.Duration `yaml:"graceful_timeout"`
	// Backoff is the respawn delay after a crash, doubling from Initial to
	// Max with jitter. If zero, 100ms and 10s.
	Backoff Backoff `yaml:"backoff"`
	// CrashLoop marks a worker failed after MaxCrashes exits within Window.
	CrashLoop CrashLoop `yaml:"crash_loop"`
	// Health is the active health check of each worker.
	Health Health `yaml:"health"`
	// Env is added to every worker's environment (after app.env).
	Env map[string]string `yaml:"env"`
	// LogLines is the size of each worker's in-memory log ring. If zero, 1000.
	LogLines int `yaml:"log_lines"`
	// LogDir, if set, also appends each worker's output to LogDir/worker-N.log.
	LogDir string `yaml:"log_dir"`
}

// Backoff is a capped exponential backoff.
type Backoff struct {
	// Initial is the first delay. If zero, 100ms.
	Initial time.Duration `yaml:"initial"`
	// Max caps the delay. If zero, 10s.
	Max time.Duration `yaml:"max"`
}

// CrashLoop is the flapping rule.
type CrashLoop struct {
	// MaxCrashes within Window marks a worker failed. If zero, 5.
	MaxCrashes int `yaml:"max_crashes"`
	// Window is the period crashes are counted in. If zero, 60s.
	Window time.Duration `yaml:"window"`
}

// Health is an active HTTP health check.
type Health struct {
	// Path is requested with GET; any status below 500 passes. If empty, "/".
	Path string `yaml:"path"`
	// Interval between checks. If zero, 2s.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one check. If zero, 1s.
	Timeout time.Duration `yaml:"timeout"`
	// Rise is how many passes in a row make a worker healthy. If zero, 1.
	Rise int `yaml:"rise"`
	// Fall is how many failures in a row make it unhealthy. If zero, 2.
	Fall int `yaml:"fall"`
}

// Proxy is the reverse proxy in front of the workers.
type Proxy struct {
	// Engine is builtin (default) or envoy.
	Engine string `yaml:"engine"`
	// Listen is the plain HTTP listener. If empty, 127.0.0.1:8080.
	// "off" disables it (then tls.listen is required).
	Listen string `yaml:"listen"`
	// TLS is the optional HTTPS listener.
	TLS TLS `yaml:"tls"`
	// Admin is the admin endpoint, loopback only. If empty, 127.0.0.1:9901.
	// "off" disables it.
	Admin string `yaml:"admin"`
	// Balance is least_request (default) or p2c (power of two choices).
	Balance string `yaml:"balance"`
	// Retries is how many other workers an idempotent request is retried on
	// when the connection failed before any response byte. If zero, 2;
	// -1 disables retries.
	Retries int `yaml:"retries"`
	// MaxHeaderBytes bounds a request's headers. If zero, 64KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body. If zero, 16MiB; -1 is unlimited.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	// If zero, 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle client connections. If zero, 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// UpstreamTimeout bounds the wait for a worker's response headers.
	// If zero, 60s.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	// RequestIDHeader is set on each request if absent. If empty, X-Request-Id.
	RequestIDHeader string `yaml:"request_id_header"`
	// Envoy configures the envoy engine.
	Envoy Envoy `yaml:"envoy"`
}

// TLS is an HTTPS listener terminating TLS 1.2+.
type TLS struct {
	// Listen is the HTTPS address. Empty means no HTTPS listener.
	Listen string `yaml:"listen"`
	// Cert and Key are PEM files. Both empty with SelfSigned set generates
	// a self-signed certificate for demos.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// SelfSigned generates a certificate when Cert and Key are empty.
	SelfSigned bool `yaml:"self_signed"`
}

// Envoy configures Envoy as the proxy engine.
type Envoy struct {
	// Binary is the envoy executable. If empty, envoy on PATH.
	Binary string `yaml:"binary"`
	// ConfigDir receives the rendered bootstrap and EDS files. If empty,
	// RunDir/envoy.
	ConfigDir string `yaml:"config_dir"`
	// RedirectHTTP makes the plain listener redirect to HTTPS.
	RedirectHTTP bool `yaml:"redirect_http"`
	// BaseID is Envoy's --base-id: it names the shared memory and domain
	// sockets of hot restart, so two Envoys on one host need different
	// ones. If zero, 0 (Envoy's default).
	BaseID int `yaml:"base_id"`
	// DrainTime is how long an old epoch drains its listeners during a hot
	// restart (--drain-time-s). If zero, 30s.
	DrainTime time.Duration `yaml:"drain_time"`
	// ParentShutdownTime is when the new epoch stops the old one
	// (--parent-shutdown-time-s); it must exceed DrainTime. If zero, 45s.
	ParentShutdownTime time.Duration `yaml:"parent_shutdown_time"`
	// StartTimeout bounds how long Envoy may take to report LIVE on
	// /ready after a start or hot restart. If zero, 30s.
	StartTimeout time.Duration `yaml:"start_timeout"`
}

// Control is the daemon's control API.
type Control struct {
	// Socket is the Unix socket (mode 0600) of the control API, in a
	// directory only this user may change (whisgee creates it 0700).
	// If empty, /run/whisgee/control.sock when root, else
	// $XDG_RUNTIME_DIR/whisgee/control.sock, else ~/.whisgee/control.sock.
	Socket string `yaml:"socket"`
}

// Supervisor selects the process manager.
type Supervisor struct {
	// Engine is builtin (default) or circus.
	Engine string `yaml:"engine"`
	// Endpoint is circusd's control endpoint, e.g. tcp://127.0.0.1:5555.
	Endpoint string `yaml:"endpoint"`
	// PubSub is circusd's pubsub endpoint. If empty, derived from Endpoint
	// (port + 1), as circus does by default.
	PubSub string `yaml:"pubsub"`
	// Watcher is the circus watcher that runs the workers. If empty, "web".
	Watcher string `yaml:"watcher"`
	// CircusEndpoint, if set, makes the built-in supervisor also serve
	// circus's control protocol on this loopback endpoint
	// (e.g. tcp://127.0.0.1:5555), so circusctl scripts keep working.
	CircusEndpoint string `yaml:"circus_endpoint"`
}

// Demo configures the demo's traffic generator.
type Demo struct {
	// Traffic starts the built-in traffic generator.
	Traffic bool `yaml:"traffic"`
	// Rate is its request rate per second. If zero, 50.
	Rate int `yaml:"rate"`
	// CrashEvery is how often, while traffic runs, one request asks a
	// worker to kill itself, so a respawn shows. If zero, 30s.
	CrashEvery time.Duration `yaml:"crash_every"`
}
