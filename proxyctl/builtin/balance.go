package builtin

import (
	"math"
	"time"
)

// pick chooses an eligible worker (healthy, not draining) not in
// exclude, and counts the request in its in-flight number before
// returning it. least_request takes the fewest outstanding requests,
// breaking ties from a random start; p2c compares two random workers.
// It returns nil when no worker is eligible.
//
// The in-flight count goes up before eligibility is checked again, so a
// concurrent SetDraining either sees the request (and waits for it) or
// the request sees the drain (and picks again): no request slips onto a
// worker that its supervisor believes idle.
func (c *clientConn) pick(exclude []*backend) *backend {
	list := *c.p.backends.Load()
	n := len(list)
	if n == 0 {
		return nil
	}
	p2c := c.s.p2c
	for tries := 0; tries < 4; tries++ {
		var best *backend
		if p2c && n > 2 {
			i := int(c.rand() % uint64(n))
			j := int(c.rand() % uint64(n-1))
			if j >= i {
				j++
			}
			a, b := list[i], list[j]
			okA := a.eligible() && !contains(exclude, a)
			okB := b.eligible() && !contains(exclude, b)
			switch {
			case okA && okB:
				best = a
				if b.inflight.Load() < a.inflight.Load() {
					best = b
				}
			case okA:
				best = a
			case okB:
				best = b
			}
		}
		if best == nil {
			start := int(c.rand() % uint64(n))
			load := int64(math.MaxInt64)
			for k := 0; k < n; k++ {
				b := list[(start+k)%n]
				if !b.eligible() || contains(exclude, b) {
					continue
				}
				if l := b.inflight.Load(); l < load {
					best, load = b, l
				}
			}
		}
		if best == nil {
			return nil
		}
		best.inflight.Add(1)
		if best.eligible() {
			return best
		}
		best.inflight.Add(-1)
	}
	return nil
}

func contains(list []*backend, b *backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// hold waits for a worker to become eligible, up to Options.HoldTimeout:
// while the only worker restarts, a request is better late than a 503.
func (c *clientConn) hold() *backend {
	p := c.p
	if p.closing.Load() {
		return nil
	}
	timer := time.NewTimer(p.opts.HoldTimeout)
	defer timer.Stop()
	for {
		changed := *p.changed.Load()
		if b := c.pick(nil); b != nil {
			return b
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil
		case <-p.ctx.Done():
			return nil
		}
	}
}
