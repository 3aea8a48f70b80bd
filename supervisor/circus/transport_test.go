package circus

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// A wrong endpoint must fail within ConnectTimeout (3s by default) with a
// one-line error that says what to fix: circusctl hangs instead.
func TestWrongEndpointFailsFastWithOneLine(t *testing.T) {
	ctx := context.Background()

	// A port nothing listens on: take one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "tcp://" + l.Addr().String()
	l.Close()

	// A TCP server that accepts and never speaks ZeroMQ.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	// A PUB socket, as when the pubsub endpoint is given for the control one.
	pctx, cancel := context.WithCancel(ctx)
	pub := zmq4.NewPub(pctx)
	t.Cleanup(func() { cancel(); pub.Close() })
	if err := pub.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, endpoint, want string
	}{
		{"refused", refused, "connection refused"},
		{"silent", "tcp://" + silent.Addr().String(), "no ZeroMQ handshake"},
		{"pubsub endpoint", "tcp://" + pub.Addr().String(), "not a circus control endpoint"},
		{"ipc path absent", "ipc:///nonexistent/whisgee/circus.sock", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tc.endpoint, func(o *Options) { o.ConnectTimeout = 0 }) // the default, 3s
			start := time.Now()
			_, err := c.Workers(ctx)
			took := time.Since(start)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.endpoint) {
				t.Errorf("error %q does not name the endpoint", err)
			}
			if took > 3500*time.Millisecond {
				t.Errorf("took %s; the limit is 3s", took)
			}
		})
	}
}

// A client that connects and never completes its handshake must not stop
// the circus-protocol server from serving others.
func TestServerServesPastASilentClient(t *testing.T) {
	sup := newMemSupervisor(2)
	srv := startServer(t, sup)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := newTestClient(t, srv.Endpoint(), func(o *Options) { o.ConnectTimeout = 5 * time.Second })
	if _, err := c.Workers(context.Background()); err != nil {
		t.Fatalf("a second client got no answer while the first sat silent: %v", err)
	}
}

func TestEndpointsMustBeLocal(t *testing.T) {
	if _, err := Listen("tcp://0.0.0.0:0", newMemSupervisor(1), ServeOptions{}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("want a loopback error for 0.0.0.0, got %v", err)
	}
	if _, err := New(Options{Endpoint: "http://127.0.0.1:5555"}); err == nil || !strings.Contains(err.Error(), "tcp://HOST:PORT") {
		t.Fatalf("want a form error, got %v", err)
	}
}

// The event stream survives circusd being away: one EventError per outage,
// then events again once the pubsub endpoint is back.
func TestSubscribeReconnects(t *testing.T) {
	addr := testenv.FreeAddr(t)
	c := newTestClient(t, "tcp://"+testenv.FreeAddr(t), func(o *Options) { o.PubSub = "tcp://" + addr })
	events, stop := c.Subscribe()
	t.Cleanup(stop)
	next := func(what string) supervisor.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", what)
		}
		return supervisor.Event{}
	}
	if ev := next("error"); ev.Kind != supervisor.EventError || !strings.Contains(ev.Message, addr) {
		t.Fatalf("first event %+v: want an error naming %s", ev, addr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pub := zmq4.NewPub(ctx)
	t.Cleanup(func() { cancel(); pub.Close() })
	if err := pub.Listen("tcp://" + addr); err != nil {
		t.Fatal(err)
	}
	if ev := next("reconnect"); ev.Kind != supervisor.EventAction || !strings.Contains(ev.Message, "reachable again") {
		t.Fatalf("after the endpoint came back: %+v", ev)
	}
	for len(pub.(zmq4.Topics).Topics()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// The control endpoint is absent: the worker of a reap stays unknown.
	if err := pub.Send(zmq4.NewMsgFrom([]byte("watcher.web.reap"), []byte(`{"process_pid": 42, "time": 1795731393.5, "exit_code": 3}`))); err != nil {
		t.Fatal(err)
	}
	if ev := next("reap"); ev.Kind != supervisor.EventExit || ev.PID != 42 || ev.ExitCode != 3 {
		t.Fatalf("relayed event %+v", ev)
	}
}
