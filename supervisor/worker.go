package supervisor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/probes"
)

// worker is one worker slot: a socket that lives as long as the slot, and
// the process currently serving it (if any). Guarded by Local.mu.
type worker struct {
	id    int
	name  string
	sock  *socket
	proc  *proc
	state State
	since time.Time
	// gen changes on every deliberate action, so that a respawn scheduled
	// before the action does not fire after it.
	gen uint64
	// driven is set while an action (restart, stop, start, scale) drives
	// the worker: exits are then the action's business, not crashes.
	driven       bool
	restarts     int
	started      bool // a process has run at least once
	lastExit     string
	lastExitCode int
	err          string
	crashes      crashWindow
	attempt      int // backoff attempt since the last healthy start
	logs         *logRing
	// spec, while a reload moves this worker to new settings, is what its
	// processes run (respawns included); nil means Local.cfg.
	spec *config.Config
}

// proc is one process of a worker.
type proc struct {
	pid     int
	process *os.Process
	started time.Time
	// done is closed once the process was reaped.
	done chan struct{}
	// drained is closed once both output pipes reached EOF; pumping
	// counts the pipes still being read.
	drained chan struct{}
	pumping atomic.Int32
	// expected marks an exit the supervisor asked for (not a crash).
	expected bool
	// stopSig, if set, is the signal this process was told stops it
	// gracefully (the runner's --stop-signal), named stopName.
	stopSig  syscall.Signal
	stopName string
	cpu      float64
	rss      uint64
	last     probes.ProcSample
}

func (w *worker) pid() int {
	if w.proc == nil {
		return 0
	}
	return w.proc.pid
}

func (w *worker) status(r Router) Worker {
	st := Worker{
		ID:           w.id,
		Name:         w.name,
		State:        w.state,
		Since:        w.since,
		Restarts:     w.restarts,
		LastExit:     w.lastExit,
		LastExitCode: w.lastExitCode,
		Socket:       w.sock.address,
		Error:        w.err,
		InFlight:     r.InFlight(w.id),
	}
	if w.proc != nil {
		st.PID = w.proc.pid
		st.StartedAt = w.proc.started
		st.CPUPercent = w.proc.cpu
		st.RSSBytes = w.proc.rss
		st.Healthy = r.Healthy(w.id) && w.state != StateStarting
	}
	if w.state == StateFailed || w.state == StateBackoff {
		st.LastStderr = w.logs.lastStderr(10)
	}
	return st
}

// socket is a worker's listening socket, held by the supervisor so that it
// outlives the worker's processes: while a worker restarts, connections
// wait in the backlog instead of being refused.
type socket struct {
	network string
	address string
	ln      net.Listener
	file    *os.File // a dup of the listener's fd, passed to each process
}

// bindSocket opens worker id's socket: a Unix socket in the run directory
// (mode 0600), or a loopback TCP port.
func bindSocket(cfg *config.Config, id int) (*socket, error) {
	s := &socket{network: cfg.Workers.Socket}
	var err error
	switch s.network {
	case "tcp":
		s.ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("worker %d socket: %w", id, err)
		}
		s.address = s.ln.Addr().String()
	default:
		s.network = "unix"
		s.address = filepath.Join(cfg.RunDir, fmt.Sprintf("worker-%d.sock", id))
		if len(s.address) > 104 {
			return nil, fmt.Errorf("worker socket path %s is %d bytes, over the 104 a Unix socket allows; set run_dir to a shorter path", s.address, len(s.address))
		}
		// A file left by a crashed daemon would make bind fail: nothing can
		// be listening on it, since the control socket guards the run dir.
		_ = os.Remove(s.address)
		s.ln, err = net.Listen("unix", s.address)
		if err != nil {
			return nil, fmt.Errorf("worker %d socket %s: %w", id, s.address, err)
		}
		if err := os.Chmod(s.address, 0o600); err != nil {
			s.ln.Close()
			return nil, fmt.Errorf("worker %d socket: %w", id, err)
		}
	}
	type filer interface{ File() (*os.File, error) }
	s.file, err = s.ln.(filer).File()
	if err != nil {
		s.ln.Close()
		return nil, fmt.Errorf("worker %d socket: %w", id, err)
	}
	return s, nil
}

func (s *socket) close() {
	if s.file != nil {
		s.file.Close()
	}
	if s.ln != nil {
		s.ln.Close() // a Unix listener unlinks its file on close
	}
}
