package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// facts are what the checks found out, for the status header.
type facts struct {
	python string // "/usr/bin/python3 3.11.2"
	server string // the WSGI server the runner chose, or "cmd"
}

// preflight fails fast, with one line that says what to fix, on what would
// otherwise make every worker crash-loop: a missing interpreter or command,
// or an app that does not import.
func preflight(ctx context.Context, cfg *config.Config, runner string) (facts, error) {
	var f facts
	py, err := supervisor.ResolveCommand(cfg)
	if err != nil {
		return f, err
	}
	if len(cfg.Workers.Cmd) > 0 {
		f.server = "cmd"
		return f, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, runner, "--check", "--app", cfg.App.Module, "--dir", cfg.App.Dir, "--server", cfg.Workers.Server)
	cmd.Dir = cfg.App.Dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return f, fmt.Errorf("app.module: cannot start %s with %s in %s: %s; check app.module, app.dir and app.python", cfg.App.Module, py, cfg.App.Dir, lastLine(stderr.String(), err))
	}
	f.server = strings.TrimSpace(out.String())
	if v, err := exec.CommandContext(ctx, py, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])").Output(); err == nil {
		f.python = py + " " + strings.TrimSpace(string(v))
	} else {
		f.python = py
	}
	return f, nil
}

// lastLine picks the line of a Python traceback that says what went wrong.
func lastLine(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "whisgee-runner[") {
			continue
		}
		return strings.TrimPrefix(l, "whisgee-runner: ")
	}
	return err.Error()
}
