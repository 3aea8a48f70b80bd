package circus

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// Options configures a Client. OptionsFromConfig fills it from whisgee.yaml.
type Options struct {
	// Endpoint is circusd's control endpoint (the [circus] endpoint of its
	// circus.ini), tcp://HOST:PORT or ipc://PATH. Required.
	Endpoint string
	// PubSub is circusd's pubsub endpoint. If empty, Endpoint's port + 1,
	// as circus's defaults are (5555 and 5556).
	PubSub string
	// Watcher is the watcher that runs the workers. If empty, "web". A
	// circus.ini with one watcher per worker, named WATCHER-0, WATCHER-1, ...
	// (as `whisgee circus render --sockets per-worker` writes), works too.
	Watcher string
	// ConnectTimeout bounds connecting to circusd and every quick command
	// (list, stats, status...). If zero, 3s.
	ConnectTimeout time.Duration
	// ActionTimeout bounds the commands whose result the caller waits for
	// (kill, reload, incr, stop, start) unless ctx ends first. If zero, 10m.
	ActionTimeout time.Duration
	// GracefulTimeout bounds a drain through Router before a restart.
	// If zero, 30s.
	GracefulTimeout time.Duration
	// PollInterval is how often a restart looks for the respawned process.
	// If zero, 100ms.
	PollInterval time.Duration
	// Router, if set, drains a worker before circus stops it and waits for
	// it to pass a health check after. Only with one socket per worker: on a
	// shared socket the proxy cannot tell the workers apart.
	Router supervisor.Router
}

// OptionsFromConfig takes the client's settings from a loaded whisgee.yaml:
// supervisor.endpoint, supervisor.pubsub, supervisor.watcher and
// workers.graceful_timeout. The daemon adds its proxy as Router.
func OptionsFromConfig(cfg *config.Config) Options {
	return Options{
		Endpoint:        cfg.Supervisor.Endpoint,
		PubSub:          cfg.Supervisor.PubSub,
		Watcher:         cfg.Supervisor.Watcher,
		GracefulTimeout: cfg.Workers.GracefulTimeout,
	}
}

// Client drives a running circusd through its control and pubsub
// endpoints. It implements supervisor.Supervisor; it keeps no connection
// open between calls, so it outlives circusd restarts.
type Client struct {
	opts Options
	ctl  *caller

	mu     sync.Mutex
	layout *layout
	memo   map[int]*workerMemo // by worker id
	pidIDs map[int]int         // pid -> worker id, for events
}

// workerMemo is what the client remembers of a worker between calls: circus
// forgets a process once it is reaped.
type workerMemo struct {
	pid          int
	restarts     int
	lastExit     string
	lastExitCode int
	stopping     bool // killed, not yet reaped
	since        time.Time
	state        supervisor.State
}

var _ supervisor.Supervisor = (*Client)(nil)

// New checks opts and returns a client. It does not connect: the first
// call does, and fails within ConnectTimeout with a one-line error if
// circusd is not there.
func New(opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		return nil, fmt.Errorf("circus: no endpoint; set supervisor.endpoint to circusd's control endpoint, e.g. tcp://127.0.0.1:5555")
	}
	if opts.Watcher == "" {
		opts.Watcher = "web"
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 10 * time.Minute
	}
	if opts.GracefulTimeout <= 0 {
		opts.GracefulTimeout = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.PubSub == "" {
		ps, err := DerivePubSub(opts.Endpoint)
		if err != nil {
			return nil, err
		}
		opts.PubSub = ps
	}
	if _, err := zmqAddress(opts.PubSub); err != nil {
		return nil, fmt.Errorf("circus: supervisor.pubsub: %v", err)
	}
	ctl, err := newCaller(opts.Endpoint, opts.ConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("circus: supervisor.endpoint: %v", err)
	}
	return &Client{opts: opts, ctl: ctl, memo: map[int]*workerMemo{}, pidIDs: map[int]int{}}, nil
}

// DerivePubSub is circus's default pubsub endpoint for a control endpoint:
// the next port on the same host. An ipc:// endpoint gets PATH.pubsub.
func DerivePubSub(endpoint string) (string, error) {
	if path, ok := strings.CutPrefix(endpoint, "ipc://"); ok {
		return "ipc://" + path + ".pubsub", nil
	}
	host, port, err := net.SplitHostPort(strings.TrimPrefix(endpoint, "tcp://"))
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || !strings.HasPrefix(endpoint, "tcp://") {
		return "", fmt.Errorf("circus: endpoint %q: want tcp://HOST:PORT or ipc://PATH", endpoint)
	}
	if p == 0 {
		return "tcp://" + net.JoinHostPort(host, "0"), nil
	}
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// Engine is "circus".
func (c *Client) Engine() string { return "circus" }

// Endpoint is the control endpoint the client talks to.
func (c *Client) Endpoint() string { return c.opts.Endpoint }

// Ping checks that circusd answers and has the workers' watcher(s).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.resolveLayout(ctx, true)
	return err
}

// quick sends a command that circusd answers at once.
func (c *Client) quick(ctx context.Context, command string, props map[string]any) (*reply, error) {
	return c.ctl.call(ctx, c.opts.ConnectTimeout, command, props)
}

