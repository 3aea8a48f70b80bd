package daemon

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/loadgen"
)

// traffic is the demo's built-in traffic generator: a mix over the demo
// app's endpoints, so the dashboard has fast and slow requests and errors
// to show, plus, on a clock of its own, a request that kills a worker.
type traffic struct {
	gen        *loadgen.Generator
	baseURL    atomic.Pointer[string]
	crashEvery time.Duration

	mu        sync.Mutex
	stopCrash context.CancelFunc
	crashDone chan struct{}
}

// demoMix matches assets/demo/demoapp.py. /crash is not in it: a crash
// every so many requests would kill workers faster the higher the rate
// (`]` in the dashboard) and trip the crash-loop rule.
var demoMix = []loadgen.Target{
	{Path: "/", Weight: 60},
	{Path: "/slow", Weight: 10},
	{Path: "/flaky", Weight: 15},
	{Path: "/missing", Weight: 5},
	{Path: "/health", Weight: 5},
	{Method: "POST", Path: "/echo", Body: []byte("hello whisgee"), Weight: 5},
}

func newTraffic(cfg *config.Config, baseURL string) *traffic {
	t := &traffic{
		crashEvery: cfg.Demo.CrashEvery,
		gen: loadgen.New(loadgen.Options{
			BaseURL:     baseURL,
			Targets:     demoMix,
			Rate:        cfg.Demo.Rate,
			Concurrency: 16,
		}),
	}
	t.baseURL.Store(&baseURL)
	return t
}

// retarget sends the traffic to baseURL from now on: a reload moved the
// proxy's listener.
func (t *traffic) retarget(baseURL string) {
	t.baseURL.Store(&baseURL)
	t.gen.SetBaseURL(baseURL)
}

// start turns the traffic on, and the crash clock with it.
func (t *traffic) start() {
	t.gen.Start()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopCrash != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.stopCrash, t.crashDone = cancel, make(chan struct{})
	go t.crashLoop(ctx, t.crashDone)
}

// stop turns both off and waits for them.
func (t *traffic) stop() {
	t.gen.Stop()
	t.mu.Lock()
	cancel, done := t.stopCrash, t.crashDone
	t.stopCrash, t.crashDone = nil, nil
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// crashLoop asks one worker to kill itself every crashEvery: often enough
// to watch a respawn, never enough to trip the crash-loop rule. It is a
// POST, which the proxy never retries on another worker.
func (t *traffic) crashLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(t.crashEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, *t.baseURL.Load()+"/crash", bytes.NewReader(nil))
		if err != nil {
			continue
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close() // a crash usually gives no response at all
		}
	}
}
