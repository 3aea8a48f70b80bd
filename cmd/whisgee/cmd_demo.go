package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/daemon"
	"github.com/whisgee/whisgee/internal/safefs"
)

// demoSettings are `whisgee demo`'s own flags.
type demoSettings struct {
	dir       string
	workers   int
	rate      int
	noTraffic bool
}

// runDemo is `whisgee demo`: the demo app on the built-in engines with its
// traffic generator, and the dashboard on top. Quitting the dashboard stops
// everything; without --dir the run directory goes too.
func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "[--dir DIR] [--workers N] [--rate N] [--no-traffic] [--readonly] [--plain]")
	var d demoSettings
	fs.StringVar(&d.dir, "dir", "", "keep the run directory (config, sockets, logs) in `DIR` instead of a temporary one")
	fs.IntVar(&d.workers, "workers", 4, "number of workers")
	fs.IntVar(&d.rate, "rate", 50, "the traffic generator's requests per second (`[` and `]` change it live)")
	fs.BoolVar(&d.noTraffic, "no-traffic", false, "start with the traffic generator off (`t` turns it on)")
	var s dashSettings
	s.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; the demo takes only flags", fs.Arg(0))}
	}
	if d.workers < 1 || d.workers > 64 {
		return usageError{fmt.Sprintf("--workers %d: use 1 to 64", d.workers)}
	}
	if d.rate < 1 || d.rate > 100000 {
		return usageError{fmt.Sprintf("--rate %d: use 1 to 100000 requests per second", d.rate)}
	}
	if err := s.check(); err != nil {
		return err
	}
	return demoWith(ctx, d, s)
}

func demoWith(ctx context.Context, d demoSettings, s dashSettings) (err error) {
	dir, removeDir, err := demoDir(d.dir)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := removeDir(); err == nil {
			err = rerr
		}
	}()
	cfg, err := writeDemo(dir, d)
	if err != nil {
		return err
	}
	// The dashboard owns the terminal: the daemon's own messages go to a
	// file in the run directory.
	logf, closeLog, err := demoLog(filepath.Join(dir, "whisgee.log"))
	if err != nil {
		return err
	}
	defer closeLog()
	dmn, err := daemon.New(cfg, daemon.Options{Version: version, Logf: logf})
	if err != nil {
		return err
	}
	if err := dmn.Start(ctx); err != nil {
		return fmt.Errorf("%w (the daemon's log is %s)", err, filepath.Join(dir, "whisgee.log"))
	}
	defer func() {
		// Stop the stack whatever happened to the dashboard; a second
		// Ctrl+C is not needed: the demo's graceful timeout is short.
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Workers.GracefulTimeout+10*time.Second)
		defer cancel()
		if serr := dmn.Stop(stopCtx); err == nil {
			err = serr
		}
	}()
	c := newDashClient(cfg.Control.Socket)
	defer c.Close()
	if s.plain || d.dir != "" {
		fmt.Fprintf(os.Stderr, "whisgee demo: run directory %s; try `whisgee ctl -c %s status`\n", dir, cfg.Path)
	}
	return showDash(ctx, c, c.Actor, s)
}

// demoDir returns the run directory and how to clean it up: a kept --dir
// loses only what a run leaves that is no use afterwards (sockets are the
// daemon's to remove); a temporary one goes whole.
func demoDir(keep string) (string, func() error, error) {
	if keep != "" {
		abs, err := filepath.Abs(keep)
		if err != nil {
			return "", nil, err
		}
		// It is the demo's run directory: this user's alone, or refused.
		if err := safefs.EnsureDir(abs, safefs.Private); err != nil {
			return "", nil, fmt.Errorf("--dir: %w", err)
		}
		return abs, func() error { return nil }, nil
	}
	// A short path: Unix socket paths must stay under ~100 bytes.
	dir, err := os.MkdirTemp("", "wgdemo")
	if err != nil {
		return "", nil, err
	}
	return dir, func() error { return os.RemoveAll(dir) }, nil
}

// writeDemo writes the demo app and its whisgee.yaml into dir, on free
// loopback ports, and loads the config back as `whisgee up` would.
func writeDemo(dir string, d demoSettings) (*config.Config, error) {
	appDir := filepath.Join(dir, "app")
	if _, err := assets.WriteFile(appDir, "demoapp.py", assets.DemoApp(), 0o644); err != nil {
		return nil, err
	}
	listen, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	admin, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "control.sock")
	if len(sock) > 100 {
		return nil, fmt.Errorf("--dir %s is too deep: its socket paths would pass the 100 bytes a Unix socket allows; use a shorter path", dir)
	}
	yaml := fmt.Sprintf(`# whisgee demo: the demo app (%s) on the built-in proxy and supervisor.
# Written by `+"`whisgee demo`"+`; run it again with `+"`whisgee up -c %s`"+`.
app:
  module: demoapp:application
  dir: %s
workers:
  count: %d
  # Short, so quitting the demo is quick.
  graceful_timeout: 5s
  health:
    path: /health
    interval: 1s
proxy:
  listen: %s
  admin: %s
control:
  socket: %s
run_dir: %s
demo:
  traffic: %t
  rate: %d
`, "demoapp.py", filepath.Join(dir, "whisgee.yaml"), appDir, d.workers, listen, admin, sock, dir, !d.noTraffic, d.rate)
	path, err := assets.WriteFile(dir, "whisgee.yaml", []byte(yaml), 0o600)
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

// freeLoopbackPort asks the kernel for a loopback port nobody uses now.
// Another process could take it before the daemon binds it; the daemon
// then says the address is in use, and running the demo again picks anew.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("no free loopback port for the demo: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// demoLog opens the daemon's log file and returns a Logf writing to it.
func demoLog(path string) (func(string, ...any), func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var w io.Writer = f
	logf := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		line := fmt.Sprintf(format, a...)
		fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05.000"), strings.TrimRight(line, "\n"))
	}
	return logf, func() {
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			fmt.Fprintln(os.Stderr, "whisgee demo:", err)
		}
	}, nil
}
