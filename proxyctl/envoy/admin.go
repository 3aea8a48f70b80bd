package envoy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/whisgee/whisgee/stats"
)

// maxAdminBody bounds what is read from one admin answer: /stats of a
// big Envoy is a few MiB; more means something else answers.
const maxAdminBody = 32 << 20

// statsFilter keeps /stats to what the stats model uses.
const statsFilter = `^(http\.ingress_https?\.|listener\.ingress_https?\.|cluster\.wsgi\.|server\.)`

// Admin reads Envoy's admin API. It is safe for concurrent use.
//
//	a := &envoy.Admin{URL: "http://127.0.0.1:9901"}
//	snap, err := a.Snapshot(ctx)
type Admin struct {
	// URL is the admin endpoint, e.g. http://127.0.0.1:9901.
	URL string
	// Client makes the requests. If nil, one with a 2s timeout that does
	// not keep connections alive (see defaultAdminClient).
	Client *http.Client
	// RunDir is the stack's run directory, to know worker sockets by
	// path. If empty, any .../worker-<id>.sock counts.
	RunDir string
	// FlushInterval is Envoy's stats_flush_interval, the window of
	// interval quantiles. If zero, 5s (Envoy's default).
	FlushInterval time.Duration
}

// defaultAdminClient opens a connection per request: during a hot restart
// the old epoch gives its admin listener to the new one, and a kept-alive
// connection would go on asking the old process.
var defaultAdminClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// get fetches path and hands the body to read; a non-2xx status is an
// error unless okStatus accepts it.
func (a *Admin) get(ctx context.Context, path string, okStatus func(int) bool, read func(io.Reader, int) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.URL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("Envoy admin URL %q: %v; want http://127.0.0.1:PORT", a.URL, err)
	}
	c := a.Client
	if c == nil {
		c = defaultAdminClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("Envoy admin at %s unreachable: %v; is Envoy running, and is proxy.admin its admin address?", a.URL, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxAdminBody)
	defer io.Copy(io.Discard, body) // let the connection be reused
	if !(resp.StatusCode >= 200 && resp.StatusCode < 300) && (okStatus == nil || !okStatus(resp.StatusCode)) {
		msg, _ := io.ReadAll(io.LimitReader(body, 200))
		return fmt.Errorf("Envoy admin %s%s: %s: %s", a.URL, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return read(body, resp.StatusCode)
}

// Ready reports the server state /ready gives: "LIVE" with a nil error
// when Envoy serves, else the state it is in (e.g. "PRE_INITIALIZING",
// "DRAINING") or why it could not be asked, with an error.
func (a *Admin) Ready(ctx context.Context) (string, error) {
	var state string
	err := a.get(ctx, "/ready", func(code int) bool { return code == http.StatusServiceUnavailable }, func(r io.Reader, code int) error {
		b, err := io.ReadAll(io.LimitReader(r, 100))
		state = strings.TrimSpace(string(b))
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("Envoy is not ready: %s", state)
		}
		return err
	})
	return state, err
}

// ServerInfo reads /server_info.
func (a *Admin) ServerInfo(ctx context.Context) (*ServerInfo, error) {
	var si *ServerInfo
	err := a.get(ctx, "/server_info", nil, func(r io.Reader, _ int) (err error) {
		si, err = ParseServerInfo(r)
		return err
	})
	return si, err
}

// Clusters reads /clusters?format=json, every host of every cluster.
func (a *Admin) Clusters(ctx context.Context) ([]HostStatus, error) {
	var hs []HostStatus
	err := a.get(ctx, "/clusters?format=json", nil, func(r io.Reader, _ int) (err error) {
		hs, err = ParseClustersJSON(r)
		return err
	})
	return hs, err
}

// Stats reads /stats?format=json with bucket details (for counts and
// means), limited to the stats whisgee uses.
func (a *Admin) Stats(ctx context.Context) (*StatsDump, error) {
	var d *StatsDump
	q := "/stats?format=json&histogram_buckets=detailed&filter=" + url.QueryEscape(statsFilter)
	err := a.get(ctx, q, nil, func(r io.Reader, _ int) (err error) {
		d, err = ParseStats(r)
		return err
	})
	return d, err
}

// Snapshot reads stats, hosts and server info into the one stats model.
func (a *Admin) Snapshot(ctx context.Context) (*stats.Snapshot, error) {
	d, err := a.Stats(ctx)
	if err != nil {
		return nil, err
	}
	hosts, err := a.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	// server_info only adds the version and start time: do without it.
	info, _ := a.ServerInfo(ctx)
	return SnapshotFrom(d, hosts, info, a.RunDir, a.FlushInterval, time.Now()), nil
}

// Post sends an admin mutation (Envoy wants POST for those), e.g.
// "/drain_listeners?graceful".
func (a *Admin) Post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(a.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	c := a.Client
	if c == nil {
		c = defaultAdminClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("Envoy admin POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Envoy admin POST %s: %s", path, resp.Status)
	}
	return nil
}
