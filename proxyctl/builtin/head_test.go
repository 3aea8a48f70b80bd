package builtin

import (
	"bufio"
	"strings"
	"testing"
)

func parseReq(s string) (*head, error) {
	var h head
	_, err := h.parseRequest(bufio.NewReaderSize(strings.NewReader(s), 16), 4096, "x-request-id", nil)
	return &h, err
}

func TestParseRequestHead(t *testing.T) {
	// A 16-byte reader buffer: lines arrive in fragments.
	h, err := parseReq("\r\nPOST /a?b=c HTTP/1.0\r\nHost: example\r\nContent-Length:  12 \r\n" +
		"Connection: Keep-Alive, X-Hop\r\nX-Hop: 1\r\nX-Request-ID: abc\r\nExpect: 100-continue\r\n\r\nbody")
	if err != nil {
		t.Fatal(err)
	}
	if string(h.bytes(h.method)) != "POST" || string(h.bytes(h.target)) != "/a?b=c" || h.minor != 0 {
		t.Fatalf("request line: %q %q 1.%d", h.bytes(h.method), h.bytes(h.target), h.minor)
	}
	if h.contentLength != 12 || h.chunked || !h.connKeepAlive || h.connClose || !h.expect100 || !h.hasHost || !h.hasRequestID {
		t.Fatalf("head %+v", h)
	}
	hop := map[string]bool{}
	for i := range h.headers {
		hop[string(h.bytes(h.headers[i].name))] = h.hopByHop(&h.headers[i])
	}
	if !hop["Connection"] || !hop["X-Hop"] || hop["Host"] || hop["Content-Length"] {
		t.Fatalf("hop-by-hop: %v", hop)
	}
	if h.isIdempotent() {
		t.Fatal("POST is not idempotent")
	}
}

func TestParseResponseHead(t *testing.T) {
	var h head
	_, err := h.parseResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")), 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.status != 404 || string(h.bytes(h.reason)) != " 404 Not Found" || !h.chunked || h.contentLength != -1 {
		t.Fatalf("response %+v", h)
	}
	for _, bad := range []string{"HTTP/1.1 20 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n"} {
		if _, err := h.parseResponse(bufio.NewReader(strings.NewReader(bad)), 4096, nil); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestChunkSizes(t *testing.T) {
	for line, want := range map[string]int64{"0\r\n": 0, "1a\r\n": 26, "FF;name=v\r\n": 255, " 10 \n": 16} {
		if n, ok := parseChunkSize([]byte(line)); !ok || n != want {
			t.Errorf("%q = %d %v, want %d", line, n, ok, want)
		}
	}
	for _, bad := range []string{"\r\n", "x\r\n", "1234567890abcdef0\r\n", "-1\r\n"} {
		if _, ok := parseChunkSize([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseRequest: any bytes either parse into a consistent head or fail
// cleanly; nothing panics.
func FuzzParseRequest(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	f.Add("POST /x HTTP/1.0\r\nContent-Length: 5\r\nConnection: close, X\r\n\r\nhello")
	f.Add("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseReq(s)
		if err != nil {
			return
		}
		if h.chunked && h.contentLength >= 0 {
			t.Fatal("both framings accepted")
		}
		for i := range h.headers {
			f := &h.headers[i]
			if f.name.end <= f.name.start || f.value.end < f.value.start || int(f.value.end) > len(h.buf) {
				t.Fatalf("bad spans %+v in %q", f, h.buf)
			}
		}
	})
}

func TestOriginForm(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?c":                 "/a/b?c",
		"*":                      "*",
		"http://example.com/x?y": "/x?y",
		"HTTPS://example.com":    "/",
		"http://h:8080?q=1":      "/?q=1",
	} {
		if got := string(originForm([]byte(in))); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
