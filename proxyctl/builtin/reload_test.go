package builtin

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/loadgen"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// reloaded is a copy of cfg for a reload: the same values in a new
// value, as config.Load would make from the edited file.
func reloaded(cfg *config.Config) *config.Config {
	next := *cfg
	return &next
}

// refused reports whether nothing listens on addr.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// oneLine fails the test unless err is a one-line error containing each
// of parts.
func oneLine(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("the reload was accepted, want it refused")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// slowWorker is worker 0: /slow signals its arrival, then answers after
// d; every answer is "done" and names the request id headers it got.
func slowWorker(t *testing.T, d time.Duration) (*goUpstream, <-chan struct{}) {
	arrived := make(chan struct{}, 8)
	w := startGoUpstream(t, sockDir(t), 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			time.Sleep(d)
		}
		w.Header().Set("X-Got-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Got-Trace-Id", r.Header.Get("X-Trace-Id"))
		w.Write([]byte("done"))
	}))
	return w, arrived
}

func TestReloadUnderLoadMovesTheListenerAndFailsNothing(t *testing.T) {
	dir := sockDir(t)
	w0 := startGoUpstream(t, dir, 0, echoHandler("w0"))
	w1 := startGoUpstream(t, dir, 1, echoHandler("w1"))
	cfg := testConfig(t, "")
	p := startProxy(t, cfg, Options{}, w0.backend, w1.backend)
	oldAddr, newAddr := p.Addr("http"), testenv.FreeAddr(t)

	// The clients know both addresses, like clients of a service being
	// moved behind two DNS records: the new one first, else the old one.
	// No failure then means the new address was bound before the old one
	// stopped accepting, and that the old one's connections finished.
	var d net.Dialer
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		if c, err := d.DialContext(ctx, network, newAddr); err == nil {
			return c, nil
		}
		return d.DialContext(ctx, network, oldAddr)
	}
	g := loadgen.New(loadgen.Options{
		BaseURL: "http://whisgee.test",
		Targets: []loadgen.Target{
			{Path: "/"},
			{Method: "POST", Path: "/echo", Body: bytes.Repeat([]byte("x"), 2000)},
		},
		Concurrency: 8,
		Client:      &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16}},
	})
	g.Start()
	t.Cleanup(func() { g.Stop() })
	waitFor(t, "load before the reload", 10*time.Second, func() bool { return g.Result().Sent > 300 })

	next := reloaded(cfg)
	next.Proxy.Listen = newAddr
	next.Proxy.Balance = "p2c"
	next.Proxy.Retries = 1
	next.Proxy.UpstreamTimeout = 7 * time.Second
	next.Proxy.ReadHeaderTimeout = 3 * time.Second
	next.Proxy.IdleTimeout = 20 * time.Second
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	atReload := g.Result().Sent
	waitFor(t, "load after the reload", 10*time.Second, func() bool { return g.Result().Sent > atReload+300 })
	r := g.Stop()
	if r.Failed() != 0 || r.ByStatus[200] != r.Sent {
		t.Fatalf("requests failed across the reload: %s", r)
	}

	if p.Addr("http") != newAddr {
		t.Fatalf("http listener on %s, want %s", p.Addr("http"), newAddr)
	}
	if resp, body := get(t, client(), "http://"+newAddr+"/after"); resp.StatusCode != 200 || !strings.HasSuffix(body, " /after 0") {
		t.Fatalf("new address: %d %q", resp.StatusCode, body)
	}
	waitFor(t, "the old address to refuse", 5*time.Second, func() bool { return refused(oldAddr) })
	if s := p.set.Load(); !s.p2c || s.proxy.Retries != 1 || s.proxy.UpstreamTimeout != 7*time.Second {
		t.Fatalf("settings not applied: %+v", s.proxy)
	}
	// The listener's stats carried over the move.
	snap, _ := p.Snapshot(context.Background())
	if len(snap.Listeners) != 1 || snap.Listeners[0].Address != newAddr || snap.Listeners[0].Requests < r.Sent {
		t.Fatalf("listeners after the move: %+v, want one on %s with at least %d requests", snap.Listeners, newAddr, r.Sent)
	}
}

func TestReloadLetsTheOldListenersConnectionsFinish(t *testing.T) {
	w0, arrived := slowWorker(t, 300*time.Millisecond)
	cfg := testConfig(t, "")
	p := startProxy(t, cfg, Options{}, w0.backend)
	oldAddr := p.Addr("http")
	busy, idle := dialRaw(t, oldAddr), dialRaw(t, oldAddr)
	idle.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := idle.response("GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the reload: %d, close %v", resp.StatusCode, resp.Close)
	}
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-arrived

	next := reloaded(cfg)
	next.Proxy.Listen = testenv.FreeAddr(t)
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	// The request in flight completes; its connection then closes.
	resp, body := busy.response("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("in-flight request: %d %q, close %v; want 200 done with Connection: close", resp.StatusCode, body, resp.Close)
	}
	// An idle keep-alive connection gets one more request, then closes.
	idle.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := idle.response("GET"); resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("idle connection after the reload: %d, close %v", resp.StatusCode, resp.Close)
	}
	if refused(oldAddr) == false {
		t.Fatal("the old address still accepts connections")
	}
}

