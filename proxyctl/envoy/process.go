package envoy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/probes/versions"
)

// process is one Envoy epoch: `envoy -c FILE --restart-epoch N`.
type process struct {
	epoch  int
	config string
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process was reaped
	err    error         // its exit, valid after done

	mu   sync.Mutex
	tail []string // its last output lines, for error messages
}

const tailLines = 20

// startProcess launches one epoch and reaps it in the background; its
// output goes line by line to log and into a short tail.
func startProcess(binary string, args []string, env []string, epoch int, configPath string, log io.Writer) (*process, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	// Own process group: a ctrl+c at whisgee's terminal must not reach
	// Envoy before whisgee drains it.
	// If whisgee dies without stopping it, Envoy goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w; install Envoy or set proxy.envoy.binary", binary, err)
	}
	p := &process{epoch: epoch, config: configPath, cmd: cmd, done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > tailLines {
				p.tail = p.tail[len(p.tail)-tailLines:]
			}
			p.mu.Unlock()
			if log != nil {
				fmt.Fprintf(log, "envoy[%d] %s\n", epoch, line)
			}
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it all first
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// alive reports whether the process still runs.
func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// lastLines is the tail of the output, the lines most likely to say why
// Envoy stopped.
func (p *process) lastLines(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tail
	if len(t) > n {
		t = t[len(t)-n:]
	}
	return strings.Join(t, " | ")
}

// exitReason says how the process ended, with its last output.
func (p *process) exitReason() string {
	reason := "exited"
	if p.err != nil {
		reason = p.err.Error()
	}
	if out := p.lastLines(3); out != "" {
		reason += ": " + out
	}
	return reason
}

// stop sends SIGTERM (Envoy exits at once on it) and SIGKILL if the
// process is still there after grace.
func (p *process) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// envoyArgs is the command line of one epoch.
func envoyArgs(configPath string, epoch, baseID int, drain, parentShutdown time.Duration) []string {
	return []string{
		"-c", configPath,
		"--restart-epoch", strconv.Itoa(epoch),
		"--base-id", strconv.Itoa(baseID),
		"--drain-time-s", strconv.Itoa(int(drain.Round(time.Second) / time.Second)),
		"--parent-shutdown-time-s", strconv.Itoa(int(parentShutdown.Round(time.Second) / time.Second)),
	}
}

// runValidate runs `envoy --mode validate -c FILE`: Envoy's own check,
// which knows every extension compiled in and reads the files it names.
func runValidate(ctx context.Context, binary, configPath string, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--mode", "validate", "-c", configPath)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("running %s --mode validate: %w", binary, err)
		}
		return fmt.Errorf("envoy --mode validate rejects %s: %s", configPath, lastNonEmpty(string(out), 3))
	}
	return nil
}

// EnvoyVersion runs `envoy --version` and parses it ("" when unknown).
func EnvoyVersion(ctx context.Context, binary string, env []string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--version")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return versions.ParseEnvoy(string(out))
}

func lastNonEmpty(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
