package supervisor

import (
	"sync"
	"time"
)

// Hub fans events out to subscribers and keeps the recent ones for late
// joiners. Publishing never blocks: a subscriber that falls more than its
// buffer behind misses events (Dropped counts them) rather than stalling
// the stack. Log lines are delivered live but not kept in the history
// (workers keep their own log rings).
type Hub struct {
	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	mu      sync.Mutex
	seq     uint64
	history []Event
	next    int
	full    bool
	subs    map[*hubSub]struct{}
}

type hubSub struct {
	ch      chan Event
	dropped uint64
}

// NewHub keeps the last keep events (if zero, 1000).
func NewHub(keep int) *Hub {
	if keep <= 0 {
		keep = 1000
	}
	return &Hub{history: make([]Event, keep), subs: map[*hubSub]struct{}{}}
}

// Publish numbers ev, stamps it if it has no time, keeps it and sends it to
// every subscriber. It returns the event as sent.
func (h *Hub) Publish(ev Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	if ev.Time.IsZero() {
		if h.Now != nil {
			ev.Time = h.Now()
		} else {
			ev.Time = time.Now()
		}
	}
	if ev.Log != nil {
		ev.Log.Seq = ev.Seq
	}
	if ev.Kind != EventLog {
		h.history[h.next] = ev
		h.next = (h.next + 1) % len(h.history)
		if h.next == 0 {
			h.full = true
		}
	}
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped++
		}
	}
	return ev
}

// Since returns the kept events with Seq > since, oldest first.
func (h *Hub) Since(since uint64) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sinceLocked(since)
}

func (h *Hub) sinceLocked(since uint64) []Event {
	var out []Event
	start, n := 0, h.next
	if h.full {
		start, n = h.next, len(h.history)
	}
	for i := 0; i < n; i++ {
		ev := h.history[(start+i)%len(h.history)]
		if ev.Seq > since {
			out = append(out, ev)
		}
	}
	return out
}

// Subscribe returns a channel of new events (buffered; size 0 means 1024)
// and a cancel func that closes it.
func (h *Hub) Subscribe(buffer int) (<-chan Event, func()) {
	_, ch, cancel := h.SubscribeSince(^uint64(0), buffer)
	return ch, cancel
}

// SubscribeSince atomically takes the kept events after since and
// subscribes to newer ones, so nothing falls between the two.
func (h *Hub) SubscribeSince(since uint64, buffer int) ([]Event, <-chan Event, func()) {
	if buffer <= 0 {
		buffer = 1024
	}
	s := &hubSub{ch: make(chan Event, buffer)}
	h.mu.Lock()
	past := h.sinceLocked(since)
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			close(s.ch)
		})
	}
	return past, s.ch, cancel
}

// Last is the sequence number of the newest event.
func (h *Hub) Last() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}
