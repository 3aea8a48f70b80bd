package installer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// EnvoyBuild is what `envoy --version` says about a binary.
type EnvoyBuild struct {
	// SHA is the 40-hex commit it was built from.
	SHA string
	// Version is the release, e.g. "1.39.1".
	Version string
	// Status, Mode and SSL are the rest: "Clean", "RELEASE", "BoringSSL".
	Status, Mode, SSL string
}

// envoy prints "envoy  version: <sha>/1.39.1/Clean/RELEASE/BoringSSL"
// (two spaces before "version:"); dev builds add "-dev" to the version.
var envoyVersionLineRE = regexp.MustCompile(`version:\s*([0-9a-f]{40})/([0-9]+\.[0-9]+\.[0-9]+)(?:-[A-Za-z0-9.]+)?/([^/\s]+)/([^/\s]+)/([^/\s]+)`)

// ParseEnvoyVersion reads the output of `envoy --version`.
func ParseEnvoyVersion(out string) (EnvoyBuild, error) {
	m := envoyVersionLineRE.FindStringSubmatch(out)
	if m == nil {
		first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		return EnvoyBuild{}, fmt.Errorf("`envoy --version` printed %q, not \"envoy  version: SHA/1.N.P/Clean/RELEASE/BoringSSL\"", first)
	}
	return EnvoyBuild{SHA: m[1], Version: m[2], Status: m[3], Mode: m[4], SSL: m[5]}, nil
}

// EnvoyVersionOf runs `binary --version` and parses it; a binary that
// cannot run (GLIBC_2.29 not found) returns an error carrying its output.
func EnvoyVersionOf(ctx context.Context, binary string) (EnvoyBuild, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--version").CombinedOutput()
	if err != nil {
		return EnvoyBuild{}, fmt.Errorf("%s --version: %v: %s", binary, err, strings.TrimSpace(string(out)))
	}
	return ParseEnvoyVersion(string(out))
}

func envoyStep(h *Host, o *Options, p *Plan) *Step {
	switch o.EnvoySource {
	case EnvoySkip:
		p.Notes = append(p.Notes, "Envoy: skipped (--envoy-source skip); the built-in proxy needs none")
		return nil
	case EnvoyRepo:
		return &Step{
			Name: StepEnvoy, Title: "check the " + o.EnvoyPackage + " package from your mirror runs",
			DoneIf: []Check{envoyRuns(o, "", mirrorEnvoyPaths...)},
			Actions: []*Action{{
				Desc: "run envoy --version",
				Do: func(ctx context.Context, r *Runner, out io.Writer) error {
					path, build, err := findEnvoy(ctx, o, mirrorEnvoyPaths...)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "envoy %s (%s) at %s\n", build.Version, build.SHA[:12], path)
					return nil
				},
			}},
		}
	}
	want := o.EnvoyVersion
	what := "the newest stable Envoy release"
	if want != "" {
		what = "Envoy " + want
	}
	s := &Step{
		Name: StepEnvoy, Root: true,
		Title:  fmt.Sprintf("install %s to %s (GitHub release binary, signed checksums)", what, o.EnvoyBinary),
		DoneIf: []Check{envoyRuns(o, want, o.EnvoyBinary)},
		// The binary goes in with Runner.InstallFile: a rename where this
		// user can write, else `sudo -n install`.
		Writes: []string{o.under(o.EnvoyBinary)}, SudoWrites: true,
		Instead: "pass --envoy-source skip (the built-in proxy needs no Envoy)",
		Actions: []*Action{{
			Desc: fmt.Sprintf("download envoy-<version>-linux-%s and checksums.txt.asc, verify the signature with the Envoy release key and the sha256, install, run --version", envoyAssetArch(o.Arch)),
			Do: func(ctx context.Context, r *Runner, out io.Writer) error {
				return installEnvoyRelease(ctx, r, o, out)
			},
		}},
	}
	if g := h.Glibc(); g.Less(EnvoyMinGlibc) {
		s.Blocked = fmt.Sprintf("this host's glibc is %s and Envoy's release binaries need %s or newer (they fail with `GLIBC_%s not found`): install Envoy built for this OS from your mirror (--envoy-repo URL) or skip it (--envoy-source skip; the built-in proxy needs none)", g, EnvoyMinGlibc, EnvoyMinGlibc)
	}
	return s
}

// Where an Envoy package may put its binary.
var mirrorEnvoyPaths = []string{"/usr/bin/envoy", "/usr/local/bin/envoy", "/usr/sbin/envoy"}

