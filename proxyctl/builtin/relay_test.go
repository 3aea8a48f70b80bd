package builtin

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKeepAliveReusesClientAndWorkerConnections(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	for i := 0; i < 20; i++ {
		rc.send(fmt.Sprintf("GET /n%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != fmt.Sprintf("w0 /n%d 0", i) || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	s, _ := p.Snapshot(t.Context())
	if got := s.Listeners[0].CxTotal; got != 1 {
		t.Fatalf("client connections = %d, want 1 (keep-alive)", got)
	}
	if got := s.Hosts[0].CxTotal; got != 1 {
		t.Fatalf("worker connections = %d, want 1 (pooled)", got)
	}
	if s.Listeners[0].Requests != 20 || s.Hosts[0].Requests != 20 || s.Listeners[0].Classes[1] != 20 {
		t.Fatalf("counted %d listener / %d host requests, want 20", s.Listeners[0].Requests, s.Hosts[0].Requests)
	}
}

func TestPipelinedRequestsAnswerInOrder(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"w0 /a 0", "w0 /b 0", "w0 /c 0"} {
		if _, body := rc.response("GET"); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

func TestChunkedBodiesBothWays(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("X-Got-Len", strconv.Itoa(len(body)))
		// Several flushes: net/http then answers chunked.
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d-%s;", i, body[:min(len(body), 5)])
			w.(http.Flusher).Flush()
		}
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	// A chunked request with an extension and a trailer.
	rc.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
	resp, body := rc.response("POST")
	if got := resp.Header.Get("X-Got-TE"); got != "chunked" {
		t.Fatalf("worker saw Transfer-Encoding %q, want chunked", got)
	}
	if got := resp.Header.Get("X-Got-Len"); got != "11" {
		t.Fatalf("worker got %s body bytes, want 11", got)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("client got Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	if body != "part0-hello;part1-hello;part2-hello;" {
		t.Fatalf("body %q", body)
	}
	// The connection is still usable after a chunked exchange.
	rc.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
}

func TestLargeBodiesArriveIntact(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		w.Header().Set("X-Sum", fmt.Sprintf("%x", h.Sum(nil)))
		w.Header().Set("X-Len", strconv.FormatInt(n, 10))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(pattern(size))
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	c := client()
	for _, size := range []int{0, 1, 70 << 10, 3 << 20} {
		body := pattern(size)
		resp, err := c.Post("http://"+p.Addr("http")+"/big?size="+strconv.Itoa(size), "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%x", sha256.Sum256(body)); resp.Header.Get("X-Sum") != want {
			t.Fatalf("size %d: worker got a different body (len %s)", size, resp.Header.Get("X-Len"))
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("size %d: response body differs (got %d bytes)", size, len(got))
		}
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

func TestReadUntilCloseResponseIsRechunked(t *testing.T) {
	// A raw HTTP/1.0-style worker: no Content-Length, body ends at close.
	dir := sockDir(t)
	ln := listenUnix(t, dir+"/raw.sock")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close body")
			}()
		}
	}()
	p := startProxy(t, testConfig(t, ""), Options{}, rawBackend(dir+"/raw.sock"))
	rc := dialRaw(t, p.Addr("http"))
	for i := 0; i < 2; i++ {
		rc.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.response("GET")
		if body != "until close body" || len(resp.TransferEncoding) == 0 {
			t.Fatalf("got %q, TE %v; want the body re-framed as chunked", body, resp.TransferEncoding)
		}
	}
	// An HTTP/1.0 client learns the end by the close.
	rc2 := dialRaw(t, p.Addr("http"))
	rc2.send("GET /x HTTP/1.0\r\n\r\n")
	all, _ := io.ReadAll(rc2.br)
	if !strings.HasSuffix(string(all), "\r\n\r\nuntil close body") || !strings.Contains(string(all), "Connection: close") {
		t.Fatalf("HTTP/1.0 client got %q", all)
	}
}

func TestHeadResponsesCarryNoBodyAndPoisonNothing(t *testing.T) {
	// A worker that, like waitress 2.1, sends a body after a HEAD response.
	dir := sockDir(t)
	ln := listenUnix(t, dir+"/head.sock")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := newLineReader(c)
				for {
					method, ok := br.readRequest()
					if !ok {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
					_ = method // the body goes out even for HEAD: the bug
				}
			}()
		}
	}()
	p := startProxy(t, testConfig(t, ""), Options{}, rawBackend(dir+"/head.sock"))
	rc := dialRaw(t, p.Addr("http"))
	rc.send("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.response("HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %d body %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	// The next requests must not read the stray "hello" as their response.
	for i := 0; i < 3; i++ {
		rc.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body = rc.response("GET")
		if resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("GET after HEAD: %d %q", resp.StatusCode, body)
		}
	}
}

func TestForwardedHeadersAndRequestID(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	c := client()
	resp, _ := get(t, c, "http://"+p.Addr("http")+"/")
	if got := resp.Header.Get("X-Got-XFF"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q, want 127.0.0.1", got)
	}
	if got := resp.Header.Get("X-Got-XFP"); got != "http" {
		t.Fatalf("X-Forwarded-Proto = %q, want http", got)
	}
	id1 := resp.Header.Get("X-Got-Request-Id")
	resp, _ = get(t, c, "http://"+p.Addr("http")+"/")
	id2 := resp.Header.Get("X-Got-Request-Id")
	if len(id1) != 36 || id1 == id2 {
		t.Fatalf("request ids %q and %q: want two different UUID-shaped ids", id1, id2)
	}
	// Existing values: XFF is appended to, the request id kept, a forged
	// X-Forwarded-Proto replaced.
	req, _ := http.NewRequest("GET", "http://"+p.Addr("http")+"/", nil)
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Request-Id", "mine-123")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Got-XFF"); got != "10.1.2.3, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q, want the client's address appended", got)
	}
	if got := resp.Header.Get("X-Got-Request-Id"); got != "mine-123" {
		t.Fatalf("request id = %q, want the client's kept", got)
	}
	if got := resp.Header.Get("X-Got-XFP"); got != "http" {
		t.Fatalf("X-Forwarded-Proto = %q, want the client's forged value replaced", got)
	}
}

