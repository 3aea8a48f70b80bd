package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/internal/testenv"
)

func TestReloadMovesTheBuiltinProxysListenerAndStatusFollows(t *testing.T) {
	d, c := startDaemon(t, "workers: {count: 1}\n")
	waitRunning(t, c, 1)
	s := &reloadStack{t: t, d: d, c: c, listen: d.cfg.Proxy.Listen}
	ctx := context.Background()
	oldAddr, newAddr := s.listen, testenv.FreeAddr(t)
	waitServes(t, oldAddr)

	s.edit("listen: "+oldAddr, "listen: "+newAddr)
	res, err := s.reload()
	if err != nil || !strings.Contains(res.Message, "proxy reloaded, serving "+newAddr) {
		t.Fatalf("reload: %+v %v", res, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Daemon.Listen != newAddr {
		t.Fatalf("status after the move says listen %q (%v), want %s", st.Daemon.Listen, err, newAddr)
	}
	waitServes(t, newAddr)
	if conn, err := net.DialTimeout("tcp", oldAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("the old address %s still accepts", oldAddr)
	}

	// An address in use refuses the whole reload in one line; the proxy
	// and status stay as they were.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s.edit("listen: "+newAddr, "listen: "+taken.Addr().String())
	_, err = s.reload()
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "proxy.listen "+taken.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload onto a taken address: %v", err)
	}
	if st, _ := c.Status(ctx); st.Daemon.Listen != newAddr {
		t.Fatalf("status after a refused reload says listen %q, want %s", st.Daemon.Listen, newAddr)
	}
	waitServes(t, newAddr)
}

// waitServes waits until a GET through addr answers 200.
func waitServes(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 through %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
