package circus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// ServeOptions configures the circus-protocol server.
type ServeOptions struct {
	// PubSub is the endpoint events are published on. If empty, the control
	// endpoint's port + 1 (ipc://PATH.pubsub for ipc), as circus does.
	PubSub string
	// Watcher is the name the workers go by. If empty, "web".
	Watcher string
	// PerWorker presents each worker as a watcher of its own, WATCHER-ID
	// with one process and one socket, as a circus.ini rendered with
	// --sockets per-worker has them; else all workers are the processes
	// of one watcher.
	PerWorker bool
	// Config, if set, fills the `options` and `get` replies (command line,
	// graceful_timeout, stop_signal, working_dir, env).
	Config *config.Config
	// Reload, if set, serves `reloadconfig`: circusd re-reads circus.ini
	// there, so whisgee re-reads whisgee.yaml (the daemon's Reload). It
	// returns what was applied. Unset, reloadconfig is refused.
	Reload func(ctx context.Context) (string, error)
	// Logf, if set, receives one line per failed command.
	Logf func(format string, args ...any)
}

// Server answers circus's control protocol (circusctl, circus-top, scripts
// using circus.client) on top of any supervisor.Supervisor, and publishes
// its events on a pubsub endpoint in circus's format. It listens on
// loopback or an ipc:// socket (mode 0600) only.
//
// The daemon starts it when supervisor.circus_endpoint is set:
//
//	if ep := cfg.Supervisor.CircusEndpoint; ep != "" {
//		go func() {
//			err := circus.Serve(ctx, ep, sup, circus.ServeOptions{Config: cfg, Watcher: cfg.Supervisor.Watcher})
//			// err is a bind error (port taken, not loopback); report it
//		}()
//	}
type Server struct {
	sup      supervisor.Supervisor
	opts     ServeOptions
	endpoint string // as bound, with the real port
	pubsub   string
	router   zmq4.Socket
	pub      zmq4.Socket
	started  time.Time

	// pubMu serialises publishing (the event relay and command handlers).
	pubMu sync.Mutex
	// actionMu lets one state-changing command run at a time, as circus's
	// arbiter does; a second one is refused with circus's ConflictError.
	actionMu sync.Mutex
	action   string
	// cfg fills the options and get replies; SetConfig replaces it after
	// a reload.
	cfg atomic.Pointer[config.Config]
}

// SetConfig makes the options and get replies show cfg from now on (the
// daemon calls it when a reload changed the worker settings).
func (s *Server) SetConfig(cfg *config.Config) { s.cfg.Store(cfg) }

// Serve binds the control endpoint and its pubsub endpoint and answers
// commands until ctx ends. It returns an error only when it cannot bind.
func Serve(ctx context.Context, endpoint string, sup supervisor.Supervisor, opts ServeOptions) error {
	s, err := Listen(endpoint, sup, opts)
	if err != nil {
		return err
	}
	s.Run(ctx)
	return nil
}

// Listen binds the endpoints; Run then serves them. endpoint may use port 0;
// Endpoint and PubSubEndpoint report what was bound.
func Listen(endpoint string, sup supervisor.Supervisor, opts ServeOptions) (*Server, error) {
	if opts.Watcher == "" {
		opts.Watcher = "web"
	}
	opts.Watcher = strings.ToLower(opts.Watcher)
	if err := checkLocal(endpoint); err != nil {
		return nil, err
	}
	if opts.PubSub == "" {
		ps, err := DerivePubSub(endpoint)
		if err != nil {
			return nil, err
		}
		opts.PubSub = ps
	} else if err := checkLocal(opts.PubSub); err != nil {
		return nil, err
	}
	quiet := zmq4.WithLogger(log.New(io.Discard, "", 0))
	s := &Server{sup: sup, opts: opts, started: time.Now()}
	s.cfg.Store(opts.Config)
	var err error
	if s.router, s.endpoint, err = bind(zmq4.NewRouter(context.Background(), quiet), endpoint); err != nil {
		return nil, err
	}
	if s.pub, s.pubsub, err = bind(zmq4.NewPub(context.Background(), quiet), opts.PubSub); err != nil {
		s.router.Close()
		return nil, err
	}
	return s, nil
}

// bind listens on endpoint and returns it with the port the kernel chose.
func bind(sock zmq4.Socket, endpoint string) (zmq4.Socket, string, error) {
	addr, err := zmqAddress(endpoint)
	if err != nil {
		return nil, "", fmt.Errorf("circus endpoint: %v", err)
	}
	if err := sock.Listen(addr); err != nil {
		sock.Close()
		return nil, "", fmt.Errorf("circus endpoint: cannot listen on %s: %v; pick a free port in supervisor.circus_endpoint", endpoint, unwrapAll(err))
	}
	if path, ok := strings.CutPrefix(endpoint, "ipc://"); ok {
		if err := os.Chmod(path, 0o600); err != nil {
			sock.Close()
			return nil, "", fmt.Errorf("circus endpoint: %v", err)
		}
		return sock, endpoint, nil
	}
	return sock, "tcp://" + sock.Addr().String(), nil
}

