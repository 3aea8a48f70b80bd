package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/safefs"
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
	// dev and ino identify the Unix socket's file as bound, to notice it
	// was removed or replaced (see fresh).
	dev, ino uint64
}

// bindSocket opens worker id's socket: a Unix socket in the run directory
// (mode 0600, bound under umask 077), or a loopback TCP port.
func bindSocket(cfg *config.Config, id int) (*socket, error) {
	if cfg.Workers.Socket == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("worker %d socket: %w", id, err)
		}
		return newSocket("tcp", ln.Addr().String(), ln, id)
	}
	address := filepath.Join(cfg.RunDir, fmt.Sprintf("worker-%d.sock", id))
	if len(address) > 104 {
		return nil, fmt.Errorf("worker socket path %s is %d bytes, over the 104 a Unix socket allows; set run_dir to a shorter path", address, len(address))
	}
	return bindUnix(address, id)
}

// bindUnix binds a Unix socket at address, replacing whatever is there:
// the run directory is this daemon's alone (checked and locked), so a file
// there is a crashed daemon's leftover or its own stale socket.
func bindUnix(address string, id int) (*socket, error) {
	if err := os.Remove(address); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("worker %d socket %s: %w", id, address, err)
	}
	ln, err := safefs.ListenUnix(address, 0o600)
	if err != nil {
		return nil, fmt.Errorf("worker %d socket %s: %w", id, address, err)
	}
	// The file is unlinked by close, and only while it is still this one.
	ln.SetUnlinkOnClose(false)
	s, err := newSocket("unix", address, ln, id)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(address, &st); err != nil {
		s.close()
		return nil, fmt.Errorf("worker %d socket %s: %w", id, address, err)
	}
	s.dev, s.ino = st.Dev, st.Ino
	return s, nil
}

func newSocket(network, address string, ln net.Listener, id int) (*socket, error) {
	type filer interface{ File() (*os.File, error) }
	file, err := ln.(filer).File()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("worker %d socket: %w", id, err)
	}
	return &socket{network: network, address: address, ln: ln, file: file}, nil
}

// fresh reports whether the socket's file is still the one bound: a Unix
// socket whose file was removed (an operator's rm, a temp cleaner) or
// replaced is unreachable, and a process started on it would serve nobody.
func (s *socket) fresh() bool {
	if s.network != "unix" {
		return true
	}
	var st syscall.Stat_t
	return syscall.Lstat(s.address, &st) == nil && st.Dev == s.dev && st.Ino == s.ino && st.Mode&syscall.S_IFMT == syscall.S_IFSOCK
}

func (s *socket) close() {
	if s.file != nil {
		s.file.Close()
	}
	if s.ln != nil {
		if s.network == "unix" && s.fresh() {
			os.Remove(s.address)
		}
		s.ln.Close()
	}
}
