package circus

import (
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture whisgee runs on.
const clockTicks = 100

// procStat is what /proc tells about a process, for circus's stats reply.
type procStat struct {
	cpuTime    time.Duration // user + system
	nice       int
	vms, rss   uint64
	createTime float64 // epoch seconds
	username   string
	cmdline    string // basename of argv[0], as circus shows it
}

// readProc reads /proc/PID; ok is false when the process is gone.
func readProc(pid int) (procStat, bool) {
	var ps procStat
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return ps, false
	}
	// The command name in parentheses may hold spaces: split after it.
	s := string(stat)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return ps, false
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 22 {
		return ps, false
	}
	atoi := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	ps.cpuTime = time.Duration(atoi(11)+atoi(12)) * time.Second / clockTicks
	nice, _ := strconv.Atoi(f[16])
	ps.nice = nice
	ps.vms = atoi(20)
	ps.rss = atoi(21) * uint64(os.Getpagesize())
	if bt := bootTime(); bt > 0 {
		ps.createTime = math.Round((bt+float64(atoi(19))/clockTicks)*100) / 100
	}
	if uid := strings.Fields(lineValue(filepath.Join(dir, "status"), "Uid:")); len(uid) > 0 {
		ps.username = uid[0]
		if u, err := user.LookupId(uid[0]); err == nil {
			ps.username = u.Username
		}
	}
	if cl, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cl) > 0 {
		ps.cmdline = filepath.Base(strings.SplitN(string(cl), "\x00", 2)[0])
	}
	return ps, true
}

// bootTime is the system's boot time in epoch seconds, from /proc/stat.
func bootTime() float64 {
	n, _ := strconv.ParseFloat(lineValue("/proc/stat", "btime "), 64)
	return n
}

// memTotal is the machine's memory in bytes, from /proc/meminfo.
func memTotal() uint64 {
	kb, _ := strconv.ParseUint(strings.TrimSuffix(lineValue("/proc/meminfo", "MemTotal:"), " kB"), 10, 64)
	return kb * 1024
}

// lineValue is the rest of the first line of a file that starts with
// prefix, trimmed; "" if there is none.
func lineValue(path, prefix string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// bytes2human writes a size as psutil's bytes2human does ("27.82M").
func bytes2human(n uint64) string {
	const symbols = "KMGTPEZY"
	for i := len(symbols) - 1; i >= 0; i-- {
		unit := uint64(1) << (10 * (i + 1))
		if i < 6 && n >= unit {
			return fmt.Sprintf("%.2f%c", float64(n)/float64(unit), symbols[i])
		}
	}
	return fmt.Sprintf("%dB", n)
}

// circusCTime formats CPU time as circus does: minutes (mod 60), seconds
// and the first two digits of the microseconds ("0:00.22").
func circusCTime(d time.Duration) string {
	secs := int64(d / time.Second)
	micros := int64(d%time.Second) / int64(time.Microsecond)
	return fmt.Sprintf("%d:%02d.%s", secs/60%60, secs%60, firstTwo(strconv.FormatInt(micros, 10)))
}

func firstTwo(s string) string {
	if len(s) > 2 {
		return s[:2]
	}
	return s
}
