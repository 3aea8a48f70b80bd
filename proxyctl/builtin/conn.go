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
// Worker connections get bigger ones: they are fewer, and a small
// response is awaited whole in the reader before it is relayed.
const (
	clientBufSize   = 8 << 10
	upstreamBufSize = 16 << 10
)

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientBufSize) }}
)

// Client connection states, for a graceful Close.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// clientConn is one client connection and everything its requests reuse.
type clientConn struct {
	p *Proxy
	l *listener
	// s is the settings the current request runs under, loaded as it
	// starts: a reload never changes them under a request in flight.
	s    *settings
	conn net.Conn // the TLS connection over raw, once handshaken
	// raw is the accepted connection, never replaced: other goroutines
	// (Close) close it through this field, not through conn.
	raw   net.Conn
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
	// unread: the request's body (or the rest of a refused head) was not
	// all read. linger: the proxy answered and closes with input unread;
	// the client may still be sending (a refused upload).
	unread, linger bool
}

// countingWriter counts what goes through a bufio.Writer, and keeps the
// connection's write deadline moving while a long body streams out.
type countingWriter struct {
	*bufio.Writer
	n uint64

	conn    net.Conn
	wdl     *deadline
	timeout time.Duration // how long one write may block
}

// extendWrite moves the write deadline before a flush (coalesced).
func (w *countingWriter) extendWrite() {
	if t, ok := w.wdl.due(time.Now(), w.timeout); ok {
		w.conn.SetWriteDeadline(t)
	}
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
		c := &clientConn{p: p, l: l, conn: conn, raw: conn, rng: binary.LittleEndian.Uint64(seed[:]) ^ uint64(serial)*0x9E3779B97F4A7C15}
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
		c.raw.Close()
	}
}

// serve runs the connection's requests one after another (pipelined
// requests included) until either side closes or the proxy shuts down.
func (c *clientConn) serve() {
	p := c.p
	defer func() {
		if r := recover(); r != nil {
			// One broken connection must not take the daemon down.
			p.logf("proxy %s: connection from %s: panic: %v", c.l.name, c.remoteIP, r)
			c.linger = false
		}
		if c.linger && p.ctx.Err() == nil {
			c.lingerClose()
		}
		c.conn.Close()
		if c.br != nil {
			c.br.Reset(nil)
			readerPool.Put(c.br)
		}
		c.releaseWriter()
		c.l.counters.ConnClose()
		p.connsMu.Lock()
		delete(p.conns, c)
		p.connsMu.Unlock()
		p.connsWG.Done()
	}()
	c.s = p.set.Load()
	if tc := c.l.tls.Load(); tc != nil {
		tc := tls.Server(c.conn, tc)
		c.conn.SetDeadline(time.Now().Add(c.s.proxy.ReadHeaderTimeout))
		ctx, cancel := context.WithTimeout(p.ctx, c.s.proxy.ReadHeaderTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return
		}
		c.conn.SetDeadline(time.Time{}) // from here on rdl and wdl rule
		c.conn = tc
	}
	c.bw.conn, c.bw.wdl = c.conn, &c.wdl
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.conn)
	for {
		c.s = p.set.Load()
		now := time.Now()
		if t, ok := c.rdl.due(now, c.s.proxy.IdleTimeout); ok {
			c.conn.SetReadDeadline(t)
		}
		if c.br.Buffered() == 0 {
			// The writer is empty between requests: an idle keep-alive
			// connection holds no write buffer.
			c.releaseWriter()
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		// The request starts here: it runs under the settings current
		// now, even if a reload came while the connection sat idle.
		c.s = p.set.Load()
		c.bw.timeout = c.s.proxy.IdleTimeout
		if c.bw.Writer == nil {
			c.bw.Writer = writerPool.Get().(*bufio.Writer)
			c.bw.Writer.Reset(c.conn)
		}
		// A client that stops reading its responses must not hold the
		// connection (and a worker's) forever.
		c.bw.extendWrite()
		if !c.state.CompareAndSwap(connIdle, connActive) {
			return // Close got here first
		}
		if !c.headBuffered() {
			// A slow or fragmented head: bound the time to read the rest.
			c.conn.SetReadDeadline(time.Now().Add(c.s.proxy.ReadHeaderTimeout))
			c.rdl.clear()
		}
		keep := c.handle()
		// A retired listener's connection closes once a response said
		// Connection: close (keep is false then). One whose response went
		// out as keep-alive just before the reload serves one more
		// request: closing it now would break the promise just made.
		if !keep || p.closing.Load() {
			return
		}
		c.state.Store(connIdle)
		if p.closing.Load() {
			return
		}
	}
}

// Lingering close: after the proxy's answer, the client's remaining
// input is read and dropped for a while before the socket closes. Closing
// with unread input sends a TCP reset, which can destroy the answer
// before the client reads it (a 413 for an upload, say).
const (
	lingerTimeout = 2 * time.Second
	lingerMax     = 64 << 20
)

func (c *clientConn) lingerClose() {
	cw, ok := c.conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
	if c.br != nil {
		io.CopyN(io.Discard, c.br, lingerMax)
	}
}

// releaseWriter returns the write buffer to the pool.
func (c *clientConn) releaseWriter() {
	if c.bw.Writer != nil {
		c.bw.Writer.Reset(nil)
		writerPool.Put(c.bw.Writer)
		c.bw.Writer = nil
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
	start := time.Now()
	var err error
	c.lines, err = c.req.parseRequest(c.br, c.s.proxy.MaxHeaderBytes, c.s.requestIDLower, c.lines)
	if err != nil {
		if r, _ := parseErrorReply(err, &c.req); r == nil {
			return false // closed mid-head: not a request
		}
	}
	c.unread = err != nil
	lc := c.l.counters
	lc.Begin()
	c.in = uint64(len(c.req.buf))
	c.bw.n = 0
	status, keep := c.forward(err, start)
	lc.End(status, time.Since(start), c.in, c.bw.n)
	c.linger = !keep && status != 0 && c.unread
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
		if t, ok := c.rdl.due(time.Now(), c.s.proxy.IdleTimeout); ok {
			c.conn.SetReadDeadline(t)
		}
	}
	_, err := io.ReadFull(c.br, c.body)
	return err
}
