// Package loadgen sends HTTP traffic at a stack: the demo's traffic
// generator and the steady load of the zero-failure tests. It counts every
// answer by status and every request that got no answer at all.
//
//	g := loadgen.New(loadgen.Options{BaseURL: "http://127.0.0.1:8080", Rate: 100})
//	g.Start()
//	...
//	r := g.Stop() // r.Failed() == 0 ?
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one kind of request in the mix.
type Target struct {
	Method string // if empty, GET
	Path   string
	Body   []byte
	// Weight is its share of the mix. If zero, 1.
	Weight int
}

// GetsAndPosts is the mix of the zero-failure tests: three GETs of / to
// one POST of a small body to /echo, so that both idempotent requests
// (which the proxy may retry) and POSTs (which it must never replay) are
// in flight during a restart.
func GetsAndPosts() []Target {
	return []Target{
		{Path: "/", Weight: 3},
		{Method: "POST", Path: "/echo", Body: []byte("payload"), Weight: 1},
	}
}

// Options configure a Generator.
type Options struct {
	// BaseURL is where requests go, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Targets is the request mix. If empty, GET /.
	Targets []Target
	// Rate is requests per second, spread evenly (open loop). If zero, the
	// generator runs closed loop: Concurrency clients send back to back.
	Rate int
	// Concurrency is the number of clients. If zero, 8.
	Concurrency int
	// Timeout bounds one request. If zero, 30s.
	Timeout time.Duration
	// Client sends the requests. If nil, a keep-alive client.
	Client *http.Client
}

// Result counts what happened.
type Result struct {
	Sent uint64
	// ByStatus counts answers by status code.
	ByStatus map[int]uint64
	// Errors counts requests that got no answer (connection refused or
	// reset, timeout).
	Errors uint64
	// FirstErrors holds the first few error messages, for test failures.
	FirstErrors []string
}

// Failed is the number of requests that got no answer or a 5xx.
func (r Result) Failed() uint64 {
	n := r.Errors
	for code, c := range r.ByStatus {
		if code >= 500 {
			n += c
		}
	}
	return n
}

func (r Result) String() string {
	return fmt.Sprintf("sent %d, by status %v, errors %d %q", r.Sent, r.ByStatus, r.Errors, r.FirstErrors)
}

// Generator sends traffic until stopped. Its methods are safe for
// concurrent use.
type Generator struct {
	opts    Options
	client  *http.Client
	picks   []int // target index per weight unit
	rate    atomic.Int64
	mu      sync.Mutex
	res     Result
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running bool
}

// New makes a stopped generator.
func New(opts Options) *Generator {
	if len(opts.Targets) == 0 {
		opts.Targets = []Target{{Path: "/"}}
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	g := &Generator{opts: opts, client: opts.Client}
	if g.client == nil {
		g.client = &http.Client{Timeout: opts.Timeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: opts.Concurrency * 2,
			MaxIdleConns:        opts.Concurrency * 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}}
	}
	for i, t := range opts.Targets {
		w := t.Weight
		if w <= 0 {
			w = 1
		}
		for j := 0; j < w; j++ {
			g.picks = append(g.picks, i)
		}
	}
	g.rate.Store(int64(opts.Rate))
	g.res.ByStatus = map[int]uint64{}
	return g
}

// Start begins sending; it is a no-op when already running.
func (g *Generator) Start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running {
		return
	}
	g.running = true
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	if g.opts.Rate > 0 {
		g.wg.Add(1)
		go g.openLoop(ctx)
		return
	}
	for i := 0; i < g.opts.Concurrency; i++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for ctx.Err() == nil {
				g.send(ctx)
			}
		}()
	}
}

// Stop ends the traffic, waits for requests in flight and returns the
// totals.
func (g *Generator) Stop() Result {
	g.mu.Lock()
	cancel := g.cancel
	g.running = false
	g.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	g.wg.Wait()
	g.client.CloseIdleConnections()
	return g.Result()
}

// Running reports whether traffic is being sent.
func (g *Generator) Running() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// SetRate changes the open-loop rate (requests per second, at least 1).
func (g *Generator) SetRate(n int) { g.rate.Store(int64(max(n, 1))) }

// Rate is the open-loop rate.
func (g *Generator) Rate() int { return int(g.rate.Load()) }

// Result returns the totals so far.
func (g *Generator) Result() Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.res
	r.ByStatus = make(map[int]uint64, len(g.res.ByStatus))
	for k, v := range g.res.ByStatus {
		r.ByStatus[k] = v
	}
	r.FirstErrors = append([]string(nil), g.res.FirstErrors...)
	return r
}

// openLoop sends at the current rate, each request on its own goroutine,
// so a slow answer does not slow the traffic down.
func (g *Generator) openLoop(ctx context.Context) {
	defer g.wg.Done()
	next := time.Now()
	for {
		rate := g.rate.Load()
		if rate < 1 {
			rate = 1
		}
		next = next.Add(time.Second / time.Duration(rate))
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else if d < -time.Second {
			next = time.Now() // fell far behind: do not burst to catch up
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.send(ctx)
		}()
	}
}

func (g *Generator) send(ctx context.Context) {
	t := g.opts.Targets[g.picks[rand.IntN(len(g.picks))]]
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body)
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, g.opts.BaseURL+t.Path, body)
	if err != nil {
		g.record(0, err)
		return
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.record(0, err)
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		g.record(0, fmt.Errorf("%s %s: body: %w", method, t.Path, err))
		return
	}
	g.record(resp.StatusCode, nil)
}

func (g *Generator) record(status int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.res.Sent++
	if err != nil {
		g.res.Errors++
		if len(g.res.FirstErrors) < 5 {
			g.res.FirstErrors = append(g.res.FirstErrors, err.Error())
		}
		return
	}
	g.res.ByStatus[status]++
}
