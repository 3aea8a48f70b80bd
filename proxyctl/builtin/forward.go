package builtin

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"
)

// maxBufferedBody is the largest request body read whole before it is
// sent, so that an idempotent request with a body can be retried.
const maxBufferedBody = 64 << 10

// maxTried bounds the workers a request remembers having tried.
const maxTried = 8

// outcome is how one attempt on a worker ended.
type outcome int

const (
	attemptDone        outcome = iota // a response went to the client (or the client left)
	attemptDialFailed                 // no connection: nothing was sent
	attemptNoResponse                 // sent, but the connection failed before any response byte
	attemptClientGone                 // the client failed mid-request: close, no reply
	attemptTimedOut                   // no response head within the upstream timeout
	attemptBadResponse                // a response that did not parse, before anything was relayed
)

// forward serves the parsed request (or answers a parse error) and
// returns the status sent and whether the client connection goes on.
func (c *clientConn) forward(perr error, start time.Time) (int, bool) {
	p := c.p
	req := &c.req
	if perr != nil {
		switch {
		case errors.Is(perr, errHeadTooLarge):
			return c.reply(resp431, 431), false
		case errors.Is(perr, errMalformed):
			return c.reply(resp400, 400), false
		case errors.Is(perr, errUnsupported):
			return c.reply(resp501, 501), false
		case isTimeout(perr) && len(req.buf) > 0:
			return c.reply(resp408, 408), false
		}
		return 0, false // the client went away
	}
	keep := !req.connClose && (req.minor >= 1 || req.connKeepAlive)
	hasBody := req.chunked || req.contentLength > 0
	if max := p.cfg.Proxy.MaxBodyBytes; max >= 0 && req.contentLength > max {
		return c.reply(resp413, 413), false
	}
	if req.expect100 && hasBody {
		// Answer the expectation here (and strip it): the body is read
		// before a worker is chosen.
		c.bw.Write(continue100)
		c.bw.Flush()
	}
	buffered := false
	if req.contentLength > 0 && req.contentLength <= maxBufferedBody {
		if err := c.readBody(int(req.contentLength)); err != nil {
			return 0, false
		}
		c.in += uint64(req.contentLength)
		buffered = true
	}
	// A request may go again after its connection failed before any
	// response byte only if it is idempotent and its body (if any) can be
	// sent again. A failed connect sent nothing: any request may go again.
	replayable := req.isIdempotent() && (!hasBody || buffered)
	retries := max(p.cfg.Proxy.Retries, 0)
	var tried [maxTried]*backend
	ntried := 0
	for attempt := 0; ; attempt++ {
		b := c.pick(tried[:ntried])
		if b == nil && ntried > 0 {
			b = c.pick(nil) // every eligible worker was tried: try again anyway
		}
		if b == nil {
			if b = c.hold(); b == nil {
				return c.reply(pickClose(resp503, resp503Close, keep && (buffered || !hasBody)), 503), keep && (buffered || !hasBody)
			}
		}
		status, out, ok := c.attempt(b, buffered, hasBody, keep)
		switch out {
		case attemptDone:
			return status, ok
		case attemptClientGone:
			return 0, false
		case attemptTimedOut:
			return c.reply(resp504Close, 504), false
		case attemptBadResponse:
			return c.reply(resp502Close, 502), false
		case attemptNoResponse:
			if !replayable || attempt >= retries {
				k := keep && (buffered || !hasBody)
				return c.reply(pickClose(resp502, resp502Close, k), 502), k
			}
		case attemptDialFailed:
			if attempt >= retries {
				k := keep && (buffered || !hasBody)
				return c.reply(pickClose(resp502, resp502Close, k), 502), k
			}
		}
		if ntried < maxTried {
			tried[ntried] = b
			ntried++
		}
		p.cluster.Retry()
		c.l.counters.Retry()
	}
}

func pickClose(keepResp, closeResp []byte, keep bool) []byte {
	if keep {
		return keepResp
	}
	return closeResp
}

