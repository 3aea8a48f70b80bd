package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/supervisor"
)

// Backend is what the server serves: the daemon implements it. Actions get
// the actor (who asked) for the audit trail.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Restart(ctx context.Context, req RestartRequest, actor string) (Result, error)
	Scale(ctx context.Context, n int, actor string) (Result, error)
	StopWorker(ctx context.Context, id int, actor string) (Result, error)
	StartWorker(ctx context.Context, id int, actor string) (Result, error)
	Signal(ctx context.Context, id int, sig string, actor string) (Result, error)
	// Reload re-reads the config file and applies what it can.
	Reload(ctx context.Context, actor string) (Result, error)
	Logs(ctx context.Context, id int, n int) ([]supervisor.LogLine, error)
	// Events returns the kept events with Seq > since, and a subscription
	// to new ones that the caller must cancel.
	Events(since uint64) (past []supervisor.Event, live <-chan supervisor.Event, cancel func())
	SetTraffic(ctx context.Context, req TrafficRequest, actor string) (Traffic, error)
}

// Errors a Backend returns to get a specific HTTP status.
var (
	// ErrNotFound: no such worker (404).
	ErrNotFound = supervisor.ErrUnknownWorker
	// ErrInvalid: the request cannot be done as asked (400).
	ErrInvalid = supervisor.ErrInvalid
	// ErrBusy: another action holds the worker (409).
	ErrBusy = supervisor.ErrBusy
	// ErrUnsupported: the engine behind cannot do it (501).
	ErrUnsupported = supervisor.ErrUnsupported
)

// Server serves the control API for a Backend.
type Server struct {
	backend Backend
	mux     *http.ServeMux
}

// NewServer routes the API to b.
func NewServer(b Backend) *Server {
	s := &Server{backend: b, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("POST /v1/restart", s.restart)
	s.mux.HandleFunc("POST /v1/scale", s.scale)
	s.mux.HandleFunc("POST /v1/reload", s.reload)
	s.mux.HandleFunc("POST /v1/workers/{id}/stop", s.workerAction)
	s.mux.HandleFunc("POST /v1/workers/{id}/start", s.workerAction)
	s.mux.HandleFunc("POST /v1/workers/{id}/signal", s.workerAction)
	s.mux.HandleFunc("GET /v1/workers/{id}/logs", s.logs)
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.mux.HandleFunc("POST /v1/traffic", s.traffic)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.Status(r.Context())
	reply(w, st, err)
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	var req RestartRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := s.backend.Restart(r.Context(), req, actor(r))
	reply(w, res, err)
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	var req ScaleRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := s.backend.Scale(r.Context(), req.Count, actor(r))
	reply(w, res, err)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	res, err := s.backend.Reload(r.Context(), actor(r))
	reply(w, res, err)
}

func (s *Server) workerAction(w http.ResponseWriter, r *http.Request) {
	id, ok := workerID(w, r)
	if !ok {
		return
	}
	var (
		res Result
		err error
	)
	switch filepath.Base(r.URL.Path) {
	case "stop":
		res, err = s.backend.StopWorker(r.Context(), id, actor(r))
	case "start":
		res, err = s.backend.StartWorker(r.Context(), id, actor(r))
	case "signal":
		var req SignalRequest
		if !readJSON(w, r, &req) {
			return
		}
		res, err = s.backend.Signal(r.Context(), id, req.Signal, actor(r))
	}
	reply(w, res, err)
}

func (s *Server) traffic(w http.ResponseWriter, r *http.Request) {
	var req TrafficRequest
	if !readJSON(w, r, &req) {
		return
	}
	t, err := s.backend.SetTraffic(r.Context(), req, actor(r))
	reply(w, t, err)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	id, ok := workerID(w, r)
	if !ok {
		return
	}
	n := 100
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "n must be a whole number of lines")
			return
		}
	}
	follow := r.URL.Query().Get("follow") == "1"
	var (
		live   <-chan supervisor.Event
		cancel = func() {}
	)
	if follow {
		// Subscribe before reading the backlog, so no line falls between.
		_, live, cancel = s.backend.Events(^uint64(0))
	}
	defer cancel()
	lines, err := s.backend.Logs(r.Context(), id, n)
	if err != nil {
		writeErr(w, err)
		return
	}
	stream := newNDJSON(w)
	var last uint64
	for i := range lines {
		stream.write(lines[i])
		last = max(last, lines[i].Seq)
	}
	stream.flush()
	if !follow {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-live:
			if !ok {
				return
			}
			if ev.Kind != supervisor.EventLog || ev.Log == nil || ev.Log.Worker != id || ev.Seq <= last {
				continue
			}
			if !stream.write(*ev.Log) || !stream.flush() {
				return
			}
		}
	}
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		var err error
		if since, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "since must be an event sequence number")
			return
		}
	}
	follow := r.URL.Query().Get("follow") == "1"
	past, live, cancel := s.backend.Events(since)
	defer cancel()
	// Log lines are many; a client asks for them per worker with /logs.
	withLogs := r.URL.Query().Get("logs") == "1"
	stream := newNDJSON(w)
	last := since
	for _, ev := range past {
		if ev.Kind == supervisor.EventLog && !withLogs {
			continue
		}
		stream.write(ev)
		last = ev.Seq
	}
	if !stream.flush() || !follow {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-live:
			if !ok {
				return
			}
			if ev.Seq <= last || (ev.Kind == supervisor.EventLog && !withLogs) {
				continue
			}
			if !stream.write(ev) || !stream.flush() {
				return
			}
		}
	}
}

// ndjson writes one JSON value per line, flushing as asked.
type ndjson struct {
	w   http.ResponseWriter
	enc *json.Encoder
	rc  *http.ResponseController
	err error
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	return &ndjson{w: w, enc: json.NewEncoder(w), rc: http.NewResponseController(w)}
}

func (n *ndjson) write(v any) bool {
	if n.err == nil {
		n.err = n.enc.Encode(v)
	}
	return n.err == nil
}

func (n *ndjson) flush() bool {
	if n.err == nil {
		n.err = n.rc.Flush()
	}
	return n.err == nil
}

func actor(r *http.Request) string {
	if a := r.Header.Get(ActorHeader); a != "" {
		return a
	}
	return "api"
}

func workerID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("worker id must be a number like 2, got %q", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrBusy):
		code = http.StatusConflict
	case errors.Is(err, ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	writeError(w, code, err.Error())
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: msg})
}

// Listen opens the control socket at path with mode 0600, in a directory
// only this user may change: created 0700 if missing, refused in one line
// if someone else made it (safefs.EnsureDir). The socket is bound under
// umask 077, so no other user can connect between bind and chmod. A socket
// file nobody answers on (left by a crash) is taken over; one a live
// daemon answers on is refused.
func Listen(path string) (net.Listener, error) {
	if err := safefs.EnsureDir(filepath.Dir(path), safefs.Private); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("another whisgee daemon is running on %s; stop it first (whisgee ctl --socket %s status shows it) or set control.socket to another path", path, path)
		}
		// Nobody answers: a crashed daemon's leftover.
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	l, err := safefs.ListenUnix(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}
