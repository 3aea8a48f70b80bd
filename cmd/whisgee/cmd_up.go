package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/daemon"
	"github.com/whisgee/whisgee/supervisor"
)

// runUp is `whisgee up`: run the stack in the foreground until SIGINT or
// SIGTERM; a second signal stops the workers without waiting.
func runUp(ctx context.Context, args []string) error {
	fs := newFlags("up", "[-c FILE] [--quiet] [--logs]")
	cfgPath := fs.String("c", "whisgee.yaml", "config `file`")
	quiet := fs.Bool("quiet", false, "print nothing but errors")
	logs := fs.Bool("logs", false, "also print the workers' output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; the config file goes after -c", fs.Arg(0))}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	return upWith(ctx, cfg, os.Stdout, *quiet, *logs)
}

// upWith runs a daemon for cfg until ctx ends, printing events to out.
func upWith(ctx context.Context, cfg *config.Config, out io.Writer, quiet, logs bool) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	d, err := daemon.New(cfg, daemon.Options{
		Version: version,
		Logf:    func(f string, a ...any) { fmt.Fprintf(os.Stderr, "whisgee up: "+f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	events, cancel := d.Hub().Subscribe(4096)
	defer cancel()
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range events {
			if quiet || (ev.Kind == supervisor.EventLog && !logs) {
				continue
			}
			fmt.Fprintln(out, formatEvent(ev))
		}
	}()
	if err := d.Start(ctx); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(out, "whisgee up: serving %s; control socket %s; Ctrl+C stops\n", proxyURLs(cfg), cfg.Control.Socket)
	}
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-hups:
			// SIGHUP re-reads the config, as operators expect of a daemon.
			msg, err := d.Reload(ctx)
			if err != nil {
				fmt.Fprintf(os.Stderr, "whisgee up: reload: %v\n", err)
			} else if !quiet {
				fmt.Fprintln(out, "whisgee up: "+msg)
			}
		}
	}
	// Give workers their graceful timeout; a second signal cuts it short.
	stopCtx, stopNow := context.WithTimeout(context.Background(), cfg.Workers.GracefulTimeout+10*time.Second)
	defer stopNow()
	go func() {
		n := 0
		for range sigs {
			if n++; n >= 2 {
				fmt.Fprintln(os.Stderr, "whisgee up: second signal: killing the workers")
				stopNow()
				return
			}
		}
	}()
	err = d.Stop(stopCtx)
	cancel()
	<-printed
	return err
}

func proxyURLs(cfg *config.Config) string {
	s := ""
	if cfg.Proxy.Listen != "off" {
		s = "http://" + cfg.Proxy.Listen
	}
	if cfg.Proxy.TLS.Listen != "" {
		if s != "" {
			s += " and "
		}
		s += "https://" + cfg.Proxy.TLS.Listen
	}
	if cfg.Proxy.Admin != "off" {
		s += " (admin http://" + cfg.Proxy.Admin + ")"
	}
	return s
}

// formatEvent renders an event as one line for a terminal or a log file.
func formatEvent(ev supervisor.Event) string {
	return fmt.Sprintf("%s %-7s %s", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Message)
}
