// Package supervisor runs and watches the worker processes. Supervisor is
// the one interface the daemon, `whisgee ctl` and the dashboard use; the
// built-in supervisor (Local, in circus's model: it binds the sockets and
// hands each worker its fd) and the client of a real circusd both implement
// it.
//
//	sup, err := supervisor.NewLocal(supervisor.Options{...})
//	err = sup.Start(ctx)            // binds sockets, spawns workers
//	err = sup.Restart(ctx, 2)       // drain, stop, respawn, health-check worker 2
//	err = sup.RollingRestart(ctx)   // the same, one worker at a time
package supervisor

import (
	"context"
	"errors"
	"time"
)

// Errors callers can test for with errors.Is.
var (
	// ErrUnknownWorker: no worker has that id.
	ErrUnknownWorker = errors.New("no such worker")
	// ErrInvalid: the request makes no sense (a negative count, a bad signal).
	ErrInvalid = errors.New("invalid request")
	// ErrBusy: another action is under way on that worker.
	ErrBusy = errors.New("busy")
	// ErrUnsupported: the engine cannot do this.
	ErrUnsupported = errors.New("not supported by this engine")
)

// State is where a worker is in its life.
type State string

// Worker states.
const (
	StateStarting State = "starting" // spawned, not yet healthy
	StateRunning  State = "running"  // serving
	StateDraining State = "draining" // no new requests; in-flight ones finish
	StateStopping State = "stopping" // stop signal sent, waiting for exit
	StateStopped  State = "stopped"  // stopped on purpose; not respawned
	StateBackoff  State = "backoff"  // crashed; respawn after a delay
	StateFailed   State = "failed"   // crashed too often; restart by hand
)

// Worker is one worker process as the supervisor sees it.
type Worker struct {
	// ID is the worker's number, stable across restarts (0, 1, 2, ...).
	ID int `json:"id"`
	// Name identifies the worker to humans, e.g. "worker-2" or "web.2".
	Name string `json:"name"`
	// PID of the current process, 0 when none runs.
	PID int `json:"pid"`
	// State is one of the State constants.
	State State `json:"state"`
	// Since is when the worker entered State.
	Since time.Time `json:"since"`
	// StartedAt is when the current process started (zero when none runs).
	StartedAt time.Time `json:"started_at"`
	// Restarts counts processes started after the first.
	Restarts int `json:"restarts"`
	// LastExit describes the last exit: "exit 0", "exit 1", "signal 9 (killed)".
	LastExit string `json:"last_exit,omitempty"`
	// LastExitCode is the last exit status (negative for a signal, as circus
	// reports it), valid when LastExit is set.
	LastExitCode int `json:"last_exit_code"`
	// CPUPercent is the process's CPU use over the last sample (100 = one core).
	CPUPercent float64 `json:"cpu_percent"`
	// RSSBytes is the process's resident memory.
	RSSBytes uint64 `json:"rss_bytes"`
	// Healthy reports the last health verdict (from the proxy's checks).
	Healthy bool `json:"healthy"`
	// Socket is the worker's listening address: a Unix socket path or HOST:PORT.
	Socket string `json:"socket"`
	// InFlight is the number of requests the proxy has outstanding on it.
	InFlight int64 `json:"in_flight"`
	// LastStderr holds the last stderr lines when the worker failed.
	LastStderr []string `json:"last_stderr,omitempty"`
	// Error explains StateFailed or StateBackoff in one line.
	Error string `json:"error,omitempty"`
}

// Uptime is how long the current process has run, zero when none runs.
func (w *Worker) Uptime(now time.Time) time.Duration {
	if w.PID == 0 || w.StartedAt.IsZero() {
		return 0
	}
	return now.Sub(w.StartedAt)
}

// Supervisor is what the daemon needs of a process manager.
type Supervisor interface {
	// Engine names the implementation: "builtin" or "circus".
	Engine() string
	// Workers lists the workers, ordered by ID.
	Workers(ctx context.Context) ([]Worker, error)
	// Restart safely restarts the given workers one after another: drain,
	// stop gracefully, start on the same socket, wait for health.
	Restart(ctx context.Context, ids ...int) error
	// RollingRestart restarts every worker, one at a time.
	RollingRestart(ctx context.Context) error
	// Scale sets the number of workers; removed workers drain first.
	Scale(ctx context.Context, n int) error
	// StopWorker stops a worker gracefully and keeps it stopped.
	StopWorker(ctx context.Context, id int) error
	// StartWorker starts a stopped or failed worker.
	StartWorker(ctx context.Context, id int) error
	// Signal sends sig to a worker's process.
	Signal(ctx context.Context, id int, sig string) error
	// Logs returns up to n of a worker's latest output lines.
	Logs(ctx context.Context, id int, n int) ([]LogLine, error)
	// Subscribe streams events and log lines until cancel is called.
	Subscribe() (events <-chan Event, cancel func())
}

// LogLine is one line a worker wrote.
type LogLine struct {
	// Seq is the Seq of the event that carried the line, to join a backlog
	// with a live stream without gaps or repeats.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Worker int       `json:"worker"`
	PID    int       `json:"pid"`
	// Stream is "stdout" or "stderr".
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// EventKind classifies an Event.
type EventKind string

// Event kinds.
const (
	EventSpawn   EventKind = "spawn"   // a process started
	EventExit    EventKind = "exit"    // a process ended (ExitCode, Message)
	EventState   EventKind = "state"   // a worker changed state
	EventHealth  EventKind = "health"  // the health verdict flipped
	EventDrain   EventKind = "drain"   // a worker is draining
	EventRestart EventKind = "restart" // a safe restart finished
	EventScale   EventKind = "scale"   // the worker count changed
	EventAction  EventKind = "action"  // an operator's action: what, result
	EventError   EventKind = "error"   // something went wrong
	EventLog     EventKind = "log"     // a log line (Log is set)
)

// Event is something that happened to the stack.
type Event struct {
	// Seq numbers events in the order they happened, from 1.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind EventKind `json:"kind"`
	// Worker is the worker concerned, -1 for the whole stack.
	Worker int `json:"worker"`
	PID    int `json:"pid,omitempty"`
	// State is the new state (EventState) or health ("healthy", EventHealth).
	State    string `json:"state,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	// Message says what happened in one line.
	Message string `json:"message"`
	// Log is set for EventLog.
	Log *LogLine `json:"log,omitempty"`
}

// Router is the proxy's side of a safe restart: the supervisor asks it to
// stop sending a worker new requests, waits for the worker to go idle and,
// after a respawn, for it to pass a health check. The built-in proxy and the
// Envoy engine (through its EDS file) implement it.
type Router interface {
	// SetWorkers replaces the set of workers traffic may go to.
	SetWorkers(ws []Backend)
	// SetDraining stops (true) or resumes (false) new requests to a worker.
	SetDraining(id int, draining bool)
	// InFlight is the number of requests outstanding on a worker.
	InFlight(id int) int64
	// WaitHealthy returns once the worker passed a health check.
	WaitHealthy(ctx context.Context, id int) error
	// Healthy reports the current health verdict of a worker.
	Healthy(id int) bool
}

// Backend is a worker as the proxy needs to know it.
type Backend struct {
	ID   int
	Name string
	// Network is "unix" or "tcp"; Address the socket path or HOST:PORT.
	Network string
	Address string
}
