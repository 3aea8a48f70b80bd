package builtin

import (
	"bufio"
	"errors"
)

// A head is a parsed request or response head. It owns a byte buffer that
// is reused from request to request, and every field points into it, so
// parsing allocates nothing once the buffer has grown to fit.
type head struct {
	buf     []byte
	headers []field

	// Request line (requests only).
	method, target span
	// Response line (responses only): status code, and the rest of the
	// line after the version (" 200 OK").
	status int
	reason span
	// minor is the HTTP/1.x minor version (0 or 1).
	minor int

	// What the headers say about framing and the connection.
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool // Connection: close
	connKeepAlive bool // Connection: keep-alive (matters for HTTP/1.0)
	expect100     bool
	hasHost       bool
	hasRequestID  bool
	// connNamed lists header names that Connection marks hop-by-hop.
	connNamed []span
}

// span is a [start, end) range in head.buf.
type span struct{ start, end int32 }

// field is one header line.
type field struct {
	name, value span
	kind        fieldKind
}

// fieldKind classifies the headers the proxy acts on.
type fieldKind uint8

const (
	kindOther fieldKind = iota
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindHopByHop // Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade
	kindExpect
	kindHost
	kindXFF
	kindXFP
	kindRequestID
)

// Parse errors. Each maps to a status the client gets.
var (
	errHeadTooLarge = errors.New("request head too large")
	errMalformed    = errors.New("malformed HTTP head")
	errUnsupported  = errors.New("unsupported transfer coding")
)

func (h *head) bytes(s span) []byte { return h.buf[s.start:s.end] }

func (h *head) reset() {
	h.buf = h.buf[:0]
	h.headers = h.headers[:0]
	h.connNamed = h.connNamed[:0]
	h.method, h.target, h.reason = span{}, span{}, span{}
	h.status, h.minor = 0, 1
	h.contentLength = -1
	h.chunked, h.connClose, h.connKeepAlive, h.expect100 = false, false, false, false
	h.hasHost, h.hasRequestID = false, false
}

// readLines copies the head's lines from br into h.buf up to the empty
// line, at most max bytes, and returns the offset of each line's start
// (reusing lines), the empty line's last. Leading empty lines are
// skipped, as RFC 9112 allows.
func (h *head) readLines(br *bufio.Reader, max int, lines []int32) ([]int32, error) {
	lines = lines[:0]
	lineStart := true
	for {
		frag, err := br.ReadSlice('\n')
		if len(h.buf)+len(frag) > max {
			return lines, errHeadTooLarge
		}
		if lineStart {
			if len(lines) == 0 && (len(frag) == 2 && frag[0] == '\r' || len(frag) == 1) && frag[len(frag)-1] == '\n' {
				continue // a stray CRLF before the request line
			}
			lines = append(lines, int32(len(h.buf)))
		}
		h.buf = append(h.buf, frag...)
		switch err {
		case nil:
			n := len(h.buf)
			lineStart = true
			// The empty line ends the head: "\r\n" or a bare "\n".
			start := int(lines[len(lines)-1])
			if n-start == 1 || (n-start == 2 && h.buf[start] == '\r') {
				return lines, nil
			}
		case bufio.ErrBufferFull:
			lineStart = false // the line goes on in the next fragment
		default:
			return lines, err
		}
	}
}

// trimEOL returns the end of the line starting at start, without CRLF.
func trimEOL(b []byte, start, next int) int {
	end := next
	if end > start && b[end-1] == '\n' {
		end--
	}
	if end > start && b[end-1] == '\r' {
		end--
	}
	return end
}

// parseFields parses the header lines between the first one and the
// empty line, classifying each; requestID is the lower-case name of the
// request id header.
func (h *head) parseFields(lines []int32, requestID string) error {
	for i := 1; i+1 < len(lines); i++ {
		start := int(lines[i])
		next := int(lines[i+1])
		end := trimEOL(h.buf, start, next)
		line := h.buf[start:end]
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			return errMalformed // obsolete line folding
		}
		colon := -1
		for j, c := range line {
			if c == ':' {
				colon = j
				break
			}
			if !tokenChar(c) {
				return errMalformed
			}
		}
		if colon <= 0 {
			return errMalformed
		}
		vs, ve := start+colon+1, end
		for vs < ve && (h.buf[vs] == ' ' || h.buf[vs] == '\t') {
			vs++
		}
		for ve > vs && (h.buf[ve-1] == ' ' || h.buf[ve-1] == '\t') {
			ve--
		}
		for _, c := range h.buf[vs:ve] {
			if c == '\r' || c == 0 {
				return errMalformed // a bare CR could split the header downstream
			}
		}
		f := field{name: span{int32(start), int32(start + colon)}, value: span{int32(vs), int32(ve)}}
		f.kind = classify(h.buf[start:start+colon], requestID)
		if err := h.apply(&f); err != nil {
			return err
		}
		h.headers = append(h.headers, f)
	}
	return nil
}

// apply notes what a header says about framing and the connection.
func (h *head) apply(f *field) error {
	v := h.bytes(f.value)
	switch f.kind {
	case kindContentLength:
		n, ok := parseDecimal(v)
		if !ok || (h.contentLength >= 0 && h.contentLength != n) {
			return errMalformed
		}
		h.contentLength = n
	case kindTransferEncoding:
		// Only plain "chunked" is supported: a body re-framed by the
		// proxy must not lose a coding ("gzip, chunked"), and anything
		// else is refused rather than guessed at (request smuggling
		// lives in the gaps).
		if !equalFold(v, "chunked") {
			return errUnsupported
		}
		h.chunked = true
	case kindConnection:
		forEachToken(v, func(tok []byte) {
			switch {
			case equalFold(tok, "close"):
				h.connClose = true
			case equalFold(tok, "keep-alive"):
				h.connKeepAlive = true
			default:
				off := int32(cap(v) - cap(tok)) // tok's offset within v
				s := f.value.start + off
				h.connNamed = append(h.connNamed, span{s, s + int32(len(tok))})
			}
		})
	case kindExpect:
		h.expect100 = equalFold(v, "100-continue")
	case kindHost:
		h.hasHost = true
	case kindRequestID:
		h.hasRequestID = len(v) > 0
	}
	return nil
}

