package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeEnvoyStack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "whisgee.yaml")
	y := "app: {module: app:application}\nrun_dir: run\nproxy:\n  engine: envoy\n  tls: {listen: 127.0.0.1:8443, self_signed: true}\n  envoy: {redirect_http: true}\n"
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvoyRenderPrintsAndWrites(t *testing.T) {
	cfg := writeEnvoyStack(t)
	var out, errb bytes.Buffer
	if err := envoyMain(context.Background(), []string{"render", "-c", cfg}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "stat_prefix: ingress_https") || !strings.Contains(out.String(), "https_redirect: true") {
		t.Fatalf("printed bootstrap:\n%s", out.String())
	}

	dir := filepath.Join(t.TempDir(), "envoy")
	out.Reset()
	if err := envoyMain(context.Background(), []string{"render", "-c", cfg, "--out", dir}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"envoy.yaml", "eds.yaml", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s not written: %v\n%s", f, err, out.String())
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "key.pem")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}

	// What render wrote, validate accepts: bootstrap and EDS file.
	for _, f := range []string{"envoy.yaml", "eds.yaml"} {
		out.Reset()
		if err := envoyMain(context.Background(), []string{"validate", "--binary", "/nonexistent/envoy", filepath.Join(dir, f)}, &out, &errb); err != nil {
			t.Fatalf("%s: %v\n%s", f, err, errb.String())
		}
		if !strings.Contains(out.String(), "valid Envoy") {
			t.Fatalf("validate said %q", out.String())
		}
	}

	// A broken file: one line per problem, an error that says what to do.
	data, _ := os.ReadFile(filepath.Join(dir, "envoy.yaml"))
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(data), "cluster: wsgi", "cluster: nope", 1)), 0o644)
	errb.Reset()
	err := envoyMain(context.Background(), []string{"validate", bad}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "1 problem(s)") || !strings.Contains(errb.String(), `route to cluster "nope"`) {
		t.Fatalf("err = %v, stderr = %q", err, errb.String())
	}
}

func TestEnvoyUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"validate"}, {"render", "extra"}, {"render", "--bogus"}} {
		err := envoyMain(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestEnvoyLatestAgainstALoopbackGitHub(t *testing.T) {
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"tag_name":"v1.40.0"},{"tag_name":"v1.9.0"},{"tag_name":"v1.41.0","prerelease":true}]`)
	}))
	defer gh.Close()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var out bytes.Buffer
	if err := envoyMain(context.Background(), []string{"latest", "--binary", "/nonexistent/envoy", "--api", gh.URL}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "installed none, latest 1.40.0" {
		t.Fatalf("latest said %q", got)
	}
}