// attempt sends the request to b and relays the response. It returns the
// status relayed, how the attempt ended, and whether the client
// connection may go on. b.inflight was counted by pick; attempt uncounts it.
func (c *clientConn) attempt(b *backend, buffered, hasBody, keep bool) (int, outcome, bool) {
	p := c.p
	now := time.Now()
	defer b.inflight.Add(-1)
	uc := b.get(now)
	if uc == nil {
		var err error
		if uc, err = p.dial(b); err != nil {
			b.counters.ConnectFail()
			p.cluster.ConnectFail()
			return 0, attemptDialFailed, false
		}
	}
	b.counters.Begin()
	p.cluster.Begin()
	upStart := now
	status, out, keepClient, upIn, upOut := c.exchange(uc, buffered, hasBody, keep)
	took := time.Since(upStart)
	b.counters.End(status, took, upIn, upOut)
	p.cluster.End(status, took, upIn, upOut)
	if out != attemptDone {
		b.counters.Error()
		p.cluster.Error()
	}
	if out == attemptNoResponse {
		// One dead pooled connection usually means its siblings are dead
		// too (the worker restarted): drop them rather than fail on each.
		b.closeIdle()
	}
	return status, out, keepClient
}

func (p *Proxy) dial(b *backend) (*upConn, error) {
	d := net.Dialer{Timeout: p.opts.ConnectTimeout}
	conn, err := d.DialContext(p.ctx, b.Network, b.Address)
	if err != nil {
		p.logf("worker %d (%s): connect: %v", b.ID, b.Address, shortErr(err))
		return nil, err
	}
	b.counters.ConnOpen()
	p.cluster.ConnOpen()
	return &upConn{
		conn: conn,
		br:   bufio.NewReaderSize(conn, bufSize),
		bw:   bufio.NewWriterSize(conn, bufSize),
		b:    b,
	}, nil
}

// exchange writes the request on uc and relays the response. It puts uc
// back in the pool when the connection is clean, else closes it.
func (c *clientConn) exchange(uc *upConn, buffered, hasBody, keep bool) (status int, out outcome, keepClient bool, upIn, upOut uint64) {
	p := c.p
	req := &c.req
	timeout := p.cfg.Proxy.UpstreamTimeout
	now := time.Now()
	if t, ok := uc.wdl.due(now, timeout); ok {
		uc.conn.SetWriteDeadline(t)
	}
	if t, ok := uc.rdl.due(now, timeout); ok {
		uc.conn.SetReadDeadline(t)
	}
	clean := false
	defer func() {
		if clean {
			uc.b.put(uc, time.Now())
		} else {
			uc.close()
		}
	}()

	w := countingWriter{Writer: uc.bw}
	c.writeRequestHead(&w)
	if buffered {
		w.Write(c.body)
	} else if hasBody {
		n, rerr, werr := c.copyRequestBody(&w, uc)
		upOut = w.n
		c.in += n
		if rerr != nil {
			if errors.Is(rerr, errBodyTooLarge) {
				// Nothing relayed yet; the worker got a truncated body
				// and its connection is closed.
				c.reply(resp413, 413)
				return 413, attemptDone, false, 0, upOut
			}
			return 0, attemptClientGone, false, 0, upOut
		}
		if werr != nil {
			return 0, attemptNoResponse, false, 0, upOut
		}
	}
	upOut = w.n
	if err := uc.bw.Flush(); err != nil {
		return 0, attemptNoResponse, false, 0, upOut
	}

	resp := &c.resp
	for {
		if _, err := uc.br.Peek(1); err != nil {
			if isTimeout(err) {
				return 0, attemptTimedOut, false, 0, upOut
			}
			return 0, attemptNoResponse, false, 0, upOut
		}
		var err error
		c.lines, err = resp.parseResponse(uc.br, 64<<10, c.lines)
		if err != nil {
			if isTimeout(err) {
				return 0, attemptTimedOut, false, 0, upOut
			}
			return 0, attemptBadResponse, false, uint64(len(resp.buf)), upOut
		}
		upIn += uint64(len(resp.buf))
		// Interim responses (100 Continue, 103 Early Hints) are dropped:
		// the proxy answered Expect itself. 101 must not happen: Upgrade
		// is stripped, so a switch of protocols is a broken worker.
		if resp.status == 101 {
			return 0, attemptBadResponse, false, upIn, upOut
		}
		if resp.status >= 200 {
			break
		}
	}
	status = resp.status

	mode := bodyMode(req, resp)
	// The worker's connection is reusable if it keeps alive and the body
	// is delimited. After HEAD it is reused only when the head says there
	// is nothing to skip: some servers (waitress 2.1) send a body anyway.
	upKeep := !resp.connClose && (resp.minor >= 1 || resp.connKeepAlive) && mode != bodyUntilClose
	if req.isHead() && !(resp.contentLength == 0 && !resp.chunked) {
		upKeep = false
	}
	if mode == bodyUntilClose && req.minor == 0 {
		keep = false // an HTTP/1.0 client learns the end by the close
	}
	if p.closing.Load() {
		keep = false
	}
	c.writeResponseHead(mode, keep)

	var n uint64
	var rerr, werr error
	switch mode {
	case bodyLength:
		n, rerr, werr = copyLength(&c.bw, uc.br, resp.contentLength, uc, timeout)
	case bodyChunked:
		n, rerr, werr = copyChunked(&c.bw, uc.br, -1, uc, timeout)
	case bodyUntilClose:
		n, rerr, werr = copyUntilEOF(&c.bw, uc.br, req.minor >= 1, uc, timeout)
	}
	upIn += n
	if rerr != nil || werr != nil {
		// Headers are out: the client learns of the failure by the close.
		return status, attemptDone, false, upIn, upOut
	}
	if c.br.Buffered() == 0 || !keep {
		if err := c.bw.Flush(); err != nil {
			return status, attemptDone, false, upIn, upOut
		}
	}
	clean = upKeep
	return status, attemptDone, keep, upIn, upOut
}

