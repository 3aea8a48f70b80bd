package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

func TestBalancingSpreadsRequests(t *testing.T) {
	for _, mode := range []string{"least_request", "p2c"} {
		t.Run(mode, func(t *testing.T) {
			dir := sockDir(t)
			var ws []supervisor.Backend
			for i := 0; i < 3; i++ {
				ws = append(ws, startGoUpstream(t, dir, i, echoHandler(fmt.Sprintf("w%d", i))).backend)
			}
			cfg := testConfig(t, "")
			cfg.Proxy.Balance = mode
			p := startProxy(t, cfg, Options{}, ws...)
			c := client()
			seen := map[string]int{}
			for i := 0; i < 300; i++ {
				resp, _ := get(t, c, "http://"+p.Addr("http")+"/")
				seen[resp.Header.Get("X-Worker")]++
			}
			for _, w := range []string{"w0", "w1", "w2"} {
				if seen[w] < 50 {
					t.Fatalf("%s: %v; want every worker to get a fair share of 300", mode, seen)
				}
			}
		})
	}
}

func TestLeastRequestAvoidsTheBusyWorker(t *testing.T) {
	dir := sockDir(t)
	release := make(chan struct{})
	var ws []supervisor.Backend
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("w%d", i)
		ws = append(ws, startGoUpstream(t, dir, i, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				<-release
			}
			io.WriteString(w, name)
		})).backend)
	}
	p := startProxy(t, testConfig(t, ""), Options{}, ws...)
	c := client()
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		// One at a time, so each pick sees the ones before.
		wg.Add(1)
		go func() { defer wg.Done(); get(t, c, "http://"+p.Addr("http")+"/hold") }()
		waitFor(t, fmt.Sprintf("%d requests in flight", i), 5*time.Second, func() bool { return p.InFlight(0)+p.InFlight(1) == int64(i) })
	}
	busy, idle := 0, 1
	if p.InFlight(1) > p.InFlight(0) {
		busy, idle = 1, 0
	}
	if p.InFlight(busy) != 2 || p.InFlight(idle) != 1 {
		t.Fatalf("in flight %d and %d; least_request should have split 3 requests 2/1", p.InFlight(0), p.InFlight(1))
	}
	// The next request goes to the worker with fewer outstanding.
	_, body := get(t, c, "http://"+p.Addr("http")+"/")
	if body != fmt.Sprintf("w%d", idle) {
		t.Fatalf("went to %s, want w%d (fewer in flight)", body, idle)
	}
	close(release)
	wg.Wait()
}

// healthToggle is a worker whose health endpoint can be made to fail, and
// which counts the checks it answers.
type healthToggle struct {
	sick   atomic.Bool
	checks atomic.Int64
}

func (h *healthToggle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") == "whisgee-health" {
		h.checks.Add(1)
		if h.sick.Load() {
			http.Error(w, "sick", 500)
			return
		}
	}
	io.WriteString(w, "ok")
}

func TestHealthFlipsAfterRiseAndFall(t *testing.T) {
	dir := sockDir(t)
	ht := &healthToggle{}
	up := startGoUpstream(t, dir, 0, ht)
	other := startGoUpstream(t, dir, 1, echoHandler("w1"))
	cfg := testConfig(t, "")
	cfg.Workers.Health.Interval = 30 * time.Millisecond
	cfg.Workers.Health.Rise = 2
	cfg.Workers.Health.Fall = 3
	type flip struct {
		healthy bool
		checks  int64
		reason  string
	}
	flips := make(chan flip, 16)
	hook := func(id int, healthy bool, reason string) {
		if id == 0 {
			flips <- flip{healthy, ht.checks.Load(), reason}
		}
	}
	p := startProxy(t, cfg, Options{OnHealth: hook}, up.backend, other.backend)
	if f := <-flips; !f.healthy || f.checks < 2 {
		t.Fatalf("first flip %+v; want healthy after rise=2 passes", f)
	}
	sickAt := ht.checks.Load()
	ht.sick.Store(true)
	f := <-flips
	if f.healthy || f.checks-sickAt < 3 {
		t.Fatalf("flip %+v after %d failing checks; want unhealthy after fall=3", f, f.checks-sickAt)
	}
	if !strings.Contains(f.reason, "500") {
		t.Fatalf("reason %q does not say the check got a 500", f.reason)
	}
	if p.Healthy(0) {
		t.Fatal("Healthy(0) true after the flip")
	}
	// An unhealthy worker gets no traffic.
	c := client()
	for i := 0; i < 20; i++ {
		if _, body := get(t, c, "http://"+p.Addr("http")+"/"); !strings.HasPrefix(body, "w1") {
			t.Fatalf("request went to the unhealthy worker: %q", body)
		}
	}
	healAt := ht.checks.Load()
	ht.sick.Store(false)
	f = <-flips
	if !f.healthy || f.checks-healAt < 2 {
		t.Fatalf("flip %+v after %d passing checks; want healthy after rise=2", f, f.checks-healAt)
	}
}

