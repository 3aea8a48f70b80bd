package builtin

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// Health verdicts of a backend, stored in backend.health.
const (
	healthUnknown int32 = iota
	healthUp
	healthDown
)

// maxIdlePerBackend caps the idle pooled connections kept per worker.
const maxIdlePerBackend = 128

// upstreamIdleMax drops pooled connections idle this long: servers close
// idle keep-alive connections on their own schedule (the runner after 65s),
// and a connection they closed is a failed request waiting to happen.
const upstreamIdleMax = 30 * time.Second

// backend is one worker as the proxy sees it: its pool of idle keep-alive
// connections, its load and health, and its stats. Fields read on the hot
// path are atomics; the pool has its own small lock (per worker, never
// global).
type backend struct {
	supervisor.Backend

	inflight atomic.Int64
	draining atomic.Bool
	removed  atomic.Bool
	health   atomic.Int32 // healthUnknown, healthUp, healthDown

	counters stats.Counters

	mu   sync.Mutex
	idle []*upConn

	// Health-check state, owned by the check loop except where noted.
	check checkState
}

// eligible reports whether new requests may go to b.
func (b *backend) eligible() bool {
	return b.health.Load() == healthUp && !b.draining.Load() && !b.removed.Load()
}

// upConn is a keep-alive connection to a worker with its own buffers,
// which live as long as the connection, so a request allocates none.
type upConn struct {
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	b        *backend
	lastUsed time.Time
	rdl, wdl deadline
}

// get pops the most recently used idle connection, or nil. Connections
// idle past upstreamIdleMax are closed instead of returned.
func (b *backend) get(now time.Time) *upConn {
	for {
		b.mu.Lock()
		n := len(b.idle)
		if n == 0 {
			b.mu.Unlock()
			return nil
		}
		uc := b.idle[n-1]
		b.idle[n-1] = nil
		b.idle = b.idle[:n-1]
		b.mu.Unlock()
		if now.Sub(uc.lastUsed) < upstreamIdleMax {
			return uc
		}
		uc.close()
	}
}

// put returns a connection to the pool, or closes it when the worker is
// draining or gone (its process is about to exit) or the pool is full.
func (b *backend) put(uc *upConn, now time.Time) {
	uc.lastUsed = now
	b.mu.Lock()
	if b.draining.Load() || b.removed.Load() || len(b.idle) >= maxIdlePerBackend {
		b.mu.Unlock()
		uc.close()
		return
	}
	b.idle = append(b.idle, uc)
	b.mu.Unlock()
}

// closeIdle closes every idle pooled connection.
func (b *backend) closeIdle() {
	b.mu.Lock()
	idle := b.idle
	b.idle = nil
	b.mu.Unlock()
	for _, uc := range idle {
		uc.close()
	}
}

func (uc *upConn) close() {
	uc.conn.Close()
	uc.b.counters.ConnClose()
}

// deadline sets a connection's deadline at most about once a second:
// setting one re-arms a runtime timer, too costly for every request on a
// busy keep-alive connection. A deadline is thus honoured within 1s.
type deadline struct{ at time.Time }

const deadlineSlack = time.Second

// due reports whether the deadline must be moved so that it lies in
// [now+d-slack, now+d], and to when; the caller then sets it.
func (dl *deadline) due(now time.Time, d time.Duration) (time.Time, bool) {
	target := now.Add(d)
	if !dl.at.After(target) && target.Sub(dl.at) < deadlineSlack {
		return target, false
	}
	dl.at = target
	return target, true
}

// clear forgets the deadline so the next want sets it.
func (dl *deadline) clear() { dl.at = time.Time{} }