// Response body framings.
type bodyFraming int

const (
	bodyNone bodyFraming = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

func bodyMode(req, resp *head) bodyFraming {
	switch {
	case req.isHead() || resp.status < 200 || resp.status == 204 || resp.status == 304:
		return bodyNone
	case resp.chunked:
		return bodyChunked
	case resp.contentLength >= 0:
		if resp.contentLength == 0 {
			return bodyNone
		}
		return bodyLength
	}
	return bodyUntilClose
}

// writeRequestHead writes the request to a worker: the request line as
// HTTP/1.1, end-to-end headers, X-Forwarded-For/-Proto, a request id when
// absent, and the body's framing.
func (c *clientConn) writeRequestHead(w *countingWriter) {
	req := &c.req
	w.Write(req.bytes(req.method))
	w.WriteByte(' ')
	w.Write(req.bytes(req.target))
	w.WriteString(" HTTP/1.1\r\n")
	xff := 0
	for i := range req.headers {
		f := &req.headers[i]
		switch f.kind {
		case kindContentLength, kindExpect, kindXFP:
			continue
		case kindXFF:
			xff++
			continue
		}
		if req.hopByHop(f) {
			continue
		}
		w.Write(req.bytes(f.name))
		w.WriteString(": ")
		w.Write(req.bytes(f.value))
		w.WriteString("\r\n")
	}
	// X-Forwarded-For: the values received, then the client's address.
	w.WriteString("X-Forwarded-For: ")
	for i := 0; xff > 0 && i < len(req.headers); i++ {
		if f := &req.headers[i]; f.kind == kindXFF {
			w.Write(req.bytes(f.value))
			w.WriteString(", ")
		}
	}
	w.Write(c.remoteIP)
	w.WriteString("\r\nX-Forwarded-Proto: ")
	w.Write(c.l.proto)
	w.WriteString("\r\n")
	if !req.hasHost {
		w.WriteString("Host: localhost\r\n")
	}
	if !req.hasRequestID {
		w.WriteString(c.p.cfg.Proxy.RequestIDHeader)
		w.WriteString(": ")
		w.Write(c.nextRequestID())
		w.WriteString("\r\n")
	}
	if req.chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	} else if req.contentLength >= 0 {
		w.WriteString("Content-Length: ")
		w.Write(c.appendInt(req.contentLength))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// writeResponseHead writes the worker's response head to the client with
// hop-by-hop headers removed and the framing the client gets.
func (c *clientConn) writeResponseHead(mode bodyFraming, keep bool) {
	resp := &c.resp
	w := &c.bw
	w.WriteString("HTTP/1.1")
	w.Write(resp.bytes(resp.reason))
	w.WriteString("\r\n")
	for i := range resp.headers {
		f := &resp.headers[i]
		if resp.hopByHop(f) || (f.kind == kindContentLength && (mode == bodyChunked || mode == bodyUntilClose)) {
			continue
		}
		w.Write(resp.bytes(f.name))
		w.WriteString(": ")
		w.Write(resp.bytes(f.value))
		w.WriteString("\r\n")
	}
	if mode == bodyChunked || (mode == bodyUntilClose && c.req.minor >= 1) {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !keep {
		w.WriteString("Connection: close\r\n")
	} else if c.req.minor == 0 {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// nextRequestID formats a fresh id, UUID-shaped: 8 bytes naming the
// connection and 8 counting its requests, in c.scratch.
func (c *clientConn) nextRequestID() []byte {
	c.idSeq++
	var raw [16]byte
	copy(raw[:8], c.idBase[:])
	for i := 0; i < 8; i++ {
		raw[15-i] = byte(c.idSeq >> (8 * i))
	}
	const hexd = "0123456789abcdef"
	b := c.scratch[:0]
	for i, x := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[x>>4], hexd[x&15])
	}
	c.scratch = b
	return b
}

func (c *clientConn) appendInt(n int64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	c.scratch = append(c.scratch[:0], tmp[i:]...)
	return c.scratch
}

// copyRequestBody streams a large or chunked request body to the worker.
func (c *clientConn) copyRequestBody(dst *countingWriter, uc *upConn) (n uint64, rerr, werr error) {
	req := &c.req
	limit := c.p.cfg.Proxy.MaxBodyBytes
	src := clientSource{c}
	if req.chunked {
		return copyChunked(dst, c.br, limit, src, c.p.cfg.Proxy.IdleTimeout)
	}
	return copyLength(dst, c.br, req.contentLength, src, c.p.cfg.Proxy.IdleTimeout)
}

var errBodyTooLarge = errors.New("request body too large")

// extender moves a source's read deadline before a blocking read.
type extender interface {
	extendRead(d time.Duration)
}

func (uc *upConn) extendRead(d time.Duration) {
	if t, ok := uc.rdl.due(time.Now(), d); ok {
		uc.conn.SetReadDeadline(t)
	}
}

type clientSource struct{ c *clientConn }

func (s clientSource) extendRead(d time.Duration) {
	if t, ok := s.c.rdl.due(time.Now(), d); ok {
		s.c.conn.SetReadDeadline(t)
	}
}

// fill makes data available in src: before blocking it flushes dst (so
// a stream reaches the other side as it comes) and extends src's deadline.
func fill(dst *countingWriter, src *bufio.Reader, x extender, d time.Duration) (werr, rerr error) {
	if src.Buffered() > 0 {
		return nil, nil
	}
	if err := dst.Flush(); err != nil {
		return err, nil
	}
	x.extendRead(d)
	_, err := src.Peek(1)
	return nil, err
}

// copyLength copies exactly n bytes.
func copyLength(dst *countingWriter, src *bufio.Reader, n int64, x extender, d time.Duration) (copied uint64, rerr, werr error) {
	for n > 0 {
		if werr, rerr = fill(dst, src, x, d); werr != nil || rerr != nil {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return copied, rerr, werr
		}
		k := min(int64(src.Buffered()), n)
		b, _ := src.Peek(int(k))
		if _, werr = dst.Write(b); werr != nil {
			return copied, nil, werr
		}
		src.Discard(int(k))
		n -= k
		copied += uint64(k)
	}
	return copied, nil, nil
}

// copyUntilEOF copies until src ends, as chunks when chunk is set.
func copyUntilEOF(dst *countingWriter, src *bufio.Reader, chunk bool, x extender, d time.Duration) (copied uint64, rerr, werr error) {
	var size [16]byte
	for {
		werr, rerr = fill(dst, src, x, d)
		if werr != nil {
			return copied, nil, werr
		}
		if rerr == io.EOF {
			if chunk {
				_, werr = dst.WriteString("0\r\n\r\n")
			}
			return copied, nil, werr
		}
		if rerr != nil {
			return copied, rerr, nil
		}
		k := src.Buffered()
		b, _ := src.Peek(k)
		if chunk {
			dst.Write(appendHex(size[:0], uint64(k)))
			dst.WriteString("\r\n")
		}
		if _, werr = dst.Write(b); werr != nil {
			return copied, nil, werr
		}
		if chunk {
			dst.WriteString("\r\n")
		}
		src.Discard(k)
		copied += uint64(k)
	}
}

// copyChunked re-frames a chunked body: chunk sizes are parsed and
// written anew (extensions and trailers are dropped), so nothing the
// sender smuggles in the framing passes through. limit < 0 is unlimited.
func copyChunked(dst *countingWriter, src *bufio.Reader, limit int64, x extender, d time.Duration) (copied uint64, rerr, werr error) {
	var size [16]byte
	var total int64
	for {
		if werr, rerr = fill(dst, src, x, d); werr != nil || rerr != nil {
			return copied, eofUnexpected(rerr), werr
		}
		line, err := src.ReadSlice('\n')
		if err != nil {
			return copied, eofUnexpected(err), nil
		}
		copied += uint64(len(line))
		n, ok := parseChunkSize(line)
		if !ok {
			return copied, errMalformed, nil
		}
		if n == 0 {
			// Trailers, up to the empty line.
			for {
				if werr, rerr = fill(dst, src, x, d); werr != nil || rerr != nil {
					return copied, eofUnexpected(rerr), werr
				}
				t, err := src.ReadSlice('\n')
				if err != nil {
					return copied, eofUnexpected(err), nil
				}
				copied += uint64(len(t))
				if len(t) <= 2 {
					_, werr = dst.WriteString("0\r\n\r\n")
					return copied, nil, werr
				}
			}
		}
		total += n
		if limit >= 0 && total > limit {
			return copied, errBodyTooLarge, nil
		}
		dst.Write(appendHex(size[:0], uint64(n)))
		dst.WriteString("\r\n")
		k, rerr, werr := copyLength(dst, src, n, x, d)
		copied += k
		if rerr != nil || werr != nil {
			return copied, rerr, werr
		}
		// The CRLF after the data.
		if werr, rerr = fill(dst, src, x, d); werr != nil || rerr != nil {
			return copied, eofUnexpected(rerr), werr
		}
		crlf, err := src.ReadSlice('\n')
		if err != nil || len(trimSpace(trimCR(crlf))) != 0 {
			return copied, errMalformed, nil
		}
		copied += uint64(len(crlf))
		if _, werr = dst.WriteString("\r\n"); werr != nil {
			return copied, nil, werr
		}
	}
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// parseChunkSize reads "1a3[;ext]\r\n".
func parseChunkSize(line []byte) (int64, bool) {
	line = trimCR(line)
	if i := indexByte(line, ';', 0); i >= 0 {
		line = line[:i]
	}
	line = trimSpace(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		switch {
		case ch >= '0' && ch <= '9':
			n = n<<4 | int64(ch-'0')
		case ch >= 'a' && ch <= 'f':
			n = n<<4 | int64(ch-'a'+10)
		case ch >= 'A' && ch <= 'F':
			n = n<<4 | int64(ch-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func appendHex(b []byte, n uint64) []byte {
	const hexd = "0123456789abcdef"
	if n == 0 {
		return append(b, '0')
	}
	var tmp [16]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = hexd[n&15]
		n >>= 4
	}
	return append(b, tmp[i:]...)
}
