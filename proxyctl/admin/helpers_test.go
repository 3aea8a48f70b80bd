package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/whisgee/whisgee/stats"
)

func compile(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

// serve starts Handler on s (stopped at cleanup) and returns a getter of
// a path's status and body.
func serve(t *testing.T, s *stats.Snapshot, info Info) (url string, fetch func(path string) (int, string)) {
	t.Helper()
	srv := httptest.NewServer(Handler(func(context.Context) (*stats.Snapshot, error) { return s, nil }, info))
	t.Cleanup(srv.Close)
	return srv.URL, func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}
