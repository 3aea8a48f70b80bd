package builtin

import (
	"os"
	"runtime"
	"sync"
)

// ProcsPerCPU is how many Go processors (GOMAXPROCS) the proxy's process
// runs per CPU the runtime would use by default.
//
// The relay is one goroutine per connection: each request parks twice on
// the netpoller and waits in a processor's run queue to be resumed. With
// GOMAXPROCS at the CPU count, a thread that the kernel preempts (wrk, the
// workers and everything else on the machine compete for the same CPUs)
// strands its processor and the goroutines queued on it until the thread
// runs again: that wait is the latency tail. With more processors than
// CPUs, the runnable goroutines move on another thread instead. Measured
// with scripts/bench-proxy.sh on 2 shared cores (GOMAXPROCS 2 -> 8): p99
// about 7 ms -> 4.5 ms, below haproxy's, at the same or higher req/s;
// 16 was no clearly better and cost more context switches.
const ProcsPerCPU = 4

// MaxRaisedProcs caps the raise. The stranded-queue tail is a small-host
// problem (few CPUs, shared); on a large host 4x the CPUs would only add
// idle threads and GC workers (the collector takes a quarter of the
// processors), so from 8 CPUs up the runtime's default stands.
const MaxRaisedProcs = 8

var procsOnce sync.Once

// RaiseProcs sets GOMAXPROCS to ProcsPerCPU times the runtime's default,
// at most MaxRaisedProcs (never below the default), once per process, unless the GOMAXPROCS environment variable is set (an
// operator's explicit choice wins). It returns the value in force. The
// daemon calls it when the built-in proxy runs in its process.
func RaiseProcs() int {
	procsOnce.Do(func() {
		if n := raisedProcs(runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n > 0 {
			runtime.GOMAXPROCS(n)
		}
	})
	return runtime.GOMAXPROCS(0)
}

// raisedProcs is the GOMAXPROCS to set given the runtime's current value
// and the GOMAXPROCS environment variable, or 0 to leave it.
func raisedProcs(current int, env string) int {
	if env != "" {
		return 0
	}
	current = max(current, 1)
	return max(current, min(ProcsPerCPU*current, MaxRaisedProcs))
}