// envoyRuns is a check that an envoy binary runs and, if want is set, is
// that release. Without want, the release binary must be the newest one,
// which Probe learns from GitHub.
func envoyRuns(o *Options, want string, paths ...string) Check {
	desc := "envoy --version works"
	if want != "" {
		desc = "envoy --version reports " + want
	} else if o.EnvoySource == EnvoyRelease {
		desc = "envoy --version reports the newest stable release"
	}
	if o.Root != "" {
		// The image's binary, never this machine's: a build host's own
		// envoy says nothing about the image.
		var inRoot []string
		for _, p := range paths {
			inRoot = append(inRoot, o.under(p))
		}
		desc += " (version read from the image: " + strings.Join(inRoot, " or ") + ")"
	}
	return Check{Desc: desc, Func: func(ctx context.Context, r *Runner) (bool, string, error) {
		path, build, err := findEnvoy(ctx, o, paths...)
		if err != nil {
			return false, err.Error(), nil
		}
		detail := fmt.Sprintf("envoy %s at %s", build.Version, path)
		target := want
		if target == "" && o.EnvoySource == EnvoyRelease {
			rel, err := newReleaseClient(o).resolve(ctx, "")
			if err != nil {
				return false, detail + "; newest release unknown: " + err.Error(), nil
			}
			target = strings.TrimPrefix(rel.GetTagName(), "v")
		}
		if target != "" && build.Version != target {
			return false, detail + ", want " + target, nil
		}
		return true, detail, nil
	}}
}

// findEnvoy runs the first envoy found at paths, under Options.Root: an
// image's own binary, never one on this machine's PATH.
func findEnvoy(ctx context.Context, o *Options, paths ...string) (string, EnvoyBuild, error) {
	var looked []string
	for _, p := range paths {
		// Resolved inside the image root: an image's symlink to a path
		// of its own must not run this machine's file of that name.
		full, err := o.hostPath(p)
		if err == nil {
			_, err = os.Stat(full)
		}
		if err != nil {
			looked = append(looked, o.under(p))
			continue
		}
		build, err := EnvoyVersionOf(ctx, full)
		return full, build, err
	}
	return "", EnvoyBuild{}, fmt.Errorf("no envoy at %s", strings.Join(looked, ", "))
}

// mirrorRepoAction writes your mirror's .repo file into /etc/yum.repos.d,
// refusing one that turns signature checks off.
func mirrorRepoAction(o *Options) *Action {
	path := "/etc/yum.repos.d/whisgee-envoy.repo"
	return &Action{
		Desc: fmt.Sprintf("write %s from %s", path, o.EnvoyRepo),
		Root: true,
		Do: func(ctx context.Context, r *Runner, out io.Writer) error {
			data, err := fetchRepoFile(ctx, o)
			if err != nil {
				return err
			}
			return o.writeTarget(ctx, r, path, data, 0o644, out)
		},
		SkipIf: []Check{{Desc: path + " matches " + o.EnvoyRepo, Func: func(ctx context.Context, _ *Runner) (bool, string, error) {
			old, err := o.readTarget(path)
			if err != nil {
				return false, "", nil
			}
			data, err := fetchRepoFile(ctx, o)
			return err == nil && bytes.Equal(old, data), "", nil
		}}},
	}
}

// fetchRepoFile downloads a .repo file (at most 64 KiB) and checks it is
// one: an INI file with a [section] and a baseurl, mirrorlist or metalink.
func fetchRepoFile(ctx context.Context, o *Options) ([]byte, error) {
	u, err := url.Parse(o.EnvoyRepo)
	if err != nil {
		return nil, err
	}
	var data []byte
	if u.Scheme == "file" {
		data, err = os.ReadFile(u.Path)
	} else {
		data, err = httpGet(ctx, httpClient(o), o.EnvoyRepo, 64<<10)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching the .repo file: %w", err)
	}
	return data, checkRepoFile(o.EnvoyRepo, data)
}

func checkRepoFile(src string, data []byte) error {
	text := string(data)
	if !regexp.MustCompile(`(?m)^\s*\[[^\]]+\]`).MatchString(text) || !regexp.MustCompile(`(?m)^\s*(baseurl|mirrorlist|metalink)\s*=`).MatchString(text) {
		return fmt.Errorf("%s is not a .repo file (want a [section] with baseurl=); pass the URL of your mirror's .repo file", src)
	}
	if regexp.MustCompile(`(?m)^\s*gpgcheck\s*=\s*(0|false|no)\s*$`).MatchString(text) {
		return fmt.Errorf("%s turns gpgcheck off; whisgee keeps package signatures checked: sign the mirror's packages and set gpgcheck=1 with gpgkey=", src)
	}
	return nil
}

func httpClient(o *Options) *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return defaultHTTPClient
}

var defaultHTTPClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	TLSHandshakeTimeout:   15 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
}}

// httpGet fetches a small document, refusing more than limit bytes.
func httpGet(ctx context.Context, c *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: more than %d bytes", u, limit)
	}
	return data, nil
}
