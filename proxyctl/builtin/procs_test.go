package builtin

import (
	"runtime"
	"sync"
	"testing"
)

func TestRaisedProcsLeavesAnExplicitGOMAXPROCS(t *testing.T) {
	cases := []struct {
		current int
		env     string
		want    int
	}{
		{2, "", 2 * ProcsPerCPU},
		{1, "", ProcsPerCPU},
		{0, "", ProcsPerCPU},    // never below one per CPU's worth
		{4, "", MaxRaisedProcs}, // capped
		{8, "", 8},              // a large host keeps the default
		{64, "", 64},
		{2, "2", 0}, // the operator's GOMAXPROCS stands
		{2, "16", 0},
	}
	for _, c := range cases {
		if got := raisedProcs(c.current, c.env); got != c.want {
			t.Errorf("raisedProcs(%d, %q) = %d, want %d", c.current, c.env, got, c.want)
		}
	}
}

func TestRaiseProcsRaisesOnce(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	before := runtime.GOMAXPROCS(0)
	procsOnce = sync.Once{}
	t.Cleanup(func() {
		runtime.GOMAXPROCS(before)
		procsOnce = sync.Once{}
	})
	got := RaiseProcs()
	if want := raisedProcs(before, ""); got != want {
		t.Fatalf("RaiseProcs() = %d with GOMAXPROCS %d before, want %d", got, before, want)
	}
	// A second engine in the same process (a reload) must not multiply again.
	if again := RaiseProcs(); again != got {
		t.Fatalf("second RaiseProcs() = %d, want %d unchanged", again, got)
	}
}
