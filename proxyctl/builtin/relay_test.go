package builtin

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
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
	// Requests are counted just after their response goes out.
	s, _ := p.Snapshot(t.Context())
	waitFor(t, "20 requests counted", 5*time.Second, func() bool {
		s, _ = p.Snapshot(t.Context())
		return s.Listeners[0].Requests == 20 && s.Hosts[0].Requests == 20
	})
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
	rawWorker(t, dir+"/raw.sock", func(c net.Conn) {
		newLineReader(c).readRequest()
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close body")
	})
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
	rawWorker(t, dir+"/head.sock", func(c net.Conn) {
		lr := newLineReader(c)
		for {
			if _, ok := lr.readRequest(); !ok {
				return
			}
			// The body goes out even for HEAD: the bug.
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		}
	})
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

func TestAnEarlyAnswerToAnUploadIsRelayed(t *testing.T) {
	// A worker that refuses uploads from the head alone: it answers 413
	// without reading the body, and closes.
	dir := sockDir(t)
	path := dir + "/early.sock"
	rawWorker(t, path, func(c net.Conn) {
		if method, ok := newLineReader(c).readRequest(); ok && method == "POST" {
			io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := startProxy(t, testConfig(t, ""), Options{}, rawBackend(path))
	body := bytes.Repeat([]byte("x"), 8<<20) // far more than the socket buffers
	resp, err := client().Post("http://"+p.Addr("http")+"/upload", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(got) != "too big\n" {
		t.Fatalf("%d %q; want the worker's own 413", resp.StatusCode, got)
	}
}

func TestStreamedResponsesAreNotHeldBack(t *testing.T) {
	dir := sockDir(t)
	next := make(chan struct{})
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "whisgee-health" {
			return
		}
		io.WriteString(w, "event 1\n")
		w.(http.Flusher).Flush()
		<-next // the second event only after the client saw the first
		io.WriteString(w, "event 2\n")
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	rc := dialRaw(t, p.Addr("http"))
	rc.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len("event 1\n"))
	if _, err := io.ReadFull(resp.Body, line); err != nil || string(line) != "event 1\n" {
		t.Fatalf("first event: %q %v (held back by the proxy?)", line, err)
	}
	close(next)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "event 2\n" {
		t.Fatalf("second event: %q", rest)
	}
}