func TestReloadAppliesTimeoutsLimitsAndTheRequestIDHeader(t *testing.T) {
	w0, arrived := slowWorker(t, 600*time.Millisecond)
	cfg := testConfig(t, "")
	cfg.Proxy.UpstreamTimeout = 5 * time.Second
	cfg.Proxy.MaxBodyBytes = 1 << 20
	p := startProxy(t, cfg, Options{}, w0.backend)
	base := "http://" + p.Addr("http")
	c := client()
	post := func() int {
		resp, err := c.Post(base+"/upload", "application/octet-stream", bytes.NewReader(make([]byte, 200<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != 200 {
		t.Fatalf("a 200KiB upload under a 1MiB limit: %d", code)
	}
	// A slow request in flight when the timeout drops finishes under the
	// timeout it started with.
	var wg sync.WaitGroup
	wg.Add(1)
	var inflight int
	go func() {
		defer wg.Done()
		resp, err := client().Get(base + "/slow")
		if err == nil {
			resp.Body.Close()
			inflight = resp.StatusCode
		}
	}()
	<-arrived

	next := reloaded(cfg)
	next.Proxy.UpstreamTimeout = 200 * time.Millisecond
	next.Proxy.MaxBodyBytes = 100 << 10
	next.Proxy.RequestIDHeader = "X-Trace-Id"
	next.Proxy.IdleTimeout = 300 * time.Millisecond
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if inflight != 200 {
		t.Fatalf("the request in flight at the reload got %d, want 200", inflight)
	}
	if resp, _ := get(t, c, base+"/slow"); resp.StatusCode != 504 {
		t.Fatalf("a 600ms request under a 200ms upstream_timeout: %d, want 504", resp.StatusCode)
	}
	if code := post(); code != 413 {
		t.Fatalf("a 200KiB upload under a 100KiB limit: %d, want 413", code)
	}
	resp, _ := get(t, c, base+"/")
	if resp.Header.Get("X-Got-Trace-Id") == "" || resp.Header.Get("X-Got-Request-Id") != "" {
		t.Fatalf("worker got X-Trace-Id %q, X-Request-Id %q; want only the renamed header", resp.Header.Get("X-Got-Trace-Id"), resp.Header.Get("X-Got-Request-Id"))
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("X-Trace-Id", "from-client")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Got-Trace-Id"); got != "from-client" {
		t.Fatalf("a client's own X-Trace-Id reached the worker as %q", got)
	}
	// A new connection idles out after the new idle_timeout.
	raw := dialRaw(t, p.Addr("http"))
	raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	raw.response("GET")
	start := time.Now()
	if _, err := raw.br.ReadByte(); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("idle connection: %v after %s, want closed within the 300ms idle_timeout", err, time.Since(start))
	}
}

func TestReloadAppliesRetries(t *testing.T) {
	dir := sockDir(t)
	// Worker 0 passes its health check but drops every other request
	// without a response; worker 1 answers.
	w0 := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	w1 := startGoUpstream(t, dir, 1, echoHandler("w1"))
	cfg := testConfig(t, "")
	cfg.Workers.Health.Path = "/health"
	p := startProxy(t, cfg, Options{}, w0.backend, w1.backend)
	base := "http://" + p.Addr("http")
	c := client()
	for i := 0; i < 20; i++ {
		if resp, _ := get(t, c, base+"/"); resp.StatusCode != 200 {
			t.Fatalf("GET %d with retries on: %d", i, resp.StatusCode)
		}
	}
	next := reloaded(cfg)
	next.Proxy.Retries = -1
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		resp, _ := get(t, c, base+"/")
		if resp.StatusCode == 502 {
			break // worker 0 was picked, and nothing retried
		}
		if i == 60 {
			t.Fatal("60 GETs after retries: -1 all succeeded; were they still retried?")
		}
	}
}

func TestReloadAppliesHealthCheckSettingsAtOnce(t *testing.T) {
	dir := sockDir(t)
	w0 := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(500)
		}
	}))
	cfg := testConfig(t, "")
	cfg.Workers.Health.Path = "/health"
	cfg.Workers.Health.Interval = time.Hour // once healthy, not checked again for an hour
	cfg.Workers.Health.Rise = 1
	flips := make(chan string, 4)
	// Not startProxy: its WaitHealthy would have the worker checked every
	// 50ms for a while. Here the first check passes, and with nobody
	// waiting the next one is an hour away.
	p, err := New(cfg, Options{OnHealth: func(id int, healthy bool, reason string) {
		if !healthy {
			flips <- reason
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	p.SetWorkers([]supervisor.Backend{w0.backend})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	waitFor(t, "the first check to pass", 5*time.Second, func() bool { return p.Healthy(0) })

	next := reloaded(cfg)
	next.Workers.Health.Path = "/broken"
	next.Workers.Health.Interval = 50 * time.Millisecond
	next.Workers.Health.Fall = 2
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-flips:
		if !strings.Contains(reason, "/broken -> 500") {
			t.Fatalf("unhealthy because %q, want the new path's 500", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the new health path and interval did not apply within 5s")
	}
}

func TestReloadRefusesAnAddressInUseAndChangesNothing(t *testing.T) {
	dir := sockDir(t)
	w0 := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	p := startProxy(t, cfg, Options{}, w0.backend)
	oldHTTP, oldAdmin := p.Addr("http"), p.Addr("admin")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	next := reloaded(cfg)
	next.Proxy.Listen = testenv.FreeAddr(t) // bound first, then given back
	next.Proxy.Admin = taken.Addr().String()
	next.Proxy.RequestIDHeader = "X-Trace-Id"
	err = p.Reload(context.Background(), next)
	oneLine(t, err, "proxy.admin "+taken.Addr().String(), "address already in use", "pick a free port")

	if !refused(next.Proxy.Listen) {
		t.Fatalf("the refused reload left %s bound", next.Proxy.Listen)
	}
	if p.Addr("http") != oldHTTP || p.Addr("admin") != oldAdmin {
		t.Fatalf("addresses after a refused reload: %s, %s", p.Addr("http"), p.Addr("admin"))
	}
	resp, _ := get(t, client(), "http://"+oldHTTP+"/")
	if resp.StatusCode != 200 || resp.Header.Get("X-Got-Request-Id") == "" {
		t.Fatalf("old listener after a refused reload: %d, X-Request-Id %q (half applied?)", resp.StatusCode, resp.Header.Get("X-Got-Request-Id"))
	}
	if resp, _ := get(t, client(), "http://"+oldAdmin+"/ready"); resp.StatusCode != 200 {
		t.Fatalf("old admin after a refused reload: %d", resp.StatusCode)
	}
}

func TestReloadMovesTheAdminEndpointAndAddsAndRemovesHTTPS(t *testing.T) {
	dir := sockDir(t)
	w0 := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	p := startProxy(t, cfg, Options{TLSDir: dir + "/tls"}, w0.backend)
	oldAdmin := p.Addr("admin")

	next := reloaded(cfg)
	next.Proxy.Admin = testenv.FreeAddr(t)
	next.Proxy.TLS = config.TLS{Listen: "127.0.0.1:0", SelfSigned: true}
	if err := p.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, client(), "http://"+next.Proxy.Admin+"/ready"); resp.StatusCode != 200 {
		t.Fatalf("new admin: %d", resp.StatusCode)
	}
	waitFor(t, "the old admin address to refuse", 5*time.Second, func() bool { return refused(oldAdmin) })
	httpsAddr := p.Addr("https")
	tc := dialTLS(t, httpsAddr)
	if code := tc.get("/secure"); code != 200 {
		t.Fatalf("the added HTTPS listener: %d", code)
	}

	// Removing HTTPS again; the admin may not leave loopback (the config
	// loader refuses it too: this checks the proxy's own guard).
	gone := reloaded(next)
	gone.Proxy.TLS = config.TLS{}
	if err := p.Reload(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	if p.Addr("https") != "" || !refused(httpsAddr) {
		t.Fatalf("HTTPS listener still open after its removal (%q)", p.Addr("https"))
	}
	outside := reloaded(gone)
	outside.Proxy.Admin = "0.0.0.0:0"
	oneLine(t, p.Reload(context.Background(), outside), "not loopback")
	if p.Addr("admin") != next.Proxy.Admin {
		t.Fatalf("admin on %s after a refused move off loopback", p.Addr("admin"))
	}
}

func TestReloadAfterCloseIsRefused(t *testing.T) {
	cfg := testConfig(t, "")
	p, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())
	next := reloaded(cfg)
	next.Proxy.Listen = testenv.FreeAddr(t)
	if err := p.Reload(context.Background(), next); err == nil || !refused(next.Proxy.Listen) {
		t.Fatalf("reload of a closed proxy: %v (listening on %s: %v)", err, next.Proxy.Listen, !refused(next.Proxy.Listen))
	}
}
