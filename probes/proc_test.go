package probes

import (
	"os"
	"testing"
	"time"
)

func TestReadProcSeesThisProcessWorking(t *testing.T) {
	a, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS < 1<<20 {
		t.Fatalf("RSS %d bytes: a Go test binary uses more than 1 MiB", a.RSS)
	}
	// Burn CPU until the kernel's 10ms tick accounts some of it.
	deadline := time.Now().Add(2 * time.Second)
	var b ProcSample
	for x := 0; time.Now().Before(deadline); x++ {
		if x%1000000 == 0 {
			if b, err = ReadProc(os.Getpid()); err != nil {
				t.Fatal(err)
			}
			if b.CPU-a.CPU >= 50*time.Millisecond {
				break
			}
		}
	}
	if b.CPU-a.CPU < 50*time.Millisecond {
		t.Fatalf("CPU time did not grow while spinning: %v -> %v", a.CPU, b.CPU)
	}
	if p := CPUPercent(a, b); p <= 0 || p > 250 {
		t.Fatalf("CPU%% = %.1f while spinning on a 2-core machine", p)
	}
}

func TestReadProcOfAMissingProcess(t *testing.T) {
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("no error for a pid that cannot exist")
	}
}
