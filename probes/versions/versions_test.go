package versions

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// releasesJSON is a page of releases in GitHub's shape: a draft and a
// prerelease newer than every stable one, and 1.10 after 1.9 to catch a
// string comparison.
const releasesJSON = `[
 {"tag_name": "v1.11.0", "draft": true,  "prerelease": false},
 {"tag_name": "v1.11.0-rc1", "draft": false, "prerelease": true},
 {"tag_name": "v1.12.0", "draft": false, "prerelease": true},
 {"tag_name": "v1.9.7",  "draft": false, "prerelease": false},
 {"tag_name": "v1.10.2", "draft": false, "prerelease": false},
 {"tag_name": "v1.10.10", "draft": false, "prerelease": false},
 {"tag_name": "contrib-v1.99.0", "draft": false, "prerelease": false}
]`

// fakeGitHub serves /repos/envoyproxy/envoy/releases with ETags, on
// loopback, counting full answers and 304s.
type fakeGitHub struct {
	srv          *httptest.Server
	full, notMod atomic.Int32
	lastAuth     atomic.Value
	rateLimited  atomic.Bool
	etag         string
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{etag: `"abc123"`}
	f.lastAuth.Store("")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.lastAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != "/repos/envoyproxy/envoy/releases" {
			http.NotFound(w, r)
			return
		}
		if f.rateLimited.Load() {
			w.Header().Set("X-RateLimit-Limit", "60")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Hour).Unix()))
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message": "API rate limit exceeded for 127.0.0.1."}`)
			return
		}
		if r.Header.Get("If-None-Match") == f.etag {
			f.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		f.full.Add(1)
		w.Header().Set("ETag", f.etag)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, releasesJSON)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestLatestSkipsDraftsAndPrereleasesAndComparesNumerically(t *testing.T) {
	gh := newFakeGitHub(t)
	got, err := Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: "off", Token: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if got != "1.10.10" {
		t.Fatalf("latest = %q, want 1.10.10", got)
	}
}

func TestLatestSendsGITHUB_TOKEN(t *testing.T) {
	gh := newFakeGitHub(t)
	t.Setenv("GITHUB_TOKEN", "s3cret")
	if _, err := Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: "off"}); err != nil {
		t.Fatal(err)
	}
	if got := gh.lastAuth.Load().(string); got != "Bearer s3cret" {
		t.Fatalf("Authorization = %q", got)
	}
}

func TestLatestUsesETagsSoRepeatedRunsCostNothing(t *testing.T) {
	gh := newFakeGitHub(t)
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts := Options{BaseURL: gh.srv.URL, CacheDir: dir, Token: "-", Now: func() time.Time { return now }}

	for i := 0; i < 3; i++ {
		got, err := Latest(context.Background(), opts)
		if err != nil || got != "1.10.10" {
			t.Fatalf("run %d: %q, %v", i, got, err)
		}
	}
	// Within FreshFor the cache answers alone.
	if gh.full.Load() != 1 || gh.notMod.Load() != 0 {
		t.Fatalf("fresh cache: %d full answers, %d 304s; want 1 and 0", gh.full.Load(), gh.notMod.Load())
	}
	// Past it, a conditional request: GitHub answers 304.
	now = now.Add(2 * time.Hour)
	if got, err := Latest(context.Background(), opts); err != nil || got != "1.10.10" {
		t.Fatalf("after 304: %q, %v", got, err)
	}
	if gh.full.Load() != 1 || gh.notMod.Load() != 1 {
		t.Fatalf("stale cache: %d full answers, %d 304s; want 1 and 1", gh.full.Load(), gh.notMod.Load())
	}
}

func TestLatestWhenRateLimited(t *testing.T) {
	gh := newFakeGitHub(t)
	gh.rateLimited.Store(true)
	got, err := Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: "off", Token: "-"})
	if got != Unknown || err == nil || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Fatalf("no cache: %q, %v", got, err)
	}

	// With an old answer on disk, the old answer wins over "unknown".
	dir := t.TempDir()
	gh.rateLimited.Store(false)
	if _, err := Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: dir, Token: "-"}); err != nil {
		t.Fatal(err)
	}
	gh.rateLimited.Store(true)
	got, err = Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: dir, Token: "-", FreshFor: -1})
	if got != "1.10.10" || err != nil {
		t.Fatalf("with cache: %q, %v", got, err)
	}
}

func TestLatestOfflineOrSlowIsUnknownWithinTheTimeout(t *testing.T) {
	// Offline: nothing listens on the port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	got, err := Latest(context.Background(), Options{BaseURL: dead, CacheDir: "off", Token: "-"})
	if got != Unknown || err == nil {
		t.Fatalf("offline: %q, %v", got, err)
	}

	// Slow: the server never answers; the timeout must cut it.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	done := make(chan string, 1)
	go func() {
		got, _ := Latest(context.Background(), Options{BaseURL: slow.URL, CacheDir: "off", Token: "-", Timeout: 200 * time.Millisecond})
		done <- got
	}()
	select {
	case got := <-done:
		if got != Unknown {
			t.Fatalf("slow: %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Latest blocked past its timeout")
	}
	if o := (Options{}); func() time.Duration { o.defaults(); return o.Timeout }() != 3*time.Second {
		t.Fatal("the default timeout is not 3s")
	}
}

func TestParseEnvoy(t *testing.T) {
	for in, want := range map[string]string{
		"\nenvoy  version: 6b9db09c69965d5bfb37bdd29693f8b7f9e9e9ec/1.39.1/Clean/RELEASE/BoringSSL\n": "1.39.1",
		"b050513e840aa939a01f89b07c162f00ab3150eb/1.9.0-dev/Modified/DEBUG":                           "1.9.0-dev",
		"envoy: command not found": "",
		"":                         "",
	} {
		if got := ParseEnvoy(in); got != want {
			t.Errorf("ParseEnvoy(%q) = %q, want %q", in, got, want)
		}
	}
	if CompareStrings("1.10.0", "1.9.9") != 1 || CompareStrings("1.9.9", "1.10.0") != -1 || CompareStrings("1.2.3", "v1.2.3") != 0 {
		t.Fatal("CompareStrings is not numeric")
	}
}

// TestTokenStaysOffTheCallersClient: go-github v56 puts the token on the
// *http.Client it is given; the caller's own client must not carry it.
func TestTokenStaysOffTheCallersClient(t *testing.T) {
	gh := newFakeGitHub(t)
	mine := &http.Client{}
	if _, err := Latest(context.Background(), Options{BaseURL: gh.srv.URL, CacheDir: "off", Token: "s3cret", HTTPClient: mine}); err != nil {
		t.Fatal(err)
	}
	if got := gh.lastAuth.Load().(string); got != "Bearer s3cret" {
		t.Fatalf("the API call sent Authorization %q", got)
	}
	if mine.Transport != nil {
		t.Fatal("the caller's client was given a token-carrying transport")
	}
}
