package builtin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// testConfig is a loaded config with every listener on a free loopback
// port; extra YAML lines are appended under proxy: or workers: as given.
func testConfig(t testing.TB, extra string) *config.Config {
	t.Helper()
	yml := `app: {module: "app:application"}
control: {socket: /tmp/wg-unused.sock}
proxy:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
workers:
  health: {interval: 200ms, timeout: 500ms}
` + extra
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startProxy starts a proxy over the given workers and waits until each
// is healthy. It is closed at cleanup.
func startProxy(t testing.TB, cfg *config.Config, opts Options, workers ...supervisor.Backend) *Proxy {
	t.Helper()
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.SetWorkers(workers)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	for _, w := range workers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.WaitHealthy(ctx, w.ID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// sockDir is a short directory for Unix sockets, removed at cleanup.
func sockDir(t testing.TB) string { return testenv.ShortDir(t) }

// goUpstream serves h on a Unix socket as worker id, until cleanup or
// stop. It is a real HTTP/1.1 server (net/http) on a real socket.
type goUpstream struct {
	backend supervisor.Backend
	srv     *http.Server
	ln      net.Listener
	once    sync.Once
}

func startGoUpstream(t testing.TB, dir string, id int, h http.Handler, connState ...func(net.Conn, http.ConnState)) *goUpstream {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("w%d.sock", id))
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	u := &goUpstream{
		backend: supervisor.Backend{ID: id, Network: "unix", Address: path},
		srv:     &http.Server{Handler: h},
		ln:      ln,
	}
	if len(connState) > 0 {
		u.srv.ConnState = connState[0]
	}
	go u.srv.Serve(ln)
	t.Cleanup(u.stop)
	return u
}

// stop closes the listener and every connection at once, like a killed
// process.
func (u *goUpstream) stop() {
	u.once.Do(func() { u.srv.Close() })
}

// echoHandler answers with the worker's name and what it received.
func echoHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Worker", name)
		w.Header().Set("X-Got-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Got-XFP", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Got-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Got-Method", r.Method)
		w.Header().Set("X-Got-TE", strings.Join(r.TransferEncoding, ","))
		var names []string
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		w.Header().Set("X-Got-Headers", strings.Join(names, ","))
		fmt.Fprintf(w, "%s %s %d", name, r.URL.Path, len(body))
	})
}

// rawConn is a client connection that speaks bytes, to see exactly what
// the proxy sends.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatal(err)
	}
}

// response reads one response with net/http's parser (an independent
// check of the proxy's framing) and its whole body.
func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// client is a keep-alive HTTP client for the proxy.
func client() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

func get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listenUnix(t testing.TB, path string) net.Listener {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// rawWorker is a hand-written worker on a Unix socket at path: handle
// runs on each connection, which closes after it.
func rawWorker(t testing.TB, path string, handle func(net.Conn)) {
	t.Helper()
	ln := listenUnix(t, path)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

func rawBackend(path string) supervisor.Backend {
	return supervisor.Backend{ID: 0, Network: "unix", Address: path}
}

// lineReader reads bodiless request heads, for hand-written workers.
type lineReader struct{ br *bufio.Reader }

func newLineReader(c net.Conn) *lineReader { return &lineReader{bufio.NewReader(c)} }

// readRequest reads one head and returns its method.
func (l *lineReader) readRequest() (string, bool) {
	method, _, ok := l.readRequestLine()
	return method, ok
}

// readRequestLine reads one head and returns its method and target.
func (l *lineReader) readRequestLine() (method, target string, ok bool) {
	first, err := l.br.ReadString('\n')
	if err != nil {
		return "", "", false
	}
	for {
		line, err := l.br.ReadString('\n')
		if err != nil {
			return "", "", false
		}
		if line == "\r\n" {
			break
		}
	}
	fields := strings.Fields(first)
	if len(fields) < 2 {
		return "", "", false
	}
	return fields[0], fields[1], true
}