func TestHopByHopHeadersAreStripped(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, strings.ToLower(k))
		}
		w.Header().Set("X-Got-Headers", strings.Join(names, ","))
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-End", "kept")
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Private\r\nX-Private: p\r\n" +
		"Keep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\nX-Fine: yes\r\n\r\n")
	resp, body := rc.response("GET")
	if body != "ok" {
		t.Fatalf("body %q", body)
	}
	got := "," + resp.Header.Get("X-Got-Headers") + ","
	for _, hop := range []string{"connection", "x-private", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"} {
		if strings.Contains(got, ","+hop+",") {
			t.Errorf("worker received hop-by-hop header %s (got %s)", hop, got)
		}
	}
	if !strings.Contains(got, ",x-fine,") {
		t.Errorf("end-to-end header X-Fine lost: %s", got)
	}
	for _, hop := range []string{"Keep-Alive", "X-Hop", "Connection"} {
		if v := resp.Header.Get(hop); v != "" {
			t.Errorf("client received hop-by-hop %s: %q", hop, v)
		}
	}
	if resp.Header.Get("X-End") != "kept" {
		t.Errorf("end-to-end response header lost")
	}
}

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
	} {
		rc := dialRaw(t, p.Addr("http"))
		rc.send(bad)
		if resp, _ := rc.response("GET"); resp.StatusCode != 400 {
			t.Errorf("%q: %d, want 400", bad, resp.StatusCode)
		}
	}
	rc := dialRaw(t, p.Addr("http"))
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
	if resp, _ := rc.response("POST"); resp.StatusCode != 501 {
		t.Errorf("Transfer-Encoding gzip: %d, want 501", resp.StatusCode)
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

func TestExpectContinueIsAnsweredByTheProxy(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, _ := rc.br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("got %q, want 100 Continue", line)
	}
	rc.br.ReadString('\n')
	rc.send("data")
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "w0 /e 4" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}
