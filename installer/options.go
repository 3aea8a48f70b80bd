package installer

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/whisgee/whisgee/config"
)

// EnvoySource is where Envoy comes from.
type EnvoySource string

// Envoy sources.
const (
	// EnvoyRelease downloads the official binary from Envoy's GitHub
	// release and verifies it against the signed checksums file.
	EnvoyRelease EnvoySource = "release"
	// EnvoyRepo installs a package from a .repo file of your own mirror.
	EnvoyRepo EnvoySource = "repo"
	// EnvoySkip installs no Envoy (the built-in proxy needs none).
	EnvoySkip EnvoySource = "skip"
)

// Options shape a plan. The zero value of each field means its documented
// default.
type Options struct {
	// Root installs into an image root (dnf --installroot; files under
	// Root). If empty, this machine.
	Root string

	// EnvoySource is release, repo or skip. If empty, repo when EnvoyRepo
	// is set, else release.
	EnvoySource EnvoySource
	// EnvoyVersion is the release to install, e.g. "1.39.1". If empty, the
	// newest stable release.
	EnvoyVersion string
	// EnvoyRepo is the URL of your mirror's .repo file (http, https or
	// file). whisgee writes it into /etc/yum.repos.d itself, which works
	// with yum, dnf4 and dnf5 alike.
	EnvoyRepo string
	// EnvoyPackage is the package name in that repo. If empty, "envoy".
	EnvoyPackage string
	// EnvoyBinary is where the release binary is installed. If empty,
	// /usr/local/bin/envoy (under Root).
	EnvoyBinary string
	// EnvoyReleaseKey is the armored OpenPGP key that must have signed the
	// release's checksums.txt.asc. If nil, the Envoy maintainers' key
	// embedded in assets/.
	EnvoyReleaseKey []byte
	// GitHubBaseURL is GitHub's API root. If empty, api.github.com.
	GitHubBaseURL string
	// HTTPClient fetches releases and .repo files. If nil, a client with a
	// 30s connect timeout and no overall timeout (the binary is large).
	HTTPClient *http.Client

	// Python is the interpreter the venv is made with. If empty, the
	// release's default (python3; python3.11 on EL8).
	Python string
	// Venv is the virtualenv directory. If empty, /opt/whisgee/venv.
	Venv string
	// Wheelhouse, if set, makes pip install offline from this directory
	// (--no-index --find-links).
	Wheelhouse string
	// PipGroups are the pip installs the venv step runs, in order. If nil,
	// the founding recipe's: [pip --upgrade] [wheel six] [circus chaussette
	// bjoern] (circus>=0.19 on Python 3.13 and newer).
	PipGroups [][]string

	// ConfigPath is the whisgee.yaml written at the end. If empty,
	// /etc/whisgee/whisgee.yaml (under Root).
	ConfigPath string
	// AppModule is the WSGI callable, "module:attribute". If empty, the
	// demo app (demoapp:application), written next to the config.
	AppModule string
	// Workers is the worker count. If zero, 4.
	Workers int
	// ProxyEngine is builtin or envoy. If empty, envoy when Envoy is
	// installed by this plan, else builtin.
	ProxyEngine string
	// SupervisorEngine is builtin or circus. If empty, builtin.
	SupervisorEngine string
	// RenderCircus and RenderEnvoy are the hooks that write the engines'
	// own configs (circus.ini, the Envoy bootstrap) next to whisgee.yaml
	// when those engines are chosen. The packages that render them
	// (supervisor/circus, proxyctl/envoy) set these; if nil, the config
	// step says the file is left to `whisgee up`.
	RenderCircus EngineConfigRenderer
	RenderEnvoy  EngineConfigRenderer

	// Only and Skip select steps by name.
	Only, Skip []string
	// Arch is x86_64 or aarch64. If empty, this machine's.
	Arch string
	// DNFArgs are added to every dnf and yum command (e.g.
	// --disableplugin=local, --setopt=...).
	DNFArgs []string
}

// EngineConfigRenderer renders an engine's config files from the stack's
// config; paths are absolute (the runner puts them under Options.Root).
type EngineConfigRenderer func(cfg *config.Config) ([]EngineFile, error)

// EngineFile is one rendered file.
type EngineFile struct {
	Path string
	Data []byte
}

var envoyVersionRE = regexp.MustCompile(`^1\.[0-9]+\.[0-9]+$`)

