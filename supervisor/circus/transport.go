package circus

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// zmq4 performs the ZMTP handshake on a bare net.Conn with no deadline: a
// peer that accepts TCP but never speaks ZMTP (a wrong port, a stuck
// circusd) would hang a dial forever, and on the listening side it would
// stall the accept loop for every other client. So whisgee dials and
// listens through its own transports ("wgtcp", "wgipc"): the same sockets,
// with a deadline on the handshake and a signal when a connection dies.
const (
	tcpScheme = "wgtcp"
	ipcScheme = "wgipc"
)

func init() {
	for name, network := range map[string]string{tcpScheme: "tcp", ipcScheme: "unix"} {
		if err := zmq4.RegisterTransport(name, guardedTransport{network: network}); err != nil {
			panic("circus: " + err.Error())
		}
	}
}

// zmqAddress turns tcp://H:P or ipc://PATH into the guarded transport's
// endpoint and checks its form.
func zmqAddress(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "tcp://"):
		hostPort := strings.TrimPrefix(endpoint, "tcp://")
		if _, _, err := net.SplitHostPort(hostPort); err != nil {
			return "", fmt.Errorf("endpoint %q: want tcp://HOST:PORT", endpoint)
		}
		return tcpScheme + "://" + hostPort, nil
	case strings.HasPrefix(endpoint, "ipc://"):
		if strings.TrimPrefix(endpoint, "ipc://") == "" {
			return "", fmt.Errorf("endpoint %q: want ipc://PATH", endpoint)
		}
		return ipcScheme + "://" + strings.TrimPrefix(endpoint, "ipc://"), nil
	}
	return "", fmt.Errorf("endpoint %q: want tcp://HOST:PORT or ipc://PATH", endpoint)
}

// connWatch is put in a socket's context to learn about the connection its
// Dial makes: the handshake deadline to apply, and the connection itself,
// so that the caller can lift the deadline after Dial and notice its death.
type connWatch struct {
	handshake time.Duration

	mu   sync.Mutex
	conn *guardedConn
}

type connWatchKey struct{}

func withConnWatch(ctx context.Context, w *connWatch) context.Context {
	return context.WithValue(ctx, connWatchKey{}, w)
}

// established lifts the handshake deadline once Dial returned, and returns
// a channel closed when the connection fails.
func (w *connWatch) established() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		dead := make(chan struct{})
		close(dead)
		return dead
	}
	_ = w.conn.SetDeadline(time.Time{})
	return w.conn.dead
}

// guardedTransport is zmq4's net transport with deadlines.
type guardedTransport struct{ network string }

func (t guardedTransport) Dial(ctx context.Context, dialer transport.Dialer, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, t.network, addr)
	if err != nil {
		return nil, err
	}
	gc := newGuardedConn(c)
	if w, ok := ctx.Value(connWatchKey{}).(*connWatch); ok {
		if w.handshake > 0 {
			_ = c.SetDeadline(time.Now().Add(w.handshake))
		}
		w.mu.Lock()
		w.conn = gc
		w.mu.Unlock()
	}
	// The socket's context ends when the socket closes: take the connection
	// down with it, which also unblocks a handshake still reading.
	context.AfterFunc(ctx, func() { gc.Close() })
	return gc, nil
}

func (t guardedTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	l, err := net.Listen(t.network, addr)
	if err != nil {
		return nil, err
	}
	return newHandshakeListener(l, serverHandshakeTimeout), nil
}

func (t guardedTransport) Addr(ep string) (string, error) {
	if t.network == "unix" {
		return ep, nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// guardedConn closes dead on the first read or write error.
type guardedConn struct {
	net.Conn
	once sync.Once
	dead chan struct{}
}

func newGuardedConn(c net.Conn) *guardedConn {
	return &guardedConn{Conn: c, dead: make(chan struct{})}
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.die()
	}
	return n, err
}

func (c *guardedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.die()
	}
	return n, err
}

