package builtin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer sizes. Heads larger than a buffer still parse (line by line).
const bufSize = 16 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// Client connection states, for a graceful Close.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// clientConn is one client connection and everything its requests reuse.
type clientConn struct {
	p     *Proxy
	l     *listener
	conn  net.Conn
	br    *bufio.Reader
	bw    countingWriter
	state atomic.Int32

	remoteIP []byte
	req      head
	resp     head
	lines    []int32
	body     []byte // a small request body, kept for a retry
	scratch  []byte // number and id formatting
	rng      uint64
	idBase   [8]byte
	idSeq    uint64
	rdl, wdl deadline
	in       uint64 // bytes read from the client for this request
}

// countingWriter counts what goes through a bufio.Writer.
type countingWriter struct {
	*bufio.Writer
	n uint64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	w.n += uint64(n)
	return n, err
}

func (w *countingWriter) WriteString(s string) (int, error) {
	n, err := w.Writer.WriteString(s)
	w.n += uint64(n)
	return n, err
}

func (p *Proxy) acceptLoop(l *listener) {
	var delay time.Duration
	var serial uint32
	var seed [8]byte
	rand.Read(seed[:])
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if p.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.logf("proxy %s: accept: %v; retrying in %s", l.name, err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		serial++
		c := &clientConn{p: p, l: l, conn: conn, rng: binary.LittleEndian.Uint64(seed[:]) ^ uint64(serial)*0x9E3779B97F4A7C15}
		if c.rng == 0 {
			c.rng = 1
		}
		copy(c.idBase[:], seed[:])
		binary.BigEndian.PutUint32(c.idBase[4:], binary.BigEndian.Uint32(seed[4:])^serial)
		if tcp, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			c.remoteIP = []byte(tcp.IP.String())
		} else {
			c.remoteIP = []byte("127.0.0.1")
		}
		p.connsMu.Lock()
		if p.closing.Load() {
			p.connsMu.Unlock()
			conn.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.connsWG.Add(1)
		p.connsMu.Unlock()
		l.counters.ConnOpen()
		go c.serve()
	}
}

func (c *clientConn) closeIfIdle() {
	if c.state.CompareAndSwap(connIdle, connClosed) {
		c.conn.Close()
	}
}

// serve runs the connection's requests one after another (pipelined
// requests included) until either side closes or the proxy shuts down.
func (c *clientConn) serve() {
	p := c.p
	defer func() {
		c.conn.Close()
		if c.br != nil {
			c.br.Reset(nil)
			readerPool.Put(c.br)
			c.bw.Reset(nil)
			writerPool.Put(c.bw.Writer)
		}
		c.l.counters.ConnClose()
		p.connsMu.Lock()
		delete(p.conns, c)
		p.connsMu.Unlock()
		p.connsWG.Done()
	}()
	cfg := &p.cfg.Proxy
	if c.l.tls != nil {
		tc := tls.Server(c.conn, c.l.tls)
		c.conn.SetDeadline(time.Now().Add(cfg.ReadHeaderTimeout))
		ctx, cancel := context.WithTimeout(p.ctx, cfg.ReadHeaderTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return
		}
		c.conn = tc
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.conn)
	c.bw.Writer = writerPool.Get().(*bufio.Writer)
	c.bw.Writer.Reset(c.conn)
	for {
		now := time.Now()
		if t, ok := c.rdl.due(now, cfg.IdleTimeout); ok {
			c.conn.SetReadDeadline(t)
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(connIdle, connActive) {
			return // Close got here first
		}
		if !c.headBuffered() {
			// A slow or fragmented head: bound the time to read the rest.
			c.conn.SetReadDeadline(time.Now().Add(cfg.ReadHeaderTimeout))
			c.rdl.clear()
		}
		keep := c.handle()
		if !keep || p.closing.Load() {
			return
		}
		c.state.Store(connIdle)
		if p.closing.Load() {
			return
		}
	}
}

// headBuffered reports whether a whole request head is already buffered.
func (c *clientConn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Index(b, crlfcrlf) >= 0
}

var crlfcrlf = []byte("\r\n\r\n")

// handle serves one request and reports whether the connection goes on.
func (c *clientConn) handle() bool {
	p := c.p
	start := time.Now()
	var err error
	c.lines, err = c.req.parseRequest(c.br, p.cfg.Proxy.MaxHeaderBytes, p.requestID, c.lines)
	lc := &c.l.counters
	lc.Begin()
	c.in = uint64(len(c.req.buf))
	c.bw.n = 0
	status, keep := c.forward(err, start)
	lc.End(status, time.Since(start), c.in, c.bw.n)
	return keep
}

// rand is a per-connection xorshift: no shared state on the hot path.
func (c *clientConn) rand() uint64 {
	x := c.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	c.rng = x
	return x
}

// Canned responses the proxy makes itself.
var (
	resp400 = cannedResponse(400, "Bad Request", "bad request: malformed HTTP\n", true)
	resp408 = cannedResponse(408, "Request Timeout", "request head not received in time\n", true)
	resp413 = cannedResponse(413, "Content Too Large", "request body over proxy.max_body_bytes\n", true)
	resp431 = cannedResponse(431, "Request Header Fields Too Large", "request head over proxy.max_header_bytes\n", true)
	resp501 = cannedResponse(501, "Not Implemented", "unsupported transfer coding\n", true)
	resp502 = cannedResponse(502, "Bad Gateway", "no valid response from a worker\n", false)
	resp503 = cannedResponse(503, "Service Unavailable", "no healthy worker\n", false)
	resp504 = cannedResponse(504, "Gateway Timeout", "worker did not answer within proxy.upstream_timeout\n", false)
	// Versions that also close the connection, when a request body is
	// left unread or the client asked to close.
	resp502Close = cannedResponse(502, "Bad Gateway", "no valid response from a worker\n", true)
	resp503Close = cannedResponse(503, "Service Unavailable", "no healthy worker\n", true)
	resp504Close = cannedResponse(504, "Gateway Timeout", "worker did not answer within proxy.upstream_timeout\n", true)
	continue100  = []byte("HTTP/1.1 100 Continue\r\n\r\n")
)

func cannedResponse(code int, reason, body string, closeConn bool) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 ")
	b.WriteString(itoa(code))
	b.WriteString(" " + reason + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	b.WriteString(itoa(len(body)))
	b.WriteString("\r\n")
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.Bytes()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// reply sends a canned response and reports its status.
func (c *clientConn) reply(r []byte, status int) int {
	c.bw.Write(r)
	c.bw.Flush()
	return status
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readBody reads a small request body whole into c.body.
func (c *clientConn) readBody(n int) error {
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if c.br.Buffered() < n {
		if t, ok := c.rdl.due(time.Now(), c.p.cfg.Proxy.IdleTimeout); ok {
			c.conn.SetReadDeadline(t)
		}
	}
	_, err := io.ReadFull(c.br, c.body)
	return err
}