// complete fills defaults and rejects impossible combinations with errors
// that say what to pass instead.
func (o *Options) complete(h *Host) error {
	if o.Root == "/" {
		o.Root = ""
	}
	if o.Root != "" && !filepath.IsAbs(o.Root) {
		return fmt.Errorf("--root %q: want an absolute path", o.Root)
	}
	if o.Root != "" && h.PackageManager() == Apt {
		return fmt.Errorf("--root: installing into an image root needs dnf or yum (--installroot); %s uses apt", h.Distro)
	}
	switch o.EnvoySource {
	case "":
		o.EnvoySource = EnvoyRelease
		if o.EnvoyRepo != "" {
			o.EnvoySource = EnvoyRepo
		}
	case EnvoyRelease, EnvoySkip:
		if o.EnvoyRepo != "" {
			return fmt.Errorf("--envoy-repo installs Envoy from your mirror, but the Envoy source is %q: drop one of them", o.EnvoySource)
		}
	case EnvoyRepo:
		if o.EnvoyRepo == "" {
			return fmt.Errorf("Envoy source \"repo\" needs --envoy-repo URL of your mirror's .repo file")
		}
	default:
		return fmt.Errorf("Envoy source %q: want release, repo or skip", o.EnvoySource)
	}
	if o.EnvoyRepo != "" {
		if h.PackageManager() == Apt {
			return fmt.Errorf("--envoy-repo takes a .repo file for yum/dnf; %s uses apt: use the release binary (the default) or --envoy-source skip", h.Distro)
		}
		u, err := url.Parse(o.EnvoyRepo)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
			return fmt.Errorf("--envoy-repo %q: want an http(s):// or file:// URL of a .repo file", o.EnvoyRepo)
		}
		if strings.Contains(u.Host, "getenvoy.io") {
			return fmt.Errorf("--envoy-repo %s: GetEnvoy was shut down in 2021 and its repo answers HTTP 402; use the release binary (the default) or a mirror of your own", o.EnvoyRepo)
		}
	}
	o.EnvoyVersion = strings.TrimPrefix(o.EnvoyVersion, "v")
	if o.EnvoyVersion != "" && !envoyVersionRE.MatchString(o.EnvoyVersion) {
		return fmt.Errorf("--envoy-version %q: want a release like 1.39.1", o.EnvoyVersion)
	}
	if o.EnvoyPackage == "" {
		o.EnvoyPackage = "envoy"
	}
	if o.EnvoyBinary == "" {
		o.EnvoyBinary = "/usr/local/bin/envoy"
	}
	if o.Arch == "" {
		o.Arch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	}
	if o.Arch != "x86_64" && o.Arch != "aarch64" {
		return fmt.Errorf("architecture %q: Envoy and whisgee's plans cover x86_64 and aarch64", o.Arch)
	}
	if o.Python == "" {
		o.Python, _ = h.DefaultPython()
	}
	if o.Venv == "" {
		o.Venv = "/opt/whisgee/venv"
	}
	for name, p := range map[string]string{"--venv": o.Venv, "--wheelhouse": o.Wheelhouse} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("%s %q: want an absolute path", name, p)
		}
	}
	if o.ConfigPath == "" {
		o.ConfigPath = "/etc/whisgee/whisgee.yaml"
	}
	if !filepath.IsAbs(o.ConfigPath) {
		return fmt.Errorf("config path %q: want an absolute path", o.ConfigPath)
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Workers < 1 || o.Workers > 1024 {
		return fmt.Errorf("--workers %d: want 1 to 1024", o.Workers)
	}
	switch o.ProxyEngine {
	case "":
		o.ProxyEngine = "builtin"
		if o.EnvoySource != EnvoySkip {
			o.ProxyEngine = "envoy"
		}
	case "builtin", "envoy":
	default:
		return fmt.Errorf("proxy engine %q: want builtin or envoy", o.ProxyEngine)
	}
	switch o.SupervisorEngine {
	case "":
		o.SupervisorEngine = "builtin"
	case "builtin", "circus":
	default:
		return fmt.Errorf("supervisor engine %q: want builtin or circus", o.SupervisorEngine)
	}
	if err := CheckStepNames(o.Only); err != nil {
		return fmt.Errorf("--only: %w", err)
	}
	if err := CheckStepNames(o.Skip); err != nil {
		return fmt.Errorf("--skip: %w", err)
	}
	return nil
}

// under maps an absolute path on the target to the path this process
// writes: the same path, or inside Root.
func (o *Options) under(path string) string {
	if o.Root == "" {
		return path
	}
	return filepath.Join(o.Root, path)
}
