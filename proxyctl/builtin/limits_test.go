package builtin

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSizeLimits(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	cfg.Proxy.MaxHeaderBytes = 1024
	cfg.Proxy.MaxBodyBytes = 1000
	p := startProxy(t, cfg, Options{}, up.backend)
	addr := p.Addr("http")

	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 431 {
		t.Fatalf("big head: %d, want 431", resp.StatusCode)
	}

	rc = dialRaw(t, addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
	if resp, _ := rc.response("POST"); resp.StatusCode != 413 || !resp.Close {
		t.Fatalf("big Content-Length: %d close=%v, want 413 and close", resp.StatusCode, resp.Close)
	}

	rc = dialRaw(t, addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i := 0; i < 3; i++ {
		rc.send("190\r\n" + strings.Repeat("b", 400) + "\r\n")
	}
	rc.send("0\r\n\r\n")
	if resp, _ := rc.response("POST"); resp.StatusCode != 413 {
		t.Fatalf("big chunked body: %d, want 413", resp.StatusCode)
	}

	// Under the limits all is well.
	rc = dialRaw(t, addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("c", 1000))
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "w0 / 1000" {
		t.Fatalf("body at the limit: %d %q", resp.StatusCode, body)
	}
}

func TestMalformedRequestsGet400(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	for _, bad := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET /\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: b\r\n\r\n",
	} {
		rc := dialRaw(t, p.Addr("http"))
		rc.send(bad)
		if resp, _ := rc.response("GET"); resp.StatusCode != 400 {
			t.Errorf("%q: %d, want 400", bad, resp.StatusCode)
		}
	}
	for _, te := range []string{"gzip", "gzip, chunked"} {
		rc := dialRaw(t, p.Addr("http"))
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n")
		if resp, _ := rc.response("POST"); resp.StatusCode != 501 {
			t.Errorf("Transfer-Encoding %s: %d, want 501", te, resp.StatusCode)
		}
	}
}

func TestSlowClientsAreCutOff(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	cfg.Proxy.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.Proxy.IdleTimeout = 600 * time.Millisecond
	p := startProxy(t, cfg, Options{}, up.backend)

	// A head that trickles in is answered 408 and closed.
	rc := dialRaw(t, p.Addr("http"))
	start := time.Now()
	rc.send("GET / HTTP/1.1\r\n")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("slow head: %d, want 408", resp.StatusCode)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("slow head cut off after %s", took)
	}
	// An idle keep-alive connection is closed.
	rc = dialRaw(t, p.Addr("http"))
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.response("GET")
	start = time.Now()
	if _, err := rc.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Fatalf("idle connection closed after %s, want about 0.6s", took)
	}
}

func TestSlowWorkerGets504(t *testing.T) {
	dir := sockDir(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
	}))
	cfg := testConfig(t, "")
	cfg.Proxy.UpstreamTimeout = 300 * time.Millisecond
	p := startProxy(t, cfg, Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 504 {
		t.Fatalf("slow worker: %d, want 504", resp.StatusCode)
	}
}

func TestAClientThatStopsReadingIsCutOff(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		chunk := make([]byte, 1<<20)
		for i := 0; i < 64; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	cfg := testConfig(t, "")
	cfg.Proxy.IdleTimeout = 500 * time.Millisecond
	p := startProxy(t, cfg, Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("GET /huge HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	waitFor(t, "the request under way", 5*time.Second, func() bool { return p.InFlight(0) == 1 })
	waitFor(t, "the stalled client cut off and the worker freed", 10*time.Second, func() bool {
		s, _ := p.Snapshot(t.Context())
		return p.InFlight(0) == 0 && s.Listeners[0].CxActive == 0
	})
}