// waiting sends a command with "waiting": true, so that circusd answers
// once the action is done.
func (c *Client) waiting(ctx context.Context, command string, props map[string]any) (*reply, error) {
	props["waiting"] = true
	return c.ctl.call(ctx, c.opts.ActionTimeout, command, props)
}

// layout is how the workers map onto circus watchers.
type layout struct {
	// perWorker: one watcher per worker (WATCHER-N, one process each),
	// else one watcher whose processes are the workers (ids are wid - 1).
	perWorker bool
	// watchers by worker id (perWorker), or the one watcher.
	watchers map[int]string
	// sockets maps a watcher to the address its processes listen on.
	sockets map[string]string
	// perWID maps worker ids to sockets of their own in a shared watcher
	// (sockets named WATCHER.WID, as whisgee's circus endpoint lists them).
	perWID map[int]string
}

// socketOf is the address worker id listens on.
func (l *layout) socketOf(id int) string {
	if a, ok := l.perWID[id]; ok {
		return a
	}
	if l.perWorker {
		return l.sockets[l.watchers[id]]
	}
	return l.sockets[l.watchers[0]]
}

func (l *layout) names() []string {
	var ids []int
	for id := range l.watchers {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var names []string
	for _, id := range ids {
		names = append(names, l.watchers[id])
	}
	return names
}

// resolveLayout finds the workers' watcher(s) and sockets, from cache
// unless refresh is set.
func (c *Client) resolveLayout(ctx context.Context, refresh bool) (*layout, error) {
	c.mu.Lock()
	l := c.layout
	c.mu.Unlock()
	if l != nil && !refresh {
		return l, nil
	}
	r, err := c.quick(ctx, "list", nil)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := r.field("watchers", &names); err != nil {
		return nil, err
	}
	l = &layout{watchers: map[int]string{}, sockets: map[string]string{}}
	perWorkerRE := regexp.MustCompile("^" + regexp.QuoteMeta(strings.ToLower(c.opts.Watcher)) + `-(\d+)$`)
	for _, n := range names {
		if n == strings.ToLower(c.opts.Watcher) {
			l.perWorker = false
			l.watchers = map[int]string{0: n}
			break
		}
		if m := perWorkerRE.FindStringSubmatch(n); m != nil {
			id, _ := strconv.Atoi(m[1])
			l.perWorker = true
			l.watchers[id] = n
		}
	}
	if len(l.watchers) == 0 {
		return nil, fmt.Errorf("%w: circusd at %s has no watcher %q (it has: %s); set supervisor.watcher", ErrNoWatcher, c.opts.Endpoint, c.opts.Watcher, strings.Join(names, ", "))
	}
	if err := c.resolveSockets(ctx, l); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.layout = l
	c.mu.Unlock()
	return l, nil
}

// socketRefRE finds the circus socket a command line listens on.
// ($(circus.sockets.NAME) or ((circus.sockets.NAME)), case-insensitive).
var socketRefRE = regexp.MustCompile(`(?i)(?:\$\(|\(\()circus\.sockets\.([\w.-]+)\)\)?`)

// resolveSockets maps each watcher to the address of the circus socket its
// command line names ($(circus.sockets.NAME)); a watcher whose processes
// bind their own address gets none.
func (c *Client) resolveSockets(ctx context.Context, l *layout) error {
	r, err := c.quick(ctx, "listsockets", nil)
	if err != nil {
		return err
	}
	var socks []struct {
		Name string `json:"name"`
		Host string `json:"host"`
		Port int    `json:"port"`
		Path string `json:"path"`
	}
	if err := r.field("sockets", &socks); err != nil {
		return err
	}
	addrs := map[string]string{}
	for _, s := range socks {
		if s.Path != "" {
			addrs[strings.ToLower(s.Name)] = s.Path
		} else {
			addrs[strings.ToLower(s.Name)] = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		}
	}
	l.perWID = map[int]string{}
	if !l.perWorker {
		// whisgee's own circus endpoint names one socket per worker
		// WATCHER.WID; map those to the workers directly.
		for name, addr := range addrs {
			if rest, found := strings.CutPrefix(name, l.watchers[0]+"."); found {
				if wid, err := strconv.Atoi(rest); err == nil && wid > 0 {
					l.perWID[wid-1] = addr
				}
			}
		}
	}
	for _, name := range l.watchers {
		r, err := c.quick(ctx, "options", map[string]any{"name": name})
		if err != nil {
			return err
		}
		var opts struct {
			Cmd  string `json:"cmd"`
			Args any    `json:"args"`
		}
		if err := r.field("options", &opts); err != nil {
			return err
		}
		line := opts.Cmd + " " + fmt.Sprint(opts.Args)
		if m := socketRefRE.FindStringSubmatch(line); m != nil {
			l.sockets[name] = addrs[strings.ToLower(m[1])]
		} else if a, ok := addrs[name]; ok {
			// No socket on the command line: a socket named like the
			// watcher is its socket, as circus.ini render names them.
			l.sockets[name] = a
		}
	}
	return nil
}

// sharedSockets reports whether workers share a listening address, so a
// proxy cannot drain one of them alone.
func (l *layout) sharedSockets() bool {
	if !l.perWorker {
		return len(l.perWID) == 0
	}
	seen := map[string]bool{}
	for _, a := range l.sockets {
		if a == "" || seen[a] {
			return true
		}
		seen[a] = true
	}
	return len(l.sockets) < len(l.watchers)
}