func TestWaitHealthyWantsACheckAfterTheCall(t *testing.T) {
	dir := sockDir(t)
	ht := &healthToggle{}
	up := startGoUpstream(t, dir, 0, ht)
	cfg := testConfig(t, "")
	cfg.Workers.Health.Interval = time.Hour // the verdict goes stale
	p := startProxy(t, cfg, Options{}, up.backend)
	// The process goes away: the verdict is still "healthy", from before.
	up.stop()
	if !p.Healthy(0) {
		t.Fatal("verdict changed without a check")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := p.WaitHealthy(ctx, 0)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHealthy on a dead worker = %v; want a timeout, not the stale verdict", err)
	}
	// A new process on the same socket: WaitHealthy sees it quickly.
	ht2 := &healthToggle{}
	startGoUpstream(t, dir, 0, ht2)
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if ht2.checks.Load() < 1 {
		t.Fatal("WaitHealthy returned without checking the new process")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("WaitHealthy took %s with a 1h interval; it should check fast while waited on", took)
	}
	if err := p.WaitHealthy(ctx, 99); !errors.Is(err, supervisor.ErrUnknownWorker) {
		t.Fatalf("WaitHealthy(99) = %v, want ErrUnknownWorker", err)
	}
}

// load runs GETs from n goroutines until stop is closed, counting
// responses per worker and failures (errors and 5xx).
type load struct {
	mu       sync.Mutex
	byWorker map[string]int
	failures []string
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, url string, n int, stop <-chan struct{}) *load {
	l := &load{byWorker: map[string]int{}}
	c := client()
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					l.fail("body: " + err.Error())
				case resp.StatusCode >= 500:
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
				default:
					l.mu.Lock()
					l.byWorker[resp.Header.Get("X-Worker")]++
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *load) fail(s string) {
	l.mu.Lock()
	l.failures = append(l.failures, s)
	l.mu.Unlock()
}

func (l *load) count(w string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byWorker[w]
}

