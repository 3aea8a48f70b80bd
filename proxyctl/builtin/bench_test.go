package builtin

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/whisgee/whisgee/internal/fastecho"
	"github.com/whisgee/whisgee/supervisor"
)

// relayRig is a proxy in front of two fast in-process workers on Unix
// sockets, for measuring the relay path alone.
func relayRig(tb testing.TB) *Proxy {
	dir := sockDir(tb)
	var ws []supervisor.Backend
	for i := 0; i < 2; i++ {
		path := dir + "/w" + strconv.Itoa(i) + ".sock"
		ln, err := net.Listen("unix", path)
		if err != nil {
			tb.Fatal(err)
		}
		go fastecho.Serve(ln)
		tb.Cleanup(func() { ln.Close() })
		ws = append(ws, supervisor.Backend{ID: i, Network: "unix", Address: path})
	}
	return startProxy(tb, testConfig(tb, ""), Options{}, ws...)
}

// keepAliveClient sends the same GET and reads fixed-size responses,
// allocating nothing itself, so allocations counted are the proxy's.
type keepAliveClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	buf  []byte
}

func newKeepAliveClient(tb testing.TB, addr string) *keepAliveClient {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	c := &keepAliveClient{conn: conn, br: bufio.NewReader(conn), req: []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n")}
	// Learn the response's size from the first one.
	conn.Write(c.req)
	var head bytes.Buffer
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			tb.Fatal(err)
		}
		head.Write(line)
		if len(line) == 2 {
			break
		}
	}
	if !bytes.HasPrefix(head.Bytes(), []byte("HTTP/1.1 200")) {
		tb.Fatalf("relay answered %q", head.String())
	}
	body := make([]byte, len(fastecho.Body))
	io.ReadFull(c.br, body)
	c.buf = make([]byte, head.Len()+len(body))
	return c
}

func (c *keepAliveClient) roundTrip() error {
	if _, err := c.conn.Write(c.req); err != nil {
		return err
	}
	_, err := io.ReadFull(c.br, c.buf)
	return err
}

// BenchmarkRelay measures one keep-alive GET through the proxy to a Unix
// socket worker, from parallel clients. allocs/op counts the whole
// process: the proxy's share is all of it, the client allocates nothing.
func BenchmarkRelay(b *testing.B) {
	p := relayRig(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := newKeepAliveClient(b, p.Addr("http"))
		for pb.Next() {
			if err := c.roundTrip(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestRelayHotPathDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over many requests")
	}
	p := relayRig(t)
	c := newKeepAliveClient(t, p.Addr("http"))
	for i := 0; i < 100; i++ { // warm the pools and buffers
		c.roundTrip()
	}
	allocs := testing.AllocsPerRun(2000, func() {
		if err := c.roundTrip(); err != nil {
			t.Fatal(err)
		}
	})
	// The runtime allocates now and then under the proxy's goroutines
	// (timers re-armed once a second); a request itself must not.
	if allocs > 0.05 {
		t.Fatalf("%.3f allocations per proxied request, want 0", allocs)
	}
}
