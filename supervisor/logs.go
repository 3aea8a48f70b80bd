package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/whisgee/whisgee/internal/safefs"
)

// maxLine caps one log line; longer ones are cut, so a worker printing
// megabytes without a newline cannot grow the ring without bound.
const maxLine = 16 << 10

// logRing keeps a worker's last lines (stdout and stderr) and optionally
// appends them to a file.
type logRing struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
	file  string
	f     *os.File
}

// logFile is where a worker's output goes in workers.log_dir ("" for none).
func logFile(dir, worker string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, worker+".log")
}

// makeLogDir creates workers.log_dir if it is set: without it the log
// files could not be opened, and a worker's output would only be in memory.
// Like run_dir, it must be a directory no other user can change: the
// daemon appends to files there.
func makeLogDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := safefs.EnsureDir(dir, safefs.Policy{Mode: 0o750}); err != nil {
		return fmt.Errorf("workers.log_dir: %w", err)
	}
	return nil
}

func newLogRing(n int) *logRing {
	if n <= 0 {
		n = 1000
	}
	return &logRing{lines: make([]LogLine, n)}
}

func (r *logRing) add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	if r.file != "" {
		if r.f == nil {
			// Never through a symlink: output must not be appended to
			// whatever file a link there names.
			f, err := os.OpenFile(r.file, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o640)
			if err != nil {
				r.file = "" // give up the file, keep the ring: logs must never stop a worker
				return
			}
			r.f = f
		}
		_, _ = r.f.WriteString(l.Time.Format("2006-01-02T15:04:05.000Z07:00") + " " + l.Stream + " " + l.Text + "\n")
	}
}

// last returns up to n lines, oldest first.
func (r *logRing) last(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.lines)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]LogLine, 0, n)
	for i := size - n; i < size; i++ {
		idx := i
		if r.full {
			idx = (r.next + i) % len(r.lines)
		}
		out = append(out, r.lines[idx])
	}
	return out
}

// lastStderr returns the texts of up to n latest stderr lines.
func (r *logRing) lastStderr(n int) []string {
	all := r.last(0)
	var out []string
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		if all[i].Stream == "stderr" {
			out = append(out, all[i].Text)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// resize keeps the last n lines (n <= 0: 1000) in a ring of n.
func (r *logRing) resize(n int) {
	if n <= 0 {
		n = 1000
	}
	keep := r.last(n)
	r.mu.Lock()
	defer r.mu.Unlock()
	grown := newLogRing(n)
	copy(grown.lines, keep)
	r.lines, r.next, r.full = grown.lines, len(keep)%len(grown.lines), len(keep) == len(grown.lines)
}

// setFile appends from now on to file ("" for none), closing the old one.
func (r *logRing) setFile(file string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.file = file
}

func (r *logRing) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// readLines calls each for every line read from rd until EOF, cutting
// lines longer than maxLine.
func readLines(rd io.Reader, each func(string)) {
	br := bufio.NewReaderSize(rd, 4096)
	var long []byte
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if len(long) < maxLine {
				long = append(long, chunk[:min(len(chunk), maxLine-len(long))]...)
			}
			continue
		case len(chunk) > 0 || len(long) > 0:
			line := append(long, chunk...)
			if len(line) > maxLine {
				line = line[:maxLine]
			}
			n := len(line)
			for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
				n--
			}
			each(string(line[:n]))
			long = long[:0]
		}
		if err != nil {
			return
		}
	}
}