// hopByHop reports whether a header must not be forwarded: the fixed
// hop-by-hop set, plus the ones Connection names.
func (h *head) hopByHop(f *field) bool {
	switch f.kind {
	case kindConnection, kindHopByHop, kindTransferEncoding:
		return true
	}
	if len(h.connNamed) == 0 {
		return false
	}
	name := h.bytes(f.name)
	for _, s := range h.connNamed {
		if equalFold(name, h.bytes(s)) {
			return true
		}
	}
	return false
}

// parseRequest reads a request head from br.
func (h *head) parseRequest(br *bufio.Reader, max int, requestID string, lines []int32) ([]int32, error) {
	h.reset()
	lines, err := h.readLines(br, max, lines)
	if err != nil {
		return lines, err
	}
	if len(lines) < 2 {
		return lines, errMalformed
	}
	end := trimEOL(h.buf, 0, int(lines[1]))
	line := h.buf[:end]
	sp1 := indexByte(line, ' ', 0)
	if sp1 <= 0 {
		return lines, errMalformed
	}
	sp2 := indexByte(line, ' ', sp1+1)
	if sp2 <= sp1+1 || end-sp2 != 9 {
		return lines, errMalformed
	}
	for _, c := range line[:sp1] {
		if !tokenChar(c) {
			return lines, errMalformed
		}
	}
	for _, c := range line[sp1+1 : sp2] {
		if c <= ' ' || c == 0x7f {
			return lines, errMalformed
		}
	}
	minor, ok := httpVersion(line[sp2+1:])
	if !ok {
		return lines, errMalformed
	}
	h.method = span{0, int32(sp1)}
	h.target = span{int32(sp1 + 1), int32(sp2)}
	h.minor = minor
	if err := h.parseFields(lines, requestID); err != nil {
		return lines, err
	}
	if h.chunked && h.contentLength >= 0 {
		return lines, errMalformed // both framings: a smuggling attempt
	}
	return lines, nil
}

// parseResponse reads a response head from br.
func (h *head) parseResponse(br *bufio.Reader, max int, lines []int32) ([]int32, error) {
	h.reset()
	lines, err := h.readLines(br, max, lines)
	if err != nil {
		return lines, err
	}
	if len(lines) < 2 {
		return lines, errMalformed
	}
	end := trimEOL(h.buf, 0, int(lines[1]))
	line := h.buf[:end]
	if len(line) < 12 || line[8] != ' ' {
		return lines, errMalformed
	}
	minor, ok := httpVersion(line[:8])
	if !ok {
		return lines, errMalformed
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return lines, errMalformed
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || (len(line) > 12 && line[12] != ' ') {
		return lines, errMalformed
	}
	h.minor, h.status = minor, status
	h.reason = span{8, int32(end)}
	if err := h.parseFields(lines, ""); err != nil {
		return lines, err
	}
	if h.chunked {
		h.contentLength = -1 // Transfer-Encoding wins (RFC 9112 6.3)
	}
	return lines, nil
}

// isIdempotent reports whether a request may be sent again: RFC 9110's
// idempotent methods.
func (h *head) isIdempotent() bool {
	switch string(h.bytes(h.method)) { // no allocation: compiler-optimized
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func (h *head) isHead() bool {
	m := h.bytes(h.method)
	return len(m) == 4 && string(m) == "HEAD"
}

func httpVersion(b []byte) (minor int, ok bool) {
	if len(b) != 8 || string(b[:7]) != "HTTP/1." || b[7] < '0' || b[7] > '9' {
		return 0, false
	}
	return int(b[7] - '0'), true
}

// knownFields are the headers the proxy acts on, by lower-case name.
var knownFields = [...]struct {
	name string
	kind fieldKind
}{
	{"content-length", kindContentLength},
	{"transfer-encoding", kindTransferEncoding},
	{"connection", kindConnection},
	{"keep-alive", kindHopByHop},
	{"proxy-connection", kindHopByHop},
	{"te", kindHopByHop},
	{"trailer", kindHopByHop},
	{"upgrade", kindHopByHop},
	{"expect", kindExpect},
	{"host", kindHost},
	{"x-forwarded-for", kindXFF},
	{"x-forwarded-proto", kindXFP},
}

// classify maps a header name to its kind without allocating.
func classify(name []byte, requestID string) fieldKind {
	for i := range knownFields {
		if len(knownFields[i].name) == len(name) && equalFold(name, knownFields[i].name) {
			return knownFields[i].kind
		}
	}
	if requestID != "" && equalFold(name, requestID) {
		return kindRequestID
	}
	return kindOther
}

// equalFold compares a with b, ASCII letters in any case, without
// allocating: b is a header name to match (a string) or another header's
// bytes.
func equalFold[S string | []byte](a []byte, b S) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// forEachToken calls fn with each comma-separated token of v, trimmed.
func forEachToken(v []byte, fn func([]byte)) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			tok := trimSpace(v[start:i])
			if len(tok) > 0 {
				fn(tok)
			}
			start = i + 1
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func indexByte(b []byte, c byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// tokenChar reports whether c may appear in a method or header name
// (RFC 9110 tchar).
func tokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
