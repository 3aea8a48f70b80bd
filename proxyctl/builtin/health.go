package builtin

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// fastCheckInterval is how often a worker is checked while someone waits
// for it (WaitHealthy) or its health is not yet known: a restart should
// not wait a whole configured interval for its first verdict.
const fastCheckInterval = 50 * time.Millisecond

// checkState is a backend's active health checking.
type checkState struct {
	stop    chan struct{} // closed when the backend is removed
	kick    chan struct{} // a buffered nudge to check now
	waiters atomic.Int32  // WaitHealthy calls in progress
	started atomic.Uint64 // checks started, numbering them from 1

	// Owned by the loop.
	passes, fails int

	mu       sync.Mutex
	done     chan struct{} // closed and replaced after each check
	lastSeq  uint64        // the number of the last check finished
	lastPass bool
	reason   string // why the last check passed or failed
}

func (c *checkState) init() {
	c.stop = make(chan struct{})
	c.kick = make(chan struct{}, 1)
	c.done = make(chan struct{})
}

// checkLoop checks b until it is removed or the proxy closes.
func (p *Proxy) checkLoop(b *backend) {
	defer p.loops.Done()
	timer := time.NewTimer(0) // the first check at once
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-b.check.stop:
			return
		case <-b.check.kick:
		case <-timer.C:
		}
		hc := p.set.Load().health
		p.checkSafely(b, &hc)
		next := hc.Interval
		if b.check.waiters.Load() > 0 || b.health.Load() == healthUnknown {
			next = min(next, fastCheckInterval)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// checkSafely runs a check; a panic in it is logged, not fatal to the
// daemon, and the loop goes on.
func (p *Proxy) checkSafely(b *backend, hc *config.Health) {
	defer func() {
		if r := recover(); r != nil {
			p.logf("worker %d: health check panicked: %v", b.ID, r)
		}
	}()
	p.checkOnce(b, hc)
}

// checkOnce runs one check, updates the verdict after Rise passes or Fall
// failures in a row, and wakes whoever waits for a result.
func (p *Proxy) checkOnce(b *backend, hc *config.Health) {
	seq := b.check.started.Add(1)
	pass, reason := p.probe(b, hc)
	flip := int32(-1)
	if pass {
		b.check.fails = 0
		b.check.passes++
		if b.health.Load() != healthUp && b.check.passes >= hc.Rise {
			flip = healthUp
		}
	} else {
		b.check.passes = 0
		b.check.fails++
		// A new worker, too, needs Fall failures to be called unhealthy:
		// a slow import at startup is not yet a verdict (it gets no
		// traffic while unknown anyway).
		if b.health.Load() != healthDown && b.check.fails >= hc.Fall {
			flip = healthDown
		}
	}
	if flip >= 0 && !b.removed.Load() {
		b.health.Store(flip)
		if flip == healthUp {
			p.wakeHolders()
		}
		if p.opts.OnHealth != nil {
			p.opts.OnHealth(b.ID, flip == healthUp, reason)
		}
		p.logf("worker %d (%s) is %s: %s", b.ID, b.Address, map[bool]string{true: "healthy", false: "unhealthy"}[flip == healthUp], reason)
	}
	b.check.mu.Lock()
	b.check.lastSeq, b.check.lastPass, b.check.reason = seq, pass, reason
	close(b.check.done)
	b.check.done = make(chan struct{})
	b.check.mu.Unlock()
}

// probe sends one GET for the health path on a fresh connection: any
// status below 500 within the timeout passes.
func (p *Proxy) probe(b *backend, hc *config.Health) (bool, string) {
	ctx, cancel := context.WithTimeout(p.ctx, hc.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, b.Network, b.Address)
	if err != nil {
		return false, "connect: " + shortErr(err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	req := "GET " + hc.Path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: whisgee-health\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return false, "send: " + shortErr(err)
	}
	br := bufio.NewReaderSize(conn, 512)
	var h head
	if _, err := h.parseResponse(br, 64<<10, nil); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false, fmt.Sprintf("no response within %s", hc.Timeout)
		}
		return false, "response: " + shortErr(err)
	}
	verdict := "GET " + hc.Path + " -> " + strconv.Itoa(h.status)
	return h.status < 500, verdict
}

// WaitHealthy returns once worker id passed a health check that started
// after the call and its verdict is healthy: never on a stale verdict from
// a process that has since been replaced. While it waits the worker is
// checked every 50ms. It fails with ctx's error, saying why the last check
// failed, or at once for an unknown id.
func (p *Proxy) WaitHealthy(ctx context.Context, id int) error {
	b := p.backendByID(id)
	if b == nil {
		return fmt.Errorf("worker %d: %w (SetWorkers first)", id, supervisor.ErrUnknownWorker)
	}
	b.check.waiters.Add(1)
	defer b.check.waiters.Add(-1)
	after := b.check.started.Load()
	select {
	case b.check.kick <- struct{}{}:
	default:
	}
	for {
		b.check.mu.Lock()
		done, seq, pass, reason := b.check.done, b.check.lastSeq, b.check.lastPass, b.check.reason
		b.check.mu.Unlock()
		if seq > after && pass && b.health.Load() == healthUp {
			return nil
		}
		if b.removed.Load() {
			return fmt.Errorf("worker %d was removed while waiting for it to be healthy", id)
		}
		select {
		case <-done:
		case <-ctx.Done():
			if reason == "" {
				reason = "no check finished"
			}
			return fmt.Errorf("worker %d not healthy: %s: %w", id, reason, ctx.Err())
		case <-p.ctx.Done():
			return fmt.Errorf("worker %d: proxy closed", id)
		}
	}
}

// Healthy reports the current verdict of worker id.
func (p *Proxy) Healthy(id int) bool {
	b := p.backendByID(id)
	return b != nil && b.health.Load() == healthUp
}

// shortErr strips the "dial unix /path:" noise net errors carry.
func shortErr(err error) string {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
