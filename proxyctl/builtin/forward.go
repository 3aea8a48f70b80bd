package builtin

import (
	"bufio"
	"errors"
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
	attemptDone         outcome = iota // a response went to the client (or the client left)
	attemptDialFailed                  // no connection: nothing was sent
	attemptNoResponse                  // sent, but the connection failed before a response could be relayed
	attemptClientGone                  // the client failed mid-request: close, no reply
	attemptTimedOut                    // no response head within the upstream timeout
	attemptBadResponse                 // a response that did not parse, before anything was relayed
	attemptBodyTooLarge                // a chunked request body went over the limit mid-stream
)

// forward serves the parsed request (or answers a parse error) and
// returns the status sent and whether the client connection goes on.
func (c *clientConn) forward(perr error, start time.Time) (int, bool) {
	p := c.p
	req := &c.req
	if perr != nil {
		if r, status := parseErrorReply(perr, req); r != nil {
			return c.reply(r, status), false
		}
		return 0, false // the client went away
	}
	keep := !req.connClose && (req.minor >= 1 || req.connKeepAlive)
	hasBody := req.chunked || req.contentLength > 0
	c.unread = hasBody
	if max := c.s.proxy.MaxBodyBytes; max >= 0 && req.contentLength > max {
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
		c.unread = false
	}
	// A request may go again after its connection failed before any
	// response byte only if it is idempotent and its body (if any) can be
	// sent again. A failed connect sent nothing: any request may go again.
	replayable := req.isIdempotent() && (!hasBody || buffered)
	retries := max(c.s.proxy.Retries, 0)
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
		status, out, ok := c.attempt(b, buffered, hasBody, keep, replayable)
		switch out {
		case attemptDone:
			return status, ok
		case attemptClientGone:
			return 0, false
		case attemptTimedOut:
			return c.reply(resp504Close, 504), false
		case attemptBadResponse:
			return c.reply(resp502Close, 502), false
		case attemptBodyTooLarge:
			return c.reply(resp413, 413), false
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
		if p.ctx.Err() != nil {
			return c.reply(resp502Close, 502), false // closing: no retry
		}
		if ntried < maxTried {
			tried[ntried] = b
			ntried++
		}
		p.cluster.Retry()
		c.l.counters.Retry()
	}
}

