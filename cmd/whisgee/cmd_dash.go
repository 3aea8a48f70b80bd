package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/charmbracelet/x/term"

	"github.com/whisgee/whisgee/control"
	dashui "github.com/whisgee/whisgee/tui/dash"
)

// dashSettings are the dashboard flags `dash` and `demo` share.
type dashSettings struct {
	readOnly bool
	plain    bool
	refresh  time.Duration
	every    time.Duration
	count    int
}

func (s *dashSettings) flags(fs *flag.FlagSet) {
	fs.BoolVar(&s.readOnly, "readonly", false, "watch only: every action is off")
	fs.BoolVar(&s.plain, "plain", false, "print a plain summary every --every instead of the dashboard (the default when stdout is not a terminal)")
	fs.DurationVar(&s.refresh, "refresh", time.Second, "time between the dashboard's updates")
	fs.DurationVar(&s.every, "every", 5*time.Second, "time between plain summaries")
	fs.IntVar(&s.count, "count", 0, "plain summaries to print before exiting (0: until interrupted)")
}

func (s *dashSettings) check() error {
	if s.refresh < 100*time.Millisecond {
		return usageError{fmt.Sprintf("--refresh %s is too fast; use 100ms or more (1s is the default)", s.refresh)}
	}
	if s.every < 100*time.Millisecond {
		return usageError{fmt.Sprintf("--every %s is too fast; use 100ms or more", s.every)}
	}
	if s.count < 0 {
		return usageError{"--count must be 0 (forever) or more"}
	}
	return nil
}

// runDash is `whisgee dash`: the live dashboard attached to a running
// `whisgee up`. It is a client of the control socket, so quitting it leaves
// the stack running.
func runDash(ctx context.Context, args []string) error {
	fs := newFlags("dash", "[-c FILE | --socket PATH] [--readonly] [--plain] [--refresh 1s]")
	var target ctlTarget
	target.flags(fs)
	var s dashSettings
	s.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; name the stack with -c FILE or --socket PATH", fs.Arg(0))}
	}
	if err := s.check(); err != nil {
		return err
	}
	socket, err := target.resolve()
	if err != nil {
		return err
	}
	c := newDashClient(socket)
	defer c.Close()
	// Fail at once with what to do when nothing runs there; once attached,
	// the dashboard rides out a daemon restart by itself.
	if _, err := c.Status(ctx); err != nil {
		return err
	}
	return showDash(ctx, c, s)
}

// newDashClient is a control client whose actions the audit trail credits
// to this dashboard process.
func newDashClient(socket string) *control.Client {
	c := control.NewClient(socket)
	c.Actor = "dash-" + strconv.Itoa(os.Getpid())
	return c
}

// showDash runs the dashboard in the terminal, or the plain summary when
// asked or when stdout is not a terminal.
func showDash(ctx context.Context, c *control.Client, s dashSettings) error {
	if s.plain || !term.IsTerminal(os.Stdout.Fd()) {
		return dashui.RunPlain(ctx, c, os.Stdout, dashui.PlainOptions{Every: s.every, Count: s.count, Events: true})
	}
	return dashui.Run(ctx, dashui.Options{Client: c, Refresh: s.refresh, ReadOnly: s.readOnly, Actor: c.Actor})
}
