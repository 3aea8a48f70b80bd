package builtin

import (
	"bufio"
	"errors"
	"io"
	"time"
)

// copyRequestBody streams a large or chunked request body to the worker.
func (c *clientConn) copyRequestBody(dst *countingWriter, uc *upConn) (n uint64, rerr, werr error) {
	req := &c.req
	limit := c.s.proxy.MaxBodyBytes
	src := clientSource{c}
	if req.chunked {
		return copyChunked(dst, c.br, limit, src, c.s.proxy.IdleTimeout)
	}
	return copyLength(dst, c.br, req.contentLength, src, c.s.proxy.IdleTimeout)
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
	if dst.Buffered() > 0 {
		dst.extendWrite()
		if err := dst.Flush(); err != nil {
			return err, nil
		}
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