// parseErrorReply is the answer to a head that did not parse, or nil
// when there is no one to answer (the client closed or went quiet before
// sending anything).
func parseErrorReply(err error, req *head) ([]byte, int) {
	switch {
	case errors.Is(err, errHeadTooLarge):
		return resp431, 431
	case errors.Is(err, errMalformed):
		return resp400, 400
	case errors.Is(err, errUnsupported):
		return resp501, 501
	case isTimeout(err) && len(req.buf) > 0:
		return resp408, 408
	}
	return nil, 0
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
func (c *clientConn) attempt(b *backend, buffered, hasBody, keep, replayable bool) (int, outcome, bool) {
	p := c.p
	now := time.Now()
	defer b.inflight.Add(-1)
	uc := b.get(now)
	// A request that cannot be sent again is not risked on a pooled
	// connection the worker already closed (the common stale case).
	for uc != nil && !replayable && !uc.alive() {
		uc.close()
		uc = b.get(now)
	}
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
	if out != attemptDone && out != attemptBodyTooLarge && out != attemptClientGone {
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
		// Once a second per worker at most: a dead socket under load
		// would otherwise log every request.
		now := time.Now().UnixNano()
		if last := b.lastDialLog.Load(); now-last > int64(time.Second) && b.lastDialLog.CompareAndSwap(last, now) {
			p.logf("worker %d (%s): connect: %v", b.ID, b.Address, shortErr(err))
		}
		return nil, err
	}
	b.counters.ConnOpen()
	p.cluster.ConnOpen()
	uc := &upConn{
		conn:    conn,
		br:      bufio.NewReaderSize(conn, upstreamBufSize),
		bw:      bufio.NewWriterSize(conn, upstreamBufSize),
		b:       b,
		cluster: &p.cluster,
	}
	b.track(uc)
	return uc, nil
}

// exchange writes the request on uc and relays the response. It puts uc
// back in the pool when the connection is clean, else closes it.
func (c *clientConn) exchange(uc *upConn, buffered, hasBody, keep bool) (status int, out outcome, keepClient bool, upIn, upOut uint64) {
	p := c.p
	req := &c.req
	timeout := c.s.proxy.UpstreamTimeout
	now := time.Now()
	w := countingWriter{Writer: uc.bw, conn: uc.conn, wdl: &uc.wdl, timeout: timeout}
	w.extendWrite()
	if t, ok := uc.rdl.due(now, timeout); ok {
		uc.conn.SetReadDeadline(t)
	}
	clean, sendFailed := false, false
	defer func() {
		if clean {
			uc.b.put(uc, time.Now())
		} else {
			uc.close()
		}
	}()

	c.writeRequestHead(&w)
	if buffered {
		w.Write(c.body)
	} else if hasBody {
		n, rerr, werr := c.copyRequestBody(&w, uc)
		upOut = w.n
		c.in += n
		if rerr != nil {
			if errors.Is(rerr, errBodyTooLarge) {
				// The worker got a truncated body and its connection
				// closes; the client learns why.
				return 0, attemptBodyTooLarge, false, 0, upOut
			}
			return 0, attemptClientGone, false, 0, upOut
		}
		sendFailed = werr != nil
		c.unread = sendFailed
	}
	upOut = w.n
	if !sendFailed {
		sendFailed = uc.bw.Flush() != nil
	}
	if sendFailed {
		// The worker stopped reading: it may have answered early (a 413
		// for an upload it refuses) and closed. Relay that answer if it
		// is there; the client's body is left unread, so its connection
		// closes after.
		if !awaitEarlyResponse(uc) {
			return 0, attemptNoResponse, false, 0, upOut
		}
		keep = false
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
	if mode == bodyLength && resp.contentLength <= int64(uc.br.Size()) {
		// A small body is awaited whole before anything is relayed: a
		// worker that dies between its head and its body (waitress writes
		// them apart) then costs a retry, not a truncated response.
		if _, err := uc.br.Peek(int(resp.contentLength)); err != nil {
			if isTimeout(err) {
				return 0, attemptTimedOut, false, upIn, upOut
			}
			return 0, attemptNoResponse, false, upIn, upOut
		}
	}
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
	if p.closing.Load() || c.l.retired.Load() {
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
	// Responses to pipelined requests go out together, unless the next
	// head is not all here: then the client may be waiting for this one.
	if !keep || !c.headBuffered() {
		if err := c.bw.Flush(); err != nil {
			return status, attemptDone, false, upIn, upOut
		}
	}
	clean = upKeep && !sendFailed
	return status, attemptDone, keep, upIn, upOut
}

// awaitEarlyResponse reports whether a response is readable on uc within
// a moment, after sending the request failed.
func awaitEarlyResponse(uc *upConn) bool {
	uc.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	uc.rdl.clear()
	_, err := uc.br.Peek(1)
	return err == nil
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
	w.Write(originForm(req.bytes(req.target)))
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
		w.WriteString(c.s.proxy.RequestIDHeader)
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

// originForm turns an absolute-form target ("http://host/path?q", which
// clients may send to a proxy) into the origin form a worker expects
// ("/path?q"); other targets are returned as they are.
func originForm(target []byte) []byte {
	rest := target
	switch {
	case len(rest) >= 7 && equalFold(rest[:7], "http://"):
		rest = rest[7:]
	case len(rest) >= 8 && equalFold(rest[:8], "https://"):
		rest = rest[8:]
	default:
		return target
	}
	for i, ch := range rest {
		if ch == '/' || ch == '?' {
			if ch == '?' {
				return append([]byte("/"), rest[i:]...) // rare: allocation is fine
			}
			return rest[i:]
		}
	}
	return []byte("/")
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