func TestDrainingLetsInFlightFinishWithZeroFailures(t *testing.T) {
	dir := sockDir(t)
	slow := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("User-Agent") != "whisgee-health" {
				time.Sleep(20 * time.Millisecond) // requests are in flight when the drain starts
			}
			w.Header().Set("X-Worker", name)
			io.WriteString(w, name)
		})
	}
	up0 := startGoUpstream(t, dir, 0, slow("w0"))
	up1 := startGoUpstream(t, dir, 1, slow("w1"))
	p := startProxy(t, testConfig(t, ""), Options{}, up0.backend, up1.backend)
	stop := make(chan struct{})
	l := startLoad(t, "http://"+p.Addr("http")+"/", 8, stop)
	waitFor(t, "load on both workers", 5*time.Second, func() bool { return l.count("w0") > 5 && l.count("w1") > 5 })

	// The supervisor's safe restart: drain, wait for idle, stop, respawn,
	// wait for health, resume.
	p.SetDraining(0, true)
	waitFor(t, "worker 0 idle", 5*time.Second, func() bool { return p.InFlight(0) == 0 })
	b := p.backendByID(0)
	b.mu.Lock()
	idle := len(b.idle)
	b.mu.Unlock()
	if idle != 0 {
		t.Fatalf("%d idle pooled connections to a draining worker", idle)
	}
	// The proxy's own count is final once nothing is in flight (a
	// client may still be reading its last response).
	served := func() uint64 {
		s, _ := p.Snapshot(context.Background())
		return s.Hosts[0].Requests
	}
	before := served()
	up0.stop() // the process exits
	time.Sleep(100 * time.Millisecond)
	if got := served(); got != before {
		t.Fatalf("worker 0 served %d requests while draining", got-before)
	}
	startGoUpstream(t, dir, 0, slow("w0"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	p.SetDraining(0, false)
	waitFor(t, "worker 0 back in rotation", 5*time.Second, func() bool { return served() > before+5 })
	close(stop)
	l.wg.Wait()
	if len(l.failures) > 0 {
		t.Fatalf("%d failed requests during a safe restart, first: %s", len(l.failures), l.failures[0])
	}
	s, _ := p.Snapshot(ctx)
	if s.Hosts[0].Health != "healthy" || s.Hosts[1].Health != "healthy" {
		t.Fatalf("hosts %+v", s.Hosts)
	}
}

func TestSnapshotShowsDraining(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	p.SetDraining(0, true)
	s, _ := p.Snapshot(t.Context())
	h := s.Hosts[0]
	if h.Health != "draining" || h.WorkerID != 0 || h.Address != up.backend.Address || h.HealthFlags[0] != "eds_status_draining" {
		t.Fatalf("host %+v", h)
	}
	if s.Engine != "builtin" {
		t.Fatalf("engine %q", s.Engine)
	}
}

// dieOnce is a worker that drops the connection without a response for
// requests to /die, and counts the requests it saw by method.
type dieOnce struct {
	name string
	seen sync.Map // method -> *atomic.Int64
}

func (d *dieOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/die" {
		n, _ := d.seen.LoadOrStore(r.Method, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // the worker died mid-request: no response byte
		return
	}
	w.Header().Set("X-Worker", d.name)
	io.WriteString(w, d.name)
}

func (d *dieOnce) count(method string) int64 {
	if n, ok := d.seen.Load(method); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func TestGETIsRetriedElsewhereButPOSTIsNot(t *testing.T) {
	dir := sockDir(t)
	d0 := &dieOnce{name: "w0"}
	up0 := startGoUpstream(t, dir, 0, d0)
	up1 := startGoUpstream(t, dir, 1, echoHandler("w1"))
	// Worker 1 answers /die normally; only worker 0 dies on it.
	p := startProxy(t, testConfig(t, ""), Options{}, up0.backend, up1.backend)
	c := client()
	for i := 0; i < 30; i++ { // each reaches worker 0 first half the time
		resp, body := get(t, c, "http://"+p.Addr("http")+"/die")
		if resp.StatusCode != 200 || body != "w1 /die 0" {
			t.Fatalf("GET /die: %d %q; want it retried on w1", resp.StatusCode, body)
		}
	}
	if d0.count("GET") == 0 {
		t.Fatal("no GET reached the dying worker: the test proves nothing")
	}
	s, _ := p.Snapshot(t.Context())
	if s.Cluster.Retries != uint64(d0.count("GET")) {
		t.Fatalf("retries %d, want %d", s.Cluster.Retries, d0.count("GET"))
	}
	// POSTs that reach the dying worker fail: they are never replayed.
	failed := 0
	for i := 0; i < 30; i++ {
		resp, err := c.Post("http://"+p.Addr("http")+"/die", "text/plain", strings.NewReader("pay once"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 502 {
			failed++
		}
	}
	if failed == 0 || int64(failed) != d0.count("POST") {
		t.Fatalf("%d POSTs got 502, worker 0 saw %d: each POST it saw must fail, never be replayed", failed, d0.count("POST"))
	}
}

// closingWorker answers each request and then closes the connection
// while claiming keep-alive: the pooled connection goes stale. It signals
// each close of a connection that carried a proxied request; health checks
// (GET /health) do not count, so the test's count cannot drift with them.
func closingWorker(t *testing.T, path string) (closed <-chan struct{}) {
	ch := make(chan struct{}, 100)
	rawWorker(t, path, func(c net.Conn) {
		lr := newLineReader(c)
		method, target, ok := lr.readRequestLine()
		if ok && method == "POST" {
			buf := make([]byte, 5) // the tests send 5-byte bodies
			io.ReadFull(lr.br, buf)
		}
		if ok {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		c.Close()
		if ok && target != "/health" {
			ch <- struct{}{}
		}
	})
	return ch
}

func TestStalePooledConnectionsAreHandled(t *testing.T) {
	dir := sockDir(t)
	path := dir + "/stale.sock"
	closed := closingWorker(t, path)
	cfg := testConfig(t, "")
	cfg.Workers.Health.Path = "/health"
	cfg.Workers.Health.Interval = time.Hour
	p := startProxy(t, cfg, Options{}, rawBackend(path))
	rc := dialRaw(t, p.Addr("http"))
	for i := 0; i < 3; i++ {
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d on a stale pooled connection: %d %q", i, resp.StatusCode, body)
		}
		<-closed
	}
	// A POST is checked before it is sent on a pooled connection: the
	// stale one is noticed and a fresh one used, so nothing is lost.
	for i := 0; i < 3; i++ {
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
		if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("POST %d after a stale connection: %d %q", i, resp.StatusCode, body)
		}
		<-closed
	}
}

func TestRequestsWaitForAWorkerThenGet503(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	cfg := testConfig(t, "")
	p := startProxy(t, cfg, Options{HoldTimeout: 5 * time.Second}, up.backend)
	p.SetDraining(0, true)
	c := client()
	done := make(chan string)
	go func() {
		resp, err := c.Get("http://" + p.Addr("http") + "/held")
		if err != nil {
			done <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	select {
	case got := <-done:
		t.Fatalf("request answered while no worker was eligible: %s", got)
	case <-time.After(200 * time.Millisecond):
	}
	p.SetDraining(0, false)
	if got := <-done; got != "200 w0 /held 0" {
		t.Fatalf("held request: %s", got)
	}

	p2 := startProxy(t, testConfig(t, ""), Options{HoldTimeout: 200 * time.Millisecond}, up.backend)
	p2.SetDraining(0, true)
	start := time.Now()
	resp, _ := get(t, c, "http://"+p2.Addr("http")+"/")
	if resp.StatusCode != 503 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("%d after %s; want 503 after the 200ms hold", resp.StatusCode, time.Since(start))
	}
}

func TestSetWorkersAddsAndRemoves(t *testing.T) {
	dir := sockDir(t)
	var closedConns atomic.Int64
	up0 := startGoUpstream(t, dir, 0, echoHandler("w0"), func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closedConns.Add(1)
		}
	})
	up1 := startGoUpstream(t, dir, 1, echoHandler("w1"))
	p := startProxy(t, testConfig(t, ""), Options{}, up0.backend)
	c := client()
	for i := 0; i < 5; i++ {
		get(t, c, "http://"+p.Addr("http")+"/")
	}
	before := closedConns.Load()
	p.SetWorkers([]supervisor.Backend{up1.backend})
	waitFor(t, "removed worker's pooled connection closed", 5*time.Second, func() bool { return closedConns.Load() > before })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitHealthy(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, body := get(t, c, "http://"+p.Addr("http")+"/"); !strings.HasPrefix(body, "w1") {
			t.Fatalf("after SetWorkers: %q", body)
		}
	}
	s, _ := p.Snapshot(ctx)
	if len(s.Hosts) != 1 || s.Hosts[0].WorkerID != 1 {
		t.Fatalf("hosts after SetWorkers: %+v", s.Hosts)
	}
}
