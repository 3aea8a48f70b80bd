package installer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/google/go-github/v56/github"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/probes/versions"
)

// Envoy's GitHub repository, where its release binaries are attached.
const envoyOwner, envoyRepoName = "envoyproxy", "envoy"

// ChecksumsAsset is the clearsigned `sha256sum` output attached to each
// Envoy release.
const ChecksumsAsset = "checksums.txt.asc"

// releaseClient reads Envoy's releases through GitHub's API.
type releaseClient struct {
	gh  *github.Client
	opt *Options
}

func newReleaseClient(o *Options) *releaseClient {
	// go-github v56's WithAuthToken sets the token on the *http.Client it
	// was given, shared with the caller: hand it a copy, so the token goes
	// to the API only and never follows a download's redirect.
	api := *httpClient(o)
	gh := github.NewClient(&api)
	// A token lifts the 60-an-hour anonymous limit.
	if tok := os.Getenv("GITHUB_TOKEN"); tok != "" {
		gh = gh.WithAuthToken(tok)
	}
	if o.GitHubBaseURL != "" {
		base := strings.TrimSuffix(o.GitHubBaseURL, "/") + "/"
		if u, err := url.Parse(base); err == nil {
			gh.BaseURL = u
		}
	}
	return &releaseClient{gh: gh, opt: o}
}

// resolve finds a release: the newest stable one when version is empty.
// "Newest" is the highest version number (probes/versions), not GitHub's
// "latest" marker: Envoy publishes patch releases of older branches after
// newer minors, and the marker can point at one of those.
func (c *releaseClient) resolve(ctx context.Context, version string) (*github.RepositoryRelease, error) {
	if version == "" {
		vo := versions.Options{BaseURL: c.opt.GitHubBaseURL, HTTPClient: httpClient(c.opt), Timeout: 30 * time.Second, FreshFor: -1}
		if c.opt.GitHubBaseURL != "" {
			// The cache is keyed by repository only: keep another API
			// root's answers out of it.
			vo.CacheDir = "off"
		}
		latest, err := versions.Latest(ctx, vo)
		if err != nil || latest == versions.Unknown {
			return nil, fmt.Errorf("the newest Envoy release is unknown (%v); pass --envoy-version", err)
		}
		version = latest
	}
	rel, _, err := c.gh.Repositories.GetReleaseByTag(ctx, envoyOwner, envoyRepoName, "v"+version)
	if err != nil {
		var gerr *github.ErrorResponse
		if errors.As(err, &gerr) && gerr.Response != nil && gerr.Response.StatusCode == 404 {
			return nil, fmt.Errorf("Envoy has no release v%s; see github.com/envoyproxy/envoy/releases", version)
		}
		return nil, fmt.Errorf("asking GitHub for Envoy's releases: %w", err)
	}
	return rel, nil
}

// envoyAssetArch is how Envoy's asset names spell an architecture.
func envoyAssetArch(arch string) string {
	if arch == "aarch64" {
		return "aarch_64"
	}
	return arch
}

// download streams one release asset into w.
func (c *releaseClient) download(ctx context.Context, a *github.ReleaseAsset, w io.Writer) error {
	rc, redirect, err := c.gh.Repositories.DownloadReleaseAsset(ctx, envoyOwner, envoyRepoName, a.GetID(), httpClient(c.opt))
	if err != nil {
		return fmt.Errorf("downloading %s: %w", a.GetName(), err)
	}
	if rc == nil {
		return fmt.Errorf("downloading %s: GitHub redirected to %s and the client did not follow", a.GetName(), redirect)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("downloading %s: %w", a.GetName(), err)
	}
	return nil
}

// VerifyChecksums checks a clearsigned checksums file against an armored
// key ring and returns its "sha256  name" lines as name -> hex digest.
func VerifyChecksums(signed, armoredKeys []byte) (map[string]string, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredKeys))
	if err != nil {
		return nil, fmt.Errorf("reading the release key: %w", err)
	}
	block, _ := clearsign.Decode(signed)
	if block == nil {
		return nil, fmt.Errorf("%s is not a clearsigned file: refusing to install", ChecksumsAsset)
	}
	if _, err := block.VerifySignature(keys, nil); err != nil {
		return nil, fmt.Errorf("the signature of %s does not verify against the Envoy release key (%v): refusing to install", ChecksumsAsset, err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(block.Plaintext))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && len(f[0]) == 64 {
			sums[strings.TrimPrefix(f[1], "*")] = strings.ToLower(f[0])
		}
	}
	return sums, nil
}

// installEnvoyRelease downloads, verifies and installs the release binary.
// Nothing is written where the binary goes until the signature, the
// checksum and `envoy --version` have all passed.
func installEnvoyRelease(ctx context.Context, r *Runner, o *Options, out io.Writer) error {
	c := newReleaseClient(o)
	rel, err := c.resolve(ctx, o.EnvoyVersion)
	if err != nil {
		return err
	}
	version := strings.TrimPrefix(rel.GetTagName(), "v")
	name := fmt.Sprintf("envoy-%s-linux-%s", version, envoyAssetArch(o.Arch))
	fmt.Fprintf(out, "release %s: want %s\n", rel.GetTagName(), name)
	var binAsset, sumAsset *github.ReleaseAsset
	for _, a := range rel.Assets {
		switch a.GetName() {
		case name:
			binAsset = a
		case ChecksumsAsset:
			sumAsset = a
		}
	}
	if binAsset == nil {
		return fmt.Errorf("release %s has no asset %s (Envoy attaches Linux binaries from v1.24.0)", rel.GetTagName(), name)
	}
	if sumAsset == nil {
		return fmt.Errorf("release %s has no %s to verify %s with: refusing to install", rel.GetTagName(), ChecksumsAsset, name)
	}

	var signed bytes.Buffer
	if err := c.download(ctx, sumAsset, &limitWriter{w: &signed, n: 1 << 20}); err != nil {
		return err
	}
	key := o.EnvoyReleaseKey
	if key == nil {
		key = assets.EnvoyReleaseKey()
	}
	sums, err := VerifyChecksums(signed.Bytes(), key)
	if err != nil {
		return err
	}
	want, ok := sums[name]
	if !ok {
		return fmt.Errorf("%s lists no checksum for %s: refusing to install", ChecksumsAsset, name)
	}
	fmt.Fprintf(out, "%s: good signature; %s sha256 %s\n", ChecksumsAsset, name, want)

	tmpDir, err := os.MkdirTemp("", "whisgee-envoy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	tmp := tmpDir + "/envoy"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		return err
	}
	h := sha256.New()
	fmt.Fprintf(out, "downloading %s (%d MB)\n", name, binAsset.GetSize()>>20)
	err = c.download(ctx, binAsset, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has sha256 %s but the signed checksums say %s: refusing to install", name, got, want)
	}
	fmt.Fprintf(out, "sha256 matches\n")
	build, err := EnvoyVersionOf(ctx, tmp)
	if err != nil {
		return err
	}
	if build.Version != version {
		return fmt.Errorf("%s reports version %s, not %s: refusing to install", name, build.Version, version)
	}
	fmt.Fprintf(out, "envoy --version: %s/%s/%s/%s/%s\n", build.SHA, build.Version, build.Status, build.Mode, build.SSL)
	return o.installTarget(ctx, r, tmp, o.EnvoyBinary, 0o755, out)
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("response too large")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
