package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// WriteFile writes data to path atomically (a temp file renamed into
// place) unless it already holds exactly data. Where this user may not
// write, it stages the file in a temp dir and installs it with
// `sudo -n install`.
func (r *Runner) WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode, out io.Writer) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		fmt.Fprintf(out, "%s is up to date\n", path)
		return nil
	}
	return r.staged(filepath.Base(path), data, mode, func(src string) error { return r.InstallFile(ctx, src, path, mode, out) })
}

// staged writes data to a file called name in a fresh private temp dir
// and hands its path to install.
func (r *Runner) staged(name string, data []byte, mode os.FileMode, install func(src string) error) error {
	dir, err := os.MkdirTemp("", "whisgee-write")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, name)
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return install(tmp)
}

// InstallFile moves src to dst with mode: a rename through a temp file in
// dst's directory, or `sudo -n install -D` where this user cannot write.
func (r *Runner) InstallFile(ctx context.Context, src, dst string, mode os.FileMode, out io.Writer) error {
	err := installLocal(src, dst, mode)
	if err == nil {
		fmt.Fprintf(out, "wrote %s\n", dst)
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) || r.IsRoot() {
		return err
	}
	return r.sudoInstall(ctx, src, dst, mode, out)
}

// sudoInstall is `sudo -n install -D -m MODE src dst`.
func (r *Runner) sudoInstall(ctx context.Context, src, dst string, mode os.FileMode, out io.Writer) error {
	argv := append(append([]string{}, r.opts.Sudo...), "install", "-D", "-m", fmt.Sprintf("%04o", mode), src, dst)
	fmt.Fprintf(out, "$ %s\n", QuoteArgv(argv))
	if err := r.exec(ctx, argv, nil, out); err != nil {
		return fmt.Errorf("writing %s needs root: %w", dst, err)
	}
	return nil
}

func installLocal(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".whisgee-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Rename moves a file aside, with `sudo -n mv` where this user cannot.
func (r *Runner) Rename(ctx context.Context, from, to string, out io.Writer) error {
	err := os.Rename(from, to)
	if err == nil {
		fmt.Fprintf(out, "moved %s to %s\n", from, to)
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) || r.IsRoot() {
		return err
	}
	return r.sudoRename(ctx, from, to, out)
}

// sudoRename is `sudo -n mv -- from to`.
func (r *Runner) sudoRename(ctx context.Context, from, to string, out io.Writer) error {
	argv := append(append([]string{}, r.opts.Sudo...), "mv", "--", from, to)
	return r.exec(ctx, argv, nil, out)
}

// tailWriter splits output into lines, hands each to emit, and keeps the
// last ones (and up to 256 KiB of text) to classify a failure with.
type tailWriter struct {
	mu      sync.Mutex
	emit    func(string)
	partial []byte
	lines   []string
	text    []byte
}

const tailKeep, textKeep = 200, 256 << 10

func newTailWriter(emit func(string)) *tailWriter { return &tailWriter{emit: emit} }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.text = append(t.text, p...)
	if len(t.text) > textKeep {
		t.text = t.text[len(t.text)-textKeep:]
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.line(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

func (t *tailWriter) line(l string) {
	l = strings.TrimRight(l, "\r")
	// Progress bars redraw with \r: keep what was drawn last.
	if i := strings.LastIndexByte(l, '\r'); i >= 0 {
		l = l[i+1:]
	}
	t.lines = append(t.lines, l)
	if len(t.lines) > tailKeep {
		t.lines = t.lines[len(t.lines)-tailKeep:]
	}
	t.emit(l)
}

// Flush emits a last line that had no newline.
func (t *tailWriter) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 {
		t.line(string(t.partial))
		t.partial = nil
	}
}

// Lines returns the last n lines.
func (t *tailWriter) Lines(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) < n {
		n = len(t.lines)
	}
	return append([]string(nil), t.lines[len(t.lines)-n:]...)
}

// Text is the output kept.
func (t *tailWriter) Text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.text)
}
