package supervisor

import (
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential delay with jitter, after tailscale's
// util/backoff: the n-th retry waits about Initial·2ⁿ, never more than Max,
// spread by ±Jitter so that workers that crashed together do not all come
// back in the same millisecond.
type Backoff struct {
	// Initial is the first delay. If zero, 100ms.
	Initial time.Duration
	// Max caps the delay. If zero, 10s.
	Max time.Duration
	// Jitter is the relative spread, 0..1. If zero, 0.2.
	Jitter float64
	// Rand returns a float in [0,1). If nil, math/rand/v2.Float64.
	Rand func() float64
}

// Delay is the wait before retry number attempt (0 for the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	initial, maxDelay, jitter := b.Initial, b.Max, b.Jitter
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 10 * time.Second
	}
	if jitter <= 0 {
		jitter = 0.2
	}
	d := initial
	for i := 0; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	// Spread over [d·(1-jitter), d·(1+jitter)], capped again.
	spread := 1 + jitter*(2*r()-1)
	return min(time.Duration(float64(d)*spread), maxDelay)
}

// crashWindow counts crashes within a sliding window to detect flapping.
type crashWindow struct {
	window time.Duration
	limit  int
	times  []time.Time
}

// add records a crash at now and reports whether the limit is reached.
func (c *crashWindow) add(now time.Time) bool {
	keep := c.times[:0]
	for _, t := range c.times {
		if now.Sub(t) < c.window {
			keep = append(keep, t)
		}
	}
	c.times = append(keep, now)
	return len(c.times) >= c.limit
}

func (c *crashWindow) reset() { c.times = c.times[:0] }
