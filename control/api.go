// Package control is the daemon's API: JSON over HTTP on a Unix socket
// (mode 0600). `whisgee ctl`, the dashboard and scripts all use it, so
// anything the dashboard can do, a script can do too:
//
//	c := control.NewClient("/run/whisgee/control.sock")
//	st, err := c.Status(ctx)
//	err = c.Restart(ctx, control.RestartRequest{IDs: []int{2}})
//	events, err := c.Events(ctx, 0, true) // replay, then follow
//
// Routes:
//
//	GET  /v1/status                       Status
//	POST /v1/restart   {"ids":[2],"rolling":false}
//	POST /v1/scale     {"count":6}
//	POST /v1/reload                       re-read the config file
//	POST /v1/workers/{id}/stop | /start
//	POST /v1/workers/{id}/signal {"signal":"HUP"}
//	GET  /v1/workers/{id}/logs?n=100[&follow=1]   NDJSON of LogLine
//	GET  /v1/events?since=SEQ[&follow=1]          NDJSON of Event
//	POST /v1/traffic   {"enabled":true,"rate":100} (demo traffic generator)
//
// Errors come back as {"error": "one line"} with a 4xx or 5xx status.
package control

import (
	"time"

	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// Status is the whole stack at one moment.
type Status struct {
	Daemon  Daemon              `json:"daemon"`
	Workers []supervisor.Worker `json:"workers"`
	// Proxy is nil when the proxy's stats could not be read; ProxyError
	// then says why.
	Proxy      *stats.Snapshot `json:"proxy"`
	ProxyError string          `json:"proxy_error,omitempty"`
	// Traffic is the demo traffic generator, nil when there is none.
	Traffic *Traffic `json:"traffic,omitempty"`
}

// Daemon describes the running `whisgee up`.
type Daemon struct {
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"started_at"`
	// Version is whisgee's own version.
	Version string `json:"version"`
	// Config is the path of the config file.
	Config string `json:"config"`
	// Supervisor and Proxy name the engines: "builtin", "circus", "envoy".
	Supervisor string `json:"supervisor"`
	Proxy      string `json:"proxy"`
	// ProxyVersion is the proxy's version; LatestProxy the newest release
	// known ("" or "unknown" when it could not be had).
	ProxyVersion string `json:"proxy_version,omitempty"`
	LatestProxy  string `json:"latest_proxy,omitempty"`
	// Python is the workers' interpreter and its version.
	Python string `json:"python,omitempty"`
	// Server is the WSGI server the runner chose (or "cmd").
	Server string `json:"server,omitempty"`
	// Listen, TLSListen and Admin are the proxy's addresses.
	Listen    string `json:"listen,omitempty"`
	TLSListen string `json:"tls_listen,omitempty"`
	Admin     string `json:"admin,omitempty"`
}

// Traffic is the state of the demo's traffic generator.
type Traffic struct {
	Enabled bool `json:"enabled"`
	// Rate is the target in requests per second.
	Rate int `json:"rate"`
	// Sent and Failed count requests since the generator started; Failed
	// are connection errors (a 5xx answer is a response, not a failure).
	Sent   uint64 `json:"sent"`
	Failed uint64 `json:"failed"`
}

// RestartRequest asks for safe restarts: of IDs one after another, or of
// every worker one at a time when Rolling is set.
type RestartRequest struct {
	IDs     []int `json:"ids,omitempty"`
	Rolling bool  `json:"rolling,omitempty"`
}

// ScaleRequest sets the number of workers.
type ScaleRequest struct {
	Count int `json:"count"`
}

// SignalRequest sends a signal to a worker.
type SignalRequest struct {
	Signal string `json:"signal"`
}

// TrafficRequest changes the traffic generator; nil fields stay as they are.
type TrafficRequest struct {
	Enabled *bool `json:"enabled,omitempty"`
	Rate    *int  `json:"rate,omitempty"`
}

// Result reports how an action went.
type Result struct {
	// Message says what was done, in one line.
	Message string `json:"message"`
	// Took is how long the action ran.
	Took time.Duration `json:"took"`
}

// ErrorBody is the JSON of an error reply.
type ErrorBody struct {
	Error string `json:"error"`
}

// ActorHeader names who asks for an action ("ctl", "dash", a script's
// name), for the audit line in the events.
const ActorHeader = "X-Whisgee-Actor"
