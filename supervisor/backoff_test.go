package supervisor

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.5 }}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Delay(i); got != w*time.Millisecond {
			t.Fatalf("attempt %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

func TestBackoffJitterStaysWithinItsSpread(t *testing.T) {
	lo := Backoff{Initial: time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0 }}
	hi := lo
	hi.Rand = func() float64 { return 0.999999 }
	if got := lo.Delay(1); got != 1600*time.Millisecond {
		t.Fatalf("low jitter %v, want 1.6s", got)
	}
	if got := hi.Delay(1); got < 2399*time.Millisecond || got > 2400*time.Millisecond {
		t.Fatalf("high jitter %v, want ~2.4s", got)
	}
	capped := Backoff{Initial: time.Second, Max: 2 * time.Second, Rand: func() float64 { return 0.99 }}
	if got := capped.Delay(5); got > 2*time.Second {
		t.Fatalf("jitter went over the cap: %v", got)
	}
}

func TestCrashWindowCountsOnlyRecentCrashes(t *testing.T) {
	c := crashWindow{window: time.Minute, limit: 3}
	t0 := time.Unix(1000, 0)
	if c.add(t0) || c.add(t0.Add(10*time.Second)) {
		t.Fatal("flapping after two crashes")
	}
	// The first crash left the window: still two in the last minute.
	if c.add(t0.Add(65 * time.Second)) {
		t.Fatal("a crash outside the window was counted")
	}
	if !c.add(t0.Add(66 * time.Second)) {
		t.Fatal("three crashes within a minute not seen as flapping")
	}
}
