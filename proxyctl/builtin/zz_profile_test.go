package builtin

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/supervisor"
)

// Temporary: run the proxy against external sockets for profiling.
func TestZZProfile(t *testing.T) {
	socks := os.Getenv("PROF_SOCKS")
	if socks == "" {
		t.Skip()
	}
	cfg := testConfig(t, "")
	cfg.Proxy.Listen = os.Getenv("PROF_LISTEN")
	var ws []supervisor.Backend
	for i, s := range strings.Split(socks, ",") {
		ws = append(ws, supervisor.Backend{ID: i, Network: "unix", Address: s})
	}
	startProxy(t, cfg, Options{}, ws...)
	d, _ := time.ParseDuration(os.Getenv("PROF_FOR"))
	time.Sleep(d)
}
