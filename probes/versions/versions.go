// Package versions finds the newest stable Envoy release on GitHub and
// reads the installed one from `envoy --version`, for the dashboard's
// "installed X, latest Y" and `whisgee envoy latest`.
//
// Latest never takes long and never fails loudly: offline, rate-limited or
// slow, it answers from its on-disk cache, or "unknown", within
// Options.Timeout (3s by default). Repeated runs spend no rate limit: the
// cache holds the ETag of the last answer and GitHub answers a conditional
// request with 304 Not Modified, which it does not count.
//
//	latest, err := versions.Latest(ctx, versions.Options{})
//	installed := versions.ParseEnvoy(outputOfEnvoyVersion)
package versions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v56/github"
)

// Unknown is what Latest answers when it cannot tell.
const Unknown = "unknown"

// Options configure Latest. The zero value asks github.com about
// envoyproxy/envoy.
type Options struct {
	// Repo is "owner/name". If empty, envoyproxy/envoy.
	Repo string
	// Token authenticates (5000 requests an hour instead of 60). If
	// empty, $GITHUB_TOKEN.
	Token string
	// BaseURL is the API's root. If empty, https://api.github.com/.
	BaseURL string
	// CacheDir holds the answer and its ETag. If empty,
	// $XDG_CACHE_HOME/whisgee, else ~/.cache/whisgee. "off" disables it.
	CacheDir string
	// FreshFor is how long a cached answer is used without asking
	// GitHub at all. If zero, 1h; negative always asks.
	FreshFor time.Duration
	// Timeout bounds the whole call. If zero, 3s.
	Timeout time.Duration
	// HTTPClient makes the requests. If nil, a client with no other
	// timeout than Timeout.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Repo == "" {
		o.Repo = "envoyproxy/envoy"
	}
	if o.Token == "" {
		o.Token = os.Getenv("GITHUB_TOKEN")
	}
	if o.FreshFor == 0 {
		o.FreshFor = time.Hour
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Latest is the newest stable release of Options.Repo, e.g. "1.39.1":
// drafts and prereleases are skipped and versions compare numerically
// (1.10 is newer than 1.9). When GitHub cannot be asked (offline, rate
// limited, slow), it answers from the cache, however old, with a nil
// error; with no cache either, it answers Unknown and the reason.
func Latest(ctx context.Context, opts Options) (string, error) {
	opts.defaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	cache := newCache(opts.CacheDir, opts.Repo)
	entry, _ := cache.load()
	if entry != nil && opts.FreshFor > 0 && opts.Now().Sub(entry.FetchedAt) < opts.FreshFor {
		return entry.Latest, nil
	}
	latest, etag, err := fetch(ctx, opts, entry)
	switch {
	case err == nil:
		if latest == "" {
			return Unknown, fmt.Errorf("%s has no stable release", opts.Repo)
		}
		_ = cache.store(&cacheEntry{Latest: latest, ETag: etag, FetchedAt: opts.Now()})
		return latest, nil
	case errors.Is(err, errNotModified) && entry != nil:
		entry.FetchedAt = opts.Now()
		_ = cache.store(entry)
		return entry.Latest, nil
	case entry != nil:
		// Stale beats unknown: releases are rare.
		return entry.Latest, nil
	}
	return Unknown, err
}

var errNotModified = errors.New("not modified")

// fetch lists the releases, with If-None-Match when a cached ETag exists.
func fetch(ctx context.Context, opts Options, cached *cacheEntry) (latest, etag string, err error) {
	owner, name, ok := strings.Cut(opts.Repo, "/")
	if !ok {
		return "", "", fmt.Errorf("repo %q: want owner/name", opts.Repo)
	}
	// go-github v56's WithAuthToken sets the token on the *http.Client it
	// was given: give it a copy, or the caller's client would carry the
	// token everywhere (and wrap it once more on every call).
	var hc *http.Client
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	client := github.NewClient(hc)
	if opts.Token != "" {
		client = client.WithAuthToken(opts.Token)
	}
	if opts.BaseURL != "" {
		base := strings.TrimSuffix(opts.BaseURL, "/") + "/"
		u, err := url.Parse(base)
		if err != nil {
			return "", "", fmt.Errorf("base URL %q: %v", opts.BaseURL, err)
		}
		client.BaseURL = u
	}
	req, err := client.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s/releases?per_page=100", owner, name), nil)
	if err != nil {
		return "", "", err
	}
	if cached != nil && cached.ETag != "" {
		req.Header.Set("If-None-Match", cached.ETag)
	}
	var releases []*github.RepositoryRelease
	resp, err := client.Do(ctx, req, &releases)
	if err != nil {
		var er *github.ErrorResponse
		if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotModified {
			return "", "", errNotModified
		}
		var rl *github.RateLimitError
		if errors.As(err, &rl) {
			return "", "", fmt.Errorf("GitHub rate limit reached until %s; set GITHUB_TOKEN for a higher one", rl.Rate.Reset.Format("15:04"))
		}
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("GitHub did not answer within %s (offline?)", opts.Timeout)
		}
		return "", "", fmt.Errorf("asking GitHub for %s releases: %v", opts.Repo, err)
	}
	return Newest(releases), resp.Header.Get("ETag"), nil
}

// Newest is the highest stable version among releases, without its "v",
// or "" when there is none.
func Newest(releases []*github.RepositoryRelease) string {
	var best []int
	bestS := ""
	for _, r := range releases {
		if r.GetDraft() || r.GetPrerelease() {
			continue
		}
		v, ok := parseSemver(r.GetTagName())
		if !ok {
			continue
		}
		if best == nil || Compare(v, best) > 0 {
			best, bestS = v, strings.TrimPrefix(r.GetTagName(), "v")
		}
	}
	return bestS
}

var semverRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)$`)

// parseSemver reads "v1.39.1" or "1.39.1"; anything else (rc tags,
// "contrib-..." names) is not a stable version.
func parseSemver(tag string) ([]int, bool) {
	m := semverRE.FindStringSubmatch(tag)
	if m == nil {
		return nil, false
	}
	v := make([]int, 3)
	for i := range v {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return nil, false
		}
		v[i] = n
	}
	return v, true
}

// Compare orders two versions part by part, numerically: -1, 0 or 1.
func Compare(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// CompareStrings compares two dotted versions such as "1.9.0" and
// "1.10.2"; a string that is not one sorts first.
func CompareStrings(a, b string) int {
	va, okA := parseSemver(a)
	vb, okB := parseSemver(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	return Compare(va, vb)
}

var envoyVersionRE = regexp.MustCompile(`(?:^|[\s:])[0-9a-f]{7,40}/(\d+\.\d+\.\d+[\w.-]*)/`)

// ParseEnvoy finds the version in `envoy --version` output
// ("envoy  version: <sha>/1.39.1/Clean/RELEASE/BoringSSL") or in
// /server_info's version field ("<sha>/1.39.1/Clean/RELEASE/BoringSSL").
// It returns "" when there is none.
func ParseEnvoy(out string) string {
	m := envoyVersionRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return ""
	}
	return m[1]
}
