package daemon

import (
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/loadgen"
)

// traffic is the demo's built-in traffic generator: a mix over the demo
// app's endpoints, so the dashboard has fast and slow requests, errors and
// now and then a crashed worker to show.
type traffic struct {
	gen *loadgen.Generator
}

// demoMix matches assets/demo/demoapp.py. One request in a thousand asks
// a worker to kill itself: at 50 req/s that is a crash every 20 s or so,
// enough to watch a respawn without tripping the crash-loop rule.
var demoMix = []loadgen.Target{
	{Path: "/", Weight: 600},
	{Path: "/slow", Weight: 100},
	{Path: "/flaky", Weight: 150},
	{Path: "/missing", Weight: 50},
	{Path: "/health", Weight: 50},
	{Method: "POST", Path: "/echo", Body: []byte("hello whisgee"), Weight: 49},
	// POST, not GET: the proxy retries an idempotent request whose worker
	// died before answering on another worker, so a GET /crash would kill
	// up to three workers and soon trip the crash-loop rule.
	{Method: "POST", Path: "/crash", Weight: 1},
}

func newTraffic(cfg *config.Config, baseURL string) *traffic {
	return &traffic{gen: loadgen.New(loadgen.Options{
		BaseURL:     baseURL,
		Targets:     demoMix,
		Rate:        cfg.Demo.Rate,
		Concurrency: 16,
	})}
}
