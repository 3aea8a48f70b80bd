package builtin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

func TestCloseLetsInFlightRequestsFinish(t *testing.T) {
	dir := sockDir(t)
	started := make(chan struct{}, 1)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, "done")
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	idle := dialRaw(t, p.Addr("http")) // an idle keep-alive client
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.response("GET")

	result := make(chan string, 1)
	go func() {
		resp, err := client().Get("http://" + p.Addr("http") + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(body)
	}()
	<-started
	addr, admin := p.Addr("http"), p.Addr("admin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	// While requests drain, the admin endpoint says so, as Envoy's does.
	waitFor(t, "/ready to answer 503 DRAINING", 5*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/ready")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && string(body) == "DRAINING\n"
	})
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("Close returned after %s, before the 300ms request finished", took)
	}
	if _, err := http.Get("http://" + admin + "/ready"); err == nil {
		t.Fatal("admin endpoint still up after Close")
	}
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request during Close: %q", got)
	}
	if _, err := idle.br.ReadByte(); err == nil {
		t.Fatal("idle client connection still open after Close")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("still accepting after Close")
	}
}

func TestCloseCutsStuckRequestsAtItsDeadline(t *testing.T) {
	dir := sockDir(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	started := make(chan struct{}, 1)
	up := startGoUpstream(t, dir, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			started <- struct{}{}
			<-release
		}
	}))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend) // upstream timeout 60s
	go client().Get("http://" + p.Addr("http") + "/stuck")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline error", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %s with a 200ms deadline", took)
	}
}

func TestConnectionGaugesReturnToZero(t *testing.T) {
	dir := sockDir(t)
	up := startGoUpstream(t, dir, 0, echoHandler("w0"))
	p := startProxy(t, testConfig(t, ""), Options{}, up.backend)
	c := client()
	for i := 0; i < 10; i++ {
		get(t, c, "http://"+p.Addr("http")+"/")
	}
	s, _ := p.Snapshot(t.Context())
	if s.Cluster.CxActive != 1 || s.Hosts[0].CxActive != 1 {
		t.Fatalf("cx_active cluster %d host %d, want 1 pooled connection", s.Cluster.CxActive, s.Hosts[0].CxActive)
	}
	p.SetWorkers([]supervisor.Backend{})
	c.CloseIdleConnections()
	waitFor(t, "connection gauges at zero", 5*time.Second, func() bool {
		s, _ = p.Snapshot(t.Context())
		return s.Cluster.CxActive == 0 && s.Listeners[0].CxActive == 0
	})
	if s.Cluster.CxTotal != 1 || s.Cluster.CxConnectFail != 0 {
		t.Fatalf("cx_total %d connect_fail %d", s.Cluster.CxTotal, s.Cluster.CxConnectFail)
	}
}

func TestConnectFailuresAreCountedAndRetried(t *testing.T) {
	dir := sockDir(t)
	up0 := startGoUpstream(t, dir, 0, echoHandler("w0"))
	up1 := startGoUpstream(t, dir, 1, echoHandler("w1"))
	cfg := testConfig(t, "")
	cfg.Workers.Health.Interval = time.Hour // the verdict stays "healthy"
	p := startProxy(t, cfg, Options{}, up0.backend, up1.backend)
	// Worker 0's socket vanishes between two checks: connects fail.
	up0.stop()
	c := client()
	for i := 0; i < 30; i++ { // each picks worker 0 first half the time
		// POST too: nothing was sent when the connect failed.
		resp, err := c.Post("http://"+p.Addr("http")+"/", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "w1 / 0" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	s, _ := p.Snapshot(t.Context())
	if s.Cluster.CxConnectFail == 0 || s.Hosts[0].CxConnectFail != s.Cluster.CxConnectFail {
		t.Fatalf("connect failures: cluster %d host %d", s.Cluster.CxConnectFail, s.Hosts[0].CxConnectFail)
	}
}
