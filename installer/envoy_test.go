package installer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/whisgee/whisgee/assets"
)

// The release path against a loopback server standing in for GitHub's API
// (go-github's BaseURL points at it). No envoy can run here: the "binary"
// is a stand-in shell script printing Envoy's version line.

const standInEnvoy = "#!/bin/sh\n# stand-in for the envoy binary, which cannot run in this test\necho 'envoy  version: 0123456789abcdef0123456789abcdef01234567/1.39.1/Clean/RELEASE/BoringSSL'\n"

// fakeGitHub serves one Envoy release, v1.39.1, with its binary and a
// checksums.txt.asc, redirecting asset downloads as GitHub does.
type fakeGitHub struct {
	srv       *httptest.Server
	binary    []byte
	checksums []byte
	downloads int
	mu        sync.Mutex
	auth      map[string]string // Authorization header seen, by path
}

func newFakeGitHub(t *testing.T, binary, checksums []byte) *fakeGitHub {
	f := &fakeGitHub{binary: binary, checksums: checksums, auth: map[string]string{}}
	mux := http.NewServeMux()
	release := func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"tag_name": "v1.39.1", "name": "v1.39.1",
			"assets": []map[string]any{
				{"id": 11, "name": "envoy-1.39.1-linux-x86_64", "size": len(f.binary)},
				{"id": 12, "name": "envoy-1.39.1-linux-aarch_64", "size": len(f.binary)},
				{"id": 13, "name": "checksums.txt.asc", "size": len(f.checksums)},
			},
		})
	}
	// GitHub's "latest" marker points at an older branch's patch release
	// published after 1.39.1: the installer must not take it for the newest.
	mux.HandleFunc("GET /repos/envoyproxy/envoy/releases/latest", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"tag_name": "v1.38.4"})
	})
	mux.HandleFunc("GET /repos/envoyproxy/envoy/releases", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]map[string]any{
			{"tag_name": "v1.38.4"}, {"tag_name": "v1.40.0-rc1", "prerelease": true}, {"tag_name": "v1.39.1"}, {"tag_name": "v1.9.0"},
		})
	})
	mux.HandleFunc("GET /repos/envoyproxy/envoy/releases/tags/v1.39.1", release)
	mux.HandleFunc("GET /repos/envoyproxy/envoy/releases/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/octet-stream" {
			http.Error(w, "want Accept: application/octet-stream", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/download/"+r.PathValue("id"), http.StatusFound)
	})
	mux.HandleFunc("GET /download/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "11", "12":
			f.downloads++
			w.Write(f.binary)
		case "13":
			w.Write(f.checksums)
		default:
			http.NotFound(w, r)
		}
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.auth[r.URL.Path] = r.Header.Get("Authorization")
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// signingKey makes an OpenPGP key and returns it with its armored public part.
func signingKey(t *testing.T, name string) (*openpgp.Entity, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@whisgee.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, buf.Bytes()
}

// clearsignText signs text as `gpg --clearsign` does.
func clearsignText(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	w.Close()
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func checksumsFor(binary []byte) string {
	return fmt.Sprintf("%s  envoy-1.39.1-linux-x86_64\n%s  envoy-1.39.1-linux-aarch_64\n%s  envoy-contrib-1.39.1-linux-x86_64\n", sha(binary), sha(binary), sha([]byte("contrib")))
}

func releasePlan(t *testing.T, gh *fakeGitHub, key []byte, version string) (*Plan, string) {
	t.Helper()
	root := t.TempDir()
	p, err := BuildPlan(hostOf(t, "centos-stream-9"), Options{
		Root: root, Arch: "x86_64", Only: []string{StepEnvoy},
		GitHubBaseURL: gh.srv.URL, EnvoyReleaseKey: key, EnvoyVersion: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, root
}

func TestEnvoyReleaseGoodSignatureInstalls(t *testing.T) {
	signer, pub := signingKey(t, "release")
	binary := []byte(standInEnvoy)
	gh := newFakeGitHub(t, binary, clearsignText(t, signer, checksumsFor(binary)))
	plan, root := releasePlan(t, gh, pub, "")
	var live []string
	r := NewRunner(RunnerOptions{Output: func(_, l string) { live = append(live, l) }})
	r.Probe(context.Background(), plan)
	if plan.Steps[0].Satisfied {
		t.Fatal("no envoy yet, but probed satisfied")
	}
	o, err := r.RunStep(context.Background(), plan.Steps[0])
	if err != nil || o != OutcomeDone {
		t.Fatalf("got %s, %v", o, err)
	}
	installed := filepath.Join(root, "usr/local/bin/envoy")
	fi, err := os.Stat(installed)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("envoy not installed 0755: %v %v", fi, err)
	}
	if !containsLine(live, "good signature") || !containsLine(live, "envoy --version: 0123456789abcdef0123456789abcdef01234567/1.39.1/Clean/RELEASE/BoringSSL") {
		t.Errorf("output does not report the verification and version: %q", live)
	}
	// Again: the newest release (asked of the fake GitHub) is installed.
	o, err = r.RunStep(context.Background(), plan.Steps[0])
	if err != nil || o != OutcomeSatisfied || gh.downloads != 1 {
		t.Fatalf("second run: %s, %v, %d downloads; want satisfied without downloading", o, err, gh.downloads)
	}
	if !strings.Contains(plan.Steps[0].Detail, "envoy 1.39.1 at "+installed) {
		t.Errorf("detail %q", plan.Steps[0].Detail)
	}
}

// TestEnvoyReleaseSendsGITHUB_TOKENToTheAPIOnly: the token lifts the
// anonymous rate limit, and never follows the download's redirect.
func TestEnvoyReleaseSendsGITHUB_TOKENToTheAPIOnly(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "s3cret")
	signer, pub := signingKey(t, "release")
	binary := []byte(standInEnvoy)
	gh := newFakeGitHub(t, binary, clearsignText(t, signer, checksumsFor(binary)))
	plan, _ := releasePlan(t, gh, pub, "1.39.1")
	if o, err := NewRunner(RunnerOptions{}).RunStep(context.Background(), plan.Steps[0]); err != nil || o != OutcomeDone {
		t.Fatalf("got %s, %v", o, err)
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if got := gh.auth["/repos/envoyproxy/envoy/releases/tags/v1.39.1"]; got != "Bearer s3cret" {
		t.Errorf("release lookup sent Authorization %q", got)
	}
	for _, id := range []string{"11", "13"} {
		if got, ok := gh.auth["/download/"+id]; !ok || got != "" {
			t.Errorf("download %s: seen %v, Authorization %q (want none)", id, ok, got)
		}
	}
}

func TestEnvoyReleaseRefusals(t *testing.T) {
	signer, pub := signingKey(t, "release")
	impostor, _ := signingKey(t, "impostor")
	binary := []byte(standInEnvoy)
	glibc := []byte("#!/bin/sh\n# stand-in for a release binary on a host whose glibc is too old\necho \"envoy: /lib64/libm.so.6: version \\`GLIBC_2.29' not found (required by envoy)\" >&2\nexit 1\n")
	tampered := bytes.Replace(clearsignText(t, signer, checksumsFor(binary)), []byte(sha(binary)[:8]), []byte("00000000"), 1)
	cases := []struct {
		name      string
		binary    []byte
		checksums []byte
		want      string
		hint      string
	}{
		{"bad checksum", append([]byte(standInEnvoy), "# tampered\n"...), clearsignText(t, signer, checksumsFor(binary)), "refusing to install", ""},
		{"signed by another key", binary, clearsignText(t, impostor, checksumsFor(binary)), "does not verify against the Envoy release key", ""},
		{"text changed after signing", binary, tampered, "does not verify", ""},
		{"not signed", binary, []byte(checksumsFor(binary)), "not a clearsigned file", ""},
		{"glibc too old", glibc, clearsignText(t, signer, checksumsFor(glibc)), "GLIBC_2.29", "glibc is too old"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gh := newFakeGitHub(t, c.binary, c.checksums)
			plan, root := releasePlan(t, gh, pub, "1.39.1")
			_, err := NewRunner(RunnerOptions{Host: plan.Host}).RunStep(context.Background(), plan.Steps[0])
			var se *StepError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a StepError saying %q", err, c.want)
			}
			if !strings.Contains(se.Hint, c.hint) {
				t.Errorf("hint %q lacks %q", se.Hint, c.hint)
			}
			// Nothing left behind: the image root is as empty as it was.
			var left []string
			filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if p != root {
					left = append(left, p)
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("a refused install left %q", left)
			}
		})
	}
}

func TestEnvoyReleaseUnknownVersion(t *testing.T) {
	_, pub := signingKey(t, "release")
	gh := newFakeGitHub(t, nil, nil)
	plan, _ := releasePlan(t, gh, pub, "1.12.0")
	_, err := NewRunner(RunnerOptions{}).RunStep(context.Background(), plan.Steps[0])
	if err == nil || !strings.Contains(err.Error(), "Envoy has no release v1.12.0") {
		t.Fatalf("got %v", err)
	}
}

// TestEmbeddedEnvoyKey: assets carries the Envoy maintainers' key, with
// the fingerprint Envoy publishes.
func TestEmbeddedEnvoyKey(t *testing.T) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(assets.EnvoyReleaseKey()))
	if err != nil || len(keys) != 1 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	if fp := strings.ToUpper(hex.EncodeToString(keys[0].PrimaryKey.Fingerprint)); fp != "0AFCE836BA4D1D35763C8523D8CDC3750181F31F" {
		t.Fatalf("fingerprint %s", fp)
	}
	// A checksums file signed by a test key must not verify against it.
	signer, _ := signingKey(t, "someone")
	if _, err := VerifyChecksums(clearsignText(t, signer, "x  y\n"), assets.EnvoyReleaseKey()); err == nil {
		t.Fatal("a file signed by another key verified against the Envoy key")
	}
}
