// Package probes gathers facts: a process's CPU and memory from /proc, the
// host's identity, and health checks of workers over HTTP, Unix sockets or
// TCP. Nothing here changes anything.
package probes

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

var pageSize = uint64(os.Getpagesize())

// ProcSample is one reading of a process's counters.
type ProcSample struct {
	PID int
	// At is when the sample was taken.
	At time.Time
	// CPU is user+system time used so far.
	CPU time.Duration
	// RSS is resident memory in bytes.
	RSS uint64
}

// ReadProc samples a process from /proc (Linux only).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{PID: pid, At: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields we want come after its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := bytes.Fields(stat[i+1:])
	// After ')': state(3) ppid(4) ... utime(14) stime(15): indexes 11, 12.
	if len(fields) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: bad cpu times", pid)
	}
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	statm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return s, err
	}
	mf := bytes.Fields(statm)
	if len(mf) < 2 {
		return s, fmt.Errorf("/proc/%d/statm: unexpected format", pid)
	}
	pages, err := strconv.ParseUint(string(mf[1]), 10, 64)
	if err != nil {
		return s, fmt.Errorf("/proc/%d/statm: %w", pid, err)
	}
	s.RSS = pages * pageSize
	return s, nil
}

// CPUPercent is the CPU use between two samples of one process, where 100
// is one core busy the whole time.
func CPUPercent(prev, cur ProcSample) float64 {
	wall := cur.At.Sub(prev.At)
	if wall <= 0 || prev.PID != cur.PID || cur.CPU < prev.CPU {
		return 0
	}
	return float64(cur.CPU-prev.CPU) / float64(wall) * 100
}
