package circus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrUnreachable: nothing answered at the endpoint in time.
	ErrUnreachable = errors.New("circusd unreachable")
	// ErrNoWatcher: circusd has no watcher of that name.
	ErrNoWatcher = errors.New("no such circus watcher")
)

// circus's errno values (circus/commands/errors.py).
const (
	errnoInvalidJSON    = 1
	errnoUnknownCommand = 2
	errnoMessage        = 3
	errnoOS             = 4
	errnoCommand        = 5
)

// request is one command as circus's clients send it.
type request struct {
	ID         string         `json:"id"`
	Command    string         `json:"command"`
	Properties map[string]any `json:"properties"`
}

// reply is circusd's answer: "status" is "ok" or "error", except for
// `status NAME`, whose answer carries the watcher's status there instead.
type reply struct {
	Status string  `json:"status"`
	Reason string  `json:"reason"`
	Errno  int     `json:"errno"`
	ID     string  `json:"id"`
	Time   float64 `json:"time"`

	fields map[string]json.RawMessage
}

// field decodes one key of the reply into v; a missing key leaves v alone.
func (r *reply) field(key string, v any) error {
	raw, ok := r.fields[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("circusd's reply has a malformed %q: %v", key, err)
	}
	return nil
}

// CallError is an error reply from circusd.
type CallError struct {
	Endpoint string
	Command  string
	// Reason and Errno are circus's: errno 2 is an unknown command, 3 a bad
	// message (such as an unknown watcher), 5 a failed command.
	Reason string
	Errno  int
}

func (e *CallError) Error() string {
	msg := fmt.Sprintf("circusd at %s refused %s: %s (errno %d)", e.Endpoint, e.Command, e.Reason, e.Errno)
	switch {
	case e.Errno == errnoUnknownCommand:
		msg += "; this circusd is too old for whisgee (circus 0.19 or later is known to work)"
	case e.Errno == errnoMessage && strings.Contains(e.Reason, "not found"):
		msg += "; set supervisor.watcher to one of the watchers `circusctl list` shows"
	}
	return msg
}

// Is makes an unknown watcher match ErrNoWatcher.
func (e *CallError) Is(target error) bool {
	return target == ErrNoWatcher && e.Errno == errnoMessage && strings.HasPrefix(e.Reason, "program ") && strings.HasSuffix(e.Reason, " not found")
}

// caller sends commands to one control endpoint, a fresh DEALER socket per
// call as circusctl does: a timed-out call leaves nothing behind that a
// later call could read by mistake, and a restarted circusd needs no
// reconnection logic.
type caller struct {
	endpoint       string
	connectTimeout time.Duration
	quietLog       *log.Logger
}

func newCaller(endpoint string, connectTimeout time.Duration) (*caller, error) {
	if _, err := zmqAddress(endpoint); err != nil {
		return nil, err
	}
	return &caller{endpoint: endpoint, connectTimeout: connectTimeout, quietLog: log.New(io.Discard, "", 0)}, nil
}

// call sends one command and returns circusd's reply. Connecting and the
// handshake are bounded by the connect timeout; the reply by replyTimeout
// (and ctx). An error reply comes back as a *CallError.
func (c *caller) call(ctx context.Context, replyTimeout time.Duration, command string, props map[string]any) (*reply, error) {
	addr, _ := zmqAddress(c.endpoint)
	if props == nil {
		props = map[string]any{}
	}
	req := request{ID: newID(), Command: command, Properties: props}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("circus: %s: %w", command, err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.connectTimeout+replyTimeout)
	defer cancel()
	watch := &connWatch{handshake: c.connectTimeout}
	sock := zmq4.NewDealer(withConnWatch(ctx, watch),
		zmq4.WithID(zmq4.SocketIdentity(newID())),
		zmq4.WithDialerMaxRetries(0),
		zmq4.WithDialerTimeout(c.connectTimeout),
		zmq4.WithTimeout(c.connectTimeout),
		zmq4.WithLogger(c.quietLog))
	defer sock.Close()
	if err := sock.Dial(addr); err != nil {
		return nil, c.dialError(command, err)
	}
	dead := watch.established()
	if err := sock.Send(zmq4.NewMsg(body)); err != nil {
		return nil, fmt.Errorf("%w: could not send %s to %s: %v", ErrUnreachable, command, c.endpoint, err)
	}

	got := make(chan *reply, 1)
	failed := make(chan error, 1)
	go func() {
		for {
			msg, err := sock.Recv()
			if err != nil {
				failed <- err
				return
			}
			if len(msg.Frames) == 0 {
				continue
			}
			r, err := decodeReply(msg.Frames[len(msg.Frames)-1])
			if err != nil {
				failed <- err
				return
			}
			if r.ID == req.ID {
				got <- r
				return
			}
			// A reply to someone else's id: circus's own client skips these.
		}
	}()
	timer := time.NewTimer(replyTimeout)
	defer timer.Stop()
	select {
	case r := <-got:
		if r.Status == "error" {
			return nil, &CallError{Endpoint: c.endpoint, Command: command, Reason: r.Reason, Errno: r.Errno}
		}
		return r, nil
	case err := <-failed:
		if ctx.Err() != nil {
			return nil, c.timeoutError(ctx, command, replyTimeout)
		}
		return nil, fmt.Errorf("circus: %s: %v", command, err)
	case <-dead:
		return nil, fmt.Errorf("%w: %s closed the connection before answering %s; is it circusd's control endpoint?", ErrUnreachable, c.endpoint, command)
	case <-timer.C:
		return nil, c.timeoutError(ctx, command, replyTimeout)
	case <-ctx.Done():
		return nil, c.timeoutError(ctx, command, replyTimeout)
	}
}

func (c *caller) timeoutError(ctx context.Context, command string, replyTimeout time.Duration) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("circus: %s: %w", command, ctx.Err())
	}
	return fmt.Errorf("%w: circusd at %s did not answer %s within %s; check that circusd runs and that the endpoint is its control endpoint", ErrUnreachable, c.endpoint, command, replyTimeout.Round(time.Millisecond))
}

func (c *caller) dialError(command string, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: nothing listens at %s (connection refused); start circusd or set supervisor.endpoint to its [circus] endpoint", ErrUnreachable, c.endpoint)
	case strings.Contains(err.Error(), "not compatible"):
		return fmt.Errorf("%w: %s is not a circus control endpoint (its ZeroMQ socket cannot answer requests; the pubsub endpoint is a different one)", ErrUnreachable, c.endpoint)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("circus: %s: %w", command, err)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: no ZeroMQ handshake from %s within %s; is circusd's control endpoint there?", ErrUnreachable, c.endpoint, c.connectTimeout)
	}
	return fmt.Errorf("%w: cannot connect to %s: %v", ErrUnreachable, c.endpoint, unwrapAll(err))
}

// unwrapAll drops zmq4's nested "zmq4: could not ..." prefixes.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func decodeReply(frame []byte) (*reply, error) {
	r := &reply{}
	if err := json.Unmarshal(frame, &r.fields); err != nil {
		return nil, fmt.Errorf("circusd sent a reply that is not a JSON object: %v", err)
	}
	// "status" and "reason" are strings in every circus reply; "errno" a number.
	_ = r.field("status", &r.Status)
	_ = r.field("reason", &r.Reason)
	_ = r.field("errno", &r.Errno)
	_ = r.field("id", &r.ID)
	_ = r.field("time", &r.Time)
	return r, nil
}

// newID is a random 32-hex-digit id, like the uuid4().hex circus uses.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("circus: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