// checkLocal refuses endpoints other hosts could reach.
func checkLocal(endpoint string) error {
	if strings.HasPrefix(endpoint, "ipc://") {
		return nil
	}
	hostPort, ok := strings.CutPrefix(endpoint, "tcp://")
	host, _, err := net.SplitHostPort(hostPort)
	if !ok || err != nil {
		return fmt.Errorf("circus endpoint %q: want tcp://127.0.0.1:PORT or ipc://PATH", endpoint)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("circus endpoint %q: must be on loopback (tcp://127.0.0.1:PORT): the protocol has no authentication", endpoint)
	}
	return nil
}

// Endpoint is the bound control endpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// PubSubEndpoint is the bound pubsub endpoint.
func (s *Server) PubSubEndpoint() string { return s.pubsub }

// Run serves commands and relays events until ctx ends, then closes the
// sockets.
func (s *Server) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	events, unsubscribe := s.sup.Subscribe()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.relay(ctx, events)
	}()
	msgs := receive(ctx, s.router)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case m := <-msgs:
			if len(m.Frames) < 2 {
				continue // circusd ignores garbage too
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.answer(ctx, m.Frames[0], m.Frames[len(m.Frames)-1])
			}()
		}
	}
	cancel()
	unsubscribe()
	wg.Wait()
	s.router.Close()
	s.pub.Close()
}

// answer handles one request from the client with identity id.
func (s *Server) answer(ctx context.Context, id, body []byte) {
	var req struct {
		ID         any            `json:"id"`
		Command    string         `json:"command"`
		Properties map[string]any `json:"properties"`
		MsgType    string         `json:"msg_type"`
	}
	var resp map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		resp = errorReply(errnoInvalidJSON, "json invalid")
	} else {
		if req.Properties == nil {
			req.Properties = map[string]any{}
		}
		resp = s.dispatch(ctx, strings.ToLower(req.Command), req.Properties)
		if req.MsgType == "cast" {
			return // circus sends no answer to a cast
		}
	}
	resp["id"] = req.ID
	if _, ok := resp["time"]; !ok {
		resp["time"] = epoch(time.Now())
	}
	out, err := json.Marshal(resp)
	if err != nil {
		out, _ = json.Marshal(errorReply(errnoCommand, "server error"))
	}
	if resp["status"] == "error" && s.opts.Logf != nil {
		s.opts.Logf("circus endpoint: %s: %v", req.Command, resp["reason"])
	}
	_ = s.router.Send(zmq4.NewMsgFrom(id, out))
}

// ok is circus's success reply with props merged in (they may override
// "status", as `status NAME` does).
func ok(props map[string]any) map[string]any {
	r := map[string]any{"status": "ok", "time": epoch(time.Now())}
	for k, v := range props {
		r[k] = v
	}
	return r
}

func errorReply(errno int, reason string) map[string]any {
	return map[string]any{"status": "error", "reason": reason, "tb": nil, "errno": errno, "time": epoch(time.Now())}
}

// commandError turns a supervisor error into circus's error reply.
func commandError(err error) map[string]any {
	switch {
	case errors.Is(err, supervisor.ErrUnknownWorker), errors.Is(err, supervisor.ErrInvalid):
		return errorReply(errnoMessage, err.Error())
	case errors.Is(err, context.Canceled):
		return errorReply(errnoCommand, "whisgee is shutting down")
	}
	var oe *os.SyscallError
	if errors.As(err, &oe) {
		return errorReply(errnoOS, err.Error())
	}
	return errorReply(errnoCommand, err.Error())
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// relay publishes the supervisor's events in circus's format.
func (s *Server) relay(ctx context.Context, events <-chan supervisor.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, open := <-events:
			if !open {
				return
			}
			body := map[string]any{"process_pid": ev.PID, "time": epoch(ev.Time)}
			watcher := s.nameOf(supervisor.Worker{ID: ev.Worker})
			switch {
			case ev.Kind == supervisor.EventSpawn && ev.PID != 0:
				s.publish(watcher, "spawn", body)
			case ev.Kind == supervisor.EventExit && ev.PID != 0:
				body["exit_code"] = ev.ExitCode
				s.publish(watcher, "reap", body)
			case ev.Kind == supervisor.EventState && ev.State == string(supervisor.StateStopping) && ev.PID != 0:
				s.publish(watcher, "kill", body)
			}
		}
	}
}

// publish sends watcher.NAME.EVENT with its JSON body, as circusd does.
func (s *Server) publish(watcher, event string, body map[string]any) {
	if _, ok := body["time"]; !ok {
		body["time"] = epoch(time.Now())
	}
	b, err := json.Marshal(body)
	if err != nil {
		return
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	_ = s.pub.Send(zmq4.NewMsgFrom([]byte("watcher."+watcher+"."+event), b))
}
