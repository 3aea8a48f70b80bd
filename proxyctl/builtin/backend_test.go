package builtin

import (
	"testing"
	"time"
)

func TestDeadlinesMoveOnlyPastTheSlack(t *testing.T) {
	var dl deadline
	t0 := time.Unix(1000, 0)
	if _, ok := dl.due(t0, time.Minute); !ok {
		t.Fatal("the first deadline must be set")
	}
	if _, ok := dl.due(t0.Add(500*time.Millisecond), time.Minute); ok {
		t.Fatal("moved by 0.5s of a 60s timeout: within the 1s slack, no need to set")
	}
	if at, ok := dl.due(t0.Add(1500*time.Millisecond), time.Minute); !ok || at != t0.Add(61500*time.Millisecond) {
		t.Fatal("moved by 1.5s: must be set")
	}
	// A short timeout gets a proportionally short slack.
	if _, ok := dl.due(t0.Add(2*time.Second), 800*time.Millisecond); !ok {
		t.Fatal("a shorter timeout must pull the deadline in")
	}
	if _, ok := dl.due(t0.Add(2*time.Second+50*time.Millisecond), 800*time.Millisecond); ok {
		t.Fatal("50ms of an 800ms timeout is within its 100ms slack")
	}
	if _, ok := dl.due(t0.Add(2*time.Second+150*time.Millisecond), 800*time.Millisecond); !ok {
		t.Fatal("150ms is past the 100ms slack")
	}
}
