package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
)

const ctlUsage = `[-c FILE | --socket PATH] COMMAND [ARGS]

Commands:
  status [--json]             workers and proxy counters
  restart [--rolling] [ID...] safe restart (drain, graceful stop, health check)
  scale N                     run N workers (removed ones drain first)
  reload                      re-read the config file (also SIGHUP): proxy settings,
                              certificate and addresses at once, all or nothing; changed
                              worker settings by a rolling restart; Envoy by a hot restart
  stop ID | start ID          stop a worker and keep it stopped, or start it
  signal ID SIG               send a signal (HUP, USR1, ...) to a worker
  logs ID [-n N] [-f]         a worker's output, -f to follow
  events [-f] [--since SEQ]   the stack's events, -f to follow
  traffic on|off|rate N       the demo traffic generator`

// ctlTarget is where ctl finds the daemon.
type ctlTarget struct {
	config string
	socket string
}

// flags registers -c and --socket; their defaults are the values already
// set, so flags given before the subcommand survive its flag set.
func (t *ctlTarget) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.config, "c", t.config, "config `file` naming the control socket (default whisgee.yaml if present)")
	fs.StringVar(&t.socket, "socket", t.socket, "control socket `path` (overrides -c)")
}

// resolve finds the control socket: --socket, else -c's control.socket,
// else ./whisgee.yaml's, else the default.
func (t *ctlTarget) resolve() (string, error) {
	if t.socket != "" {
		return t.socket, nil
	}
	path := t.config
	if path == "" {
		if _, err := os.Stat("whisgee.yaml"); err != nil {
			return config.DefaultControlSocket()
		}
		path = "whisgee.yaml"
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	return cfg.Control.Socket, nil
}

func runCtl(ctx context.Context, args []string) error {
	var target ctlTarget
	fs := newFlags("ctl", ctlUsage)
	target.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageError{"name a command: status, restart, scale, stop, start, signal, logs, events or traffic"}
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	// Flags of the subcommand; -c and --socket are accepted there too.
	sfs := newFlags("ctl "+sub, ctlUsage)
	target.flags(sfs)
	asJSON := sfs.Bool("json", false, "print JSON")
	rolling := sfs.Bool("rolling", false, "restart every worker, one at a time")
	n := sfs.Int("n", 100, "number of lines")
	follow := sfs.Bool("f", false, "follow")
	since := sfs.Uint64("since", 0, "events after this sequence number")
	pos, err := parseInterspersed(sfs, rest)
	if err != nil {
		return err
	}
	socket, err := target.resolve()
	if err != nil {
		return err
	}
	c := control.NewClient(socket)
	c.Actor = "ctl"
	defer c.Close()
	out := os.Stdout

	switch sub {
	case "status":
		if err := wantArgs(pos, 0, "status takes no arguments"); err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printStatus(out, st)
		return nil
	case "restart":
		ids, err := parseIDs(pos)
		if err != nil {
			return err
		}
		if !*rolling && len(ids) == 0 {
			return usageError{"name the workers to restart (e.g. restart 2), or use --rolling"}
		}
		return printResult(c.Restart(ctx, control.RestartRequest{IDs: ids, Rolling: *rolling}))
	case "scale":
		if err := wantArgs(pos, 1, "scale takes the number of workers, e.g. scale 6"); err != nil {
			return err
		}
		count, err := strconv.Atoi(pos[0])
		if err != nil || count < 1 {
			return usageError{fmt.Sprintf("scale: want a number of workers of at least 1, got %q", pos[0])}
		}
		return printResult(c.Scale(ctx, count))
	case "reload":
		if err := wantArgs(pos, 0, "reload takes no arguments"); err != nil {
			return err
		}
		return printResult(c.Reload(ctx))
	case "stop", "start":
		if err := wantArgs(pos, 1, sub+" takes one worker id, e.g. "+sub+" 2"); err != nil {
			return err
		}
		ids, err := parseIDs(pos)
		if err != nil {
			return err
		}
		if sub == "stop" {
			return printResult(c.StopWorker(ctx, ids[0]))
		}
		return printResult(c.StartWorker(ctx, ids[0]))
	case "signal":
		if err := wantArgs(pos, 2, "signal takes a worker id and a signal, e.g. signal 2 HUP"); err != nil {
			return err
		}
		ids, err := parseIDs(pos[:1])
		if err != nil {
			return err
		}
		return printResult(c.Signal(ctx, ids[0], pos[1]))
	case "logs":
		if err := wantArgs(pos, 1, "logs takes one worker id, e.g. logs 2"); err != nil {
			return err
		}
		ids, err := parseIDs(pos)
		if err != nil {
			return err
		}
		return printLogs(ctx, out, c, ids[0], *n, *follow)
	case "events":
		evs, errc := c.Events(ctx, *since, *follow, false)
		for ev := range evs {
			fmt.Fprintln(out, formatEvent(ev))
		}
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	case "traffic":
		return ctlTraffic(ctx, c, pos)
	}
	return usageError{fmt.Sprintf("unknown ctl command %q; run `whisgee ctl -h`", sub)}
}

func ctlTraffic(ctx context.Context, c *control.Client, pos []string) error {
	var req control.TrafficRequest
	switch {
	case len(pos) == 1 && (pos[0] == "on" || pos[0] == "off"):
		on := pos[0] == "on"
		req.Enabled = &on
	case len(pos) == 2 && pos[0] == "rate":
		r, err := strconv.Atoi(pos[1])
		if err != nil || r < 1 {
			return usageError{fmt.Sprintf("traffic rate: want requests per second, got %q", pos[1])}
		}
		req.Rate = &r
	default:
		return usageError{"traffic takes on, off, or rate N"}
	}
	t, err := c.SetTraffic(ctx, req)
	if err != nil {
		return err
	}
	fmt.Printf("traffic %s at %d req/s (%d sent, %d failed)\n", onOff(t.Enabled), t.Rate, t.Sent, t.Failed)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printLogs(ctx context.Context, out io.Writer, c *control.Client, id, n int, follow bool) error {
	if !follow {
		lines, err := c.Logs(ctx, id, n)
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintf(out, "%s %d %s %s\n", l.Time.Format("15:04:05.000"), l.PID, l.Stream, l.Text)
		}
		return nil
	}
	lines, errc := c.FollowLogs(ctx, id, n)
	for l := range lines {
		fmt.Fprintf(out, "%s %d %s %s\n", l.Time.Format("15:04:05.000"), l.PID, l.Stream, l.Text)
	}
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func printResult(res control.Result, err error) error {
	if err != nil {
		return err
	}
	fmt.Println(res.Message)
	return nil
}

func wantArgs(pos []string, n int, msg string) error {
	if len(pos) != n {
		return usageError{msg}
	}
	return nil
}

func parseIDs(pos []string) ([]int, error) {
	var ids []int
	for _, p := range pos {
		id, err := strconv.Atoi(strings.TrimPrefix(p, "worker-"))
		if err != nil || id < 0 {
			return nil, usageError{fmt.Sprintf("want a worker id like 2, got %q", p)}
		}
		ids = append(ids, id)
	}
	return ids, nil
}
