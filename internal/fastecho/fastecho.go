// Package fastecho is a minimal, fast HTTP/1.1 keep-alive server that
// answers every request with the same small response. It stands in for
// the workers when the proxy itself is measured (`whisgee bench-upstream`
// and the relay benchmark), so the proxy, not the app, is the bottleneck.
package fastecho

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
)

// Body is what every response carries.
const Body = "Hello, World!\n"

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
	strconv.Itoa(len(Body)) + "\r\n\r\n" + Body)

// Serve answers connections from ln until it is closed, then closes the
// connections it serves and returns.
func Serve(ln net.Listener) error {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// serveConn reads request heads (skipping Content-Length bodies) and
// answers each; responses to pipelined requests go out together.
func serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	bw := bufio.NewWriterSize(c, 8192)
	for {
		length := int64(0)
		closeAfter := false
		first := true
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				if first {
					continue
				}
				break
			}
			if first {
				closeAfter = bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte("HTTP/1.0"))
				first = false
				continue
			}
			if n, ok := header(line, "content-length"); ok {
				length, _ = strconv.ParseInt(string(n), 10, 64)
			}
			if v, ok := header(line, "connection"); ok {
				closeAfter = bytes.EqualFold(v, []byte("close"))
			}
		}
		if length > 0 {
			if _, err := io.CopyN(io.Discard, br, length); err != nil {
				return
			}
		}
		bw.Write(response)
		if br.Buffered() == 0 || closeAfter {
			if bw.Flush() != nil {
				return
			}
		}
		if closeAfter {
			return
		}
	}
}

// header returns a header line's value if its name is name (lower-case).
func header(line []byte, name string) ([]byte, bool) {
	if len(line) <= len(name) || line[len(name)] != ':' {
		return nil, false
	}
	if !bytes.EqualFold(line[:len(name)], []byte(name)) {
		return nil, false
	}
	return bytes.TrimSpace(line[len(name)+1:]), true
}