func (c *guardedConn) Close() error {
	c.die()
	return c.Conn.Close()
}

func (c *guardedConn) die() { c.once.Do(func() { close(c.dead) }) }

// serverHandshakeTimeout bounds how long a client that connected to the
// circus-protocol server may take to complete its ZMTP handshake.
const serverHandshakeTimeout = 3 * time.Second

// handshakeListener hands zmq4 only connections whose peer has started
// its ZMTP greeting: zmq4 runs each handshake inside its accept loop, so
// one silent client would keep every other one waiting. It vets each new
// connection in a goroutine of its own (one byte, within timeout), and the
// connection keeps a deadline until its greeting and READY are read.
type handshakeListener struct {
	net.Listener
	timeout time.Duration
	ready   chan net.Conn
	failed  chan struct{} // closed when the listener fails; err says why
	err     error
	closed  chan struct{}
	once    sync.Once
}

func newHandshakeListener(l net.Listener, timeout time.Duration) *handshakeListener {
	hl := &handshakeListener{Listener: l, timeout: timeout, ready: make(chan net.Conn),
		failed: make(chan struct{}), closed: make(chan struct{})}
	go hl.acceptLoop()
	return hl
}

func (l *handshakeListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err = err
			close(l.failed)
			return
		}
		go l.vet(c)
	}
}

func (l *handshakeListener) vet(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	// A ZMTP peer sends its signature at once (libzmq sends its first 10
	// bytes, then waits for ours): one byte proves it speaks.
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	hc := &handshakeConn{Conn: c, pending: first[:]}
	select {
	case l.ready <- hc:
	case <-l.closed:
		c.Close()
	}
}

func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.failed:
		return nil, l.err
	}
}

func (l *handshakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// receive relays a socket's messages to a channel until the socket fails
// or ctx ends, so that callers can select on them.
func receive(ctx context.Context, sock zmq4.Socket) <-chan zmq4.Msg {
	msgs := make(chan zmq4.Msg)
	go func() {
		for {
			m, err := sock.Recv()
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return msgs
}

// zmtpGreetingSize is the fixed size of a ZMTP 3 greeting.
const zmtpGreetingSize = 64

// handshakeConn lifts its deadline once the peer's greeting and first
// command frame (READY, under the NULL mechanism) have been read. It reads
// the frame's length from the ZMTP framing (flags byte, then a 1-byte or,
// with the LONG flag, an 8-byte size) as it passes by.
type handshakeConn struct {
	net.Conn
	mu      sync.Mutex
	pending []byte // read while vetting, returned first
	seen    []byte // first bytes read, up to greeting + longest frame header
	count   int    // bytes read so far
	done    bool
	needed  int // total handshake bytes once known, else 0
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	var err error
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		c.mu.Unlock()
		n, err = c.Conn.Read(p)
		c.mu.Lock()
	}
	if c.done || n == 0 {
		return n, err
	}
	const headerMax = zmtpGreetingSize + 1 + 8
	if len(c.seen) < headerMax {
		c.seen = append(c.seen, p[:min(n, headerMax-len(c.seen))]...)
	}
	c.count += n
	total := c.count
	if c.needed == 0 && len(c.seen) > zmtpGreetingSize {
		flags := c.seen[zmtpGreetingSize]
		switch {
		case flags&0x02 == 0 && len(c.seen) >= zmtpGreetingSize+2:
			c.needed = zmtpGreetingSize + 2 + int(c.seen[zmtpGreetingSize+1])
		case flags&0x02 != 0 && len(c.seen) >= headerMax:
			size := binary.BigEndian.Uint64(c.seen[zmtpGreetingSize+1 : headerMax])
			c.needed = headerMax + int(min(size, 1<<20))
		}
	}
	if c.needed > 0 && total >= c.needed {
		c.done = true
		_ = c.Conn.SetDeadline(time.Time{})
	}
	return n, err
}
