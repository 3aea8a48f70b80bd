package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/proxyctl/envoy"
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
	fs := newFlags("dash", "[-c FILE | --socket PATH] [--readonly] [--plain] [--refresh 1s] [--envoy-admin URL]")
	var target ctlTarget
	target.flags(fs)
	var s dashSettings
	s.flags(fs)
	envoyAdmin := fs.String("envoy-admin", "", "read the proxy's stats from this Envoy admin `URL` (e.g. http://127.0.0.1:9901) rather than through the daemon")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; name the stack with -c FILE or --socket PATH", fs.Arg(0))}
	}
	if err := s.check(); err != nil {
		return err
	}
	if *envoyAdmin != "" {
		u, err := url.Parse(*envoyAdmin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{fmt.Sprintf("--envoy-admin %q: want the admin endpoint's URL, like http://127.0.0.1:9901", *envoyAdmin)}
		}
	}
	socket, err := target.resolve()
	if err != nil {
		return err
	}
	c := newDashClient(socket)
	defer c.Close()
	// Fail at once with what to do when nothing runs there; once attached,
	// the dashboard rides out a daemon restart by itself.
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var client dashui.Client = c
	if *envoyAdmin != "" {
		client = envoyStats{Client: c, admin: &envoy.Admin{URL: *envoyAdmin, RunDir: runDirOf(st)}}
	}
	return showDash(ctx, client, c.Actor, s)
}

// envoyStats is a dashboard client whose proxy stats come from an Envoy
// admin endpoint: everything else still goes through the daemon.
type envoyStats struct {
	*control.Client
	admin *envoy.Admin
}

// Status is the daemon's status with the proxy part read from Envoy.
func (e envoyStats) Status(ctx context.Context) (control.Status, error) {
	st, err := e.Client.Status(ctx)
	if err != nil {
		return st, err
	}
	snap, err := e.admin.Snapshot(ctx)
	st.Proxy, st.ProxyError = snap, ""
	if err != nil {
		st.ProxyError = fmt.Sprintf("envoy admin %s: %v", e.admin.URL, err)
	}
	return st, nil
}

// runDirOf guesses the stack's run directory from its workers' sockets,
// which Envoy knows only by path.
func runDirOf(st control.Status) string {
	for _, w := range st.Workers {
		if strings.HasPrefix(w.Socket, "/") {
			return filepath.Dir(w.Socket)
		}
	}
	return ""
}

// newDashClient is a control client whose actions the audit trail credits
// to this dashboard process.
func newDashClient(socket string) *control.Client {
	c := control.NewClient(socket)
	c.Actor = "dash-" + strconv.Itoa(os.Getpid())
	return c
}

// showDash runs the dashboard in the terminal, or the plain summary when
// asked or when stdout is not a terminal. actor is the client's name in
// the daemon's audit trail.
func showDash(ctx context.Context, c dashui.Client, actor string, s dashSettings) error {
	if s.plain || !term.IsTerminal(os.Stdout.Fd()) {
		return dashui.RunPlain(ctx, c, os.Stdout, dashui.PlainOptions{Every: s.every, Count: s.count, Events: true})
	}
	return dashui.Run(ctx, dashui.Options{Client: c, Refresh: s.refresh, ReadOnly: s.readOnly, Actor: actor})
}
