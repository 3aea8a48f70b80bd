package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

// Client talks to a daemon's control socket. Its methods are safe for
// concurrent use.
type Client struct {
	// Socket is the control socket's path.
	Socket string
	// Actor names the caller in the daemon's audit events. If empty, "api".
	Actor string
	// StatusTimeout bounds Status and Logs. If zero, 5s. Actions are bounded
	// only by their context: a rolling restart can take minutes.
	StatusTimeout time.Duration
	http          *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	c := &Client{Socket: socket}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	c.http = &http.Client{Transport: tr}
	return c
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Status fetches the stack's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	ctx, cancel := c.short(ctx)
	defer cancel()
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Restart restarts workers safely (see RestartRequest).
func (c *Client) Restart(ctx context.Context, req RestartRequest) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/restart", req, &res)
	return res, err
}

// Scale sets the number of workers.
func (c *Client) Scale(ctx context.Context, n int) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/scale", ScaleRequest{Count: n}, &res)
	return res, err
}

// Reload asks the daemon to re-read its config file.
func (c *Client) Reload(ctx context.Context) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/reload", struct{}{}, &res)
	return res, err
}

// StopWorker stops a worker and keeps it stopped.
func (c *Client) StopWorker(ctx context.Context, id int) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/workers/"+strconv.Itoa(id)+"/stop", struct{}{}, &res)
	return res, err
}

// StartWorker starts a stopped or failed worker.
func (c *Client) StartWorker(ctx context.Context, id int) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/workers/"+strconv.Itoa(id)+"/start", struct{}{}, &res)
	return res, err
}

// Signal sends a signal (e.g. "HUP") to a worker.
func (c *Client) Signal(ctx context.Context, id int, sig string) (Result, error) {
	var res Result
	err := c.do(ctx, http.MethodPost, "/v1/workers/"+strconv.Itoa(id)+"/signal", SignalRequest{Signal: sig}, &res)
	return res, err
}

// SetTraffic changes the demo traffic generator.
func (c *Client) SetTraffic(ctx context.Context, req TrafficRequest) (Traffic, error) {
	var t Traffic
	err := c.do(ctx, http.MethodPost, "/v1/traffic", req, &t)
	return t, err
}

// Logs returns up to n of a worker's latest lines.
func (c *Client) Logs(ctx context.Context, id, n int) ([]supervisor.LogLine, error) {
	ctx, cancel := c.short(ctx)
	defer cancel()
	var lines []supervisor.LogLine
	err := c.stream(ctx, fmt.Sprintf("/v1/workers/%d/logs?n=%d", id, n), func(dec *json.Decoder) error {
		var l supervisor.LogLine
		if err := dec.Decode(&l); err != nil {
			return err
		}
		lines = append(lines, l)
		return nil
	})
	return lines, err
}

// FollowLogs sends a worker's last n lines and then each new one to the
// returned channel, until ctx ends or the daemon goes away; then the
// channel closes and errc (buffered) holds why.
func (c *Client) FollowLogs(ctx context.Context, id, n int) (<-chan supervisor.LogLine, <-chan error) {
	out := make(chan supervisor.LogLine, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		errc <- c.stream(ctx, fmt.Sprintf("/v1/workers/%d/logs?n=%d&follow=1", id, n), func(dec *json.Decoder) error {
			var l supervisor.LogLine
			if err := dec.Decode(&l); err != nil {
				return err
			}
			select {
			case out <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return out, errc
}

// Events sends the kept events after since and, with follow, each new one,
// until ctx ends or the daemon goes away; then the channel closes and errc
// (buffered) holds why. Log lines are left out unless withLogs.
func (c *Client) Events(ctx context.Context, since uint64, follow, withLogs bool) (<-chan supervisor.Event, <-chan error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if follow {
		q.Set("follow", "1")
	}
	if withLogs {
		q.Set("logs", "1")
	}
	out := make(chan supervisor.Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		errc <- c.stream(ctx, "/v1/events?"+q.Encode(), func(dec *json.Decoder) error {
			var ev supervisor.Event
			if err := dec.Decode(&ev); err != nil {
				return err
			}
			select {
			case out <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return out, errc
}

func (c *Client) short(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.StatusTimeout
	if d == 0 {
		d = 5 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://whisgee"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	actor := c.Actor
	if actor == "" {
		actor = "api"
	}
	req.Header.Set(ActorHeader, actor)
	return req, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("bad reply from daemon: %w", err)
	}
	return nil
}

func (c *Client) stream(ctx context.Context, path string, each func(*json.Decoder) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for dec.More() {
		if err := each(dec); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// APIError is an error reply from the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Is lets callers test API errors against the package's Err values.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrBusy:
		return e.Status == http.StatusConflict
	case ErrUnsupported:
		return e.Status == http.StatusNotImplemented
	}
	return false
}

func readError(resp *http.Response) error {
	var eb ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("daemon answered %s", resp.Status)
	}
	return &APIError{Status: resp.StatusCode, Message: eb.Error}
}

// ErrNoDaemon means nothing listens on the control socket.
var ErrNoDaemon = errors.New("no whisgee daemon")

func (c *Client) dialError(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w on %s: start one with `whisgee up -c FILE`, or point at it with --socket PATH", ErrNoDaemon, c.Socket)
	}
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("cannot open %s: permission denied (the socket is 0600: run as the daemon's user)", c.Socket)
	}
	return fmt.Errorf("control socket %s: %w", c.Socket, err)
}
