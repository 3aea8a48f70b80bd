package envoy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/proxyctl/tlscert"
	"github.com/whisgee/whisgee/supervisor"
)

// Names of the files Render produces, inside Files.Dir.
const (
	BootstrapFile = "envoy.yaml"
	EDSFile       = "eds.yaml"
	CertFile      = "cert.pem"
	KeyFile       = "key.pem"
)

// Stat prefixes and the cluster name are whisgee's stats contract (see
// DEVELOPERS.md): the admin reader and the built-in proxy use the same.
const (
	PrefixHTTP  = "ingress_http"
	PrefixHTTPS = "ingress_https"
	ClusterName = "wsgi"
)

//go:embed bootstrap.yaml.tmpl
var bootstrapTemplate string

var bootstrapTmpl = template.Must(template.New("bootstrap").Funcs(template.FuncMap{"q": quote}).Parse(bootstrapTemplate))

// RenderOptions say what to render beyond whisgee.yaml.
type RenderOptions struct {
	// Dir is where the files will live; the bootstrap names the EDS file
	// and certificates by their path there. If empty,
	// cfg.Proxy.Envoy.ConfigDir.
	Dir string
	// Workers are the endpoints of cluster wsgi. If nil, the config's
	// workers.count Unix sockets <run_dir>/worker-<id>.sock.
	Workers []supervisor.Backend
	// Draining marks workers (by id) DRAINING in the EDS file.
	Draining map[int]bool
	// SelfSigned makes a self-signed certificate for the HTTPS listener
	// when the config names none. If false, the config's tls.self_signed
	// decides.
	SelfSigned bool
	// Version is the EDS file's version_info. If zero, 1.
	Version uint64
}

// Files are everything Envoy needs to run one whisgee stack.
type Files struct {
	// Dir is the directory the files were rendered for.
	Dir string
	// Bootstrap is Envoy's v3 bootstrap (envoy.yaml).
	Bootstrap []byte
	// EDS is the endpoint file of cluster wsgi (eds.yaml).
	EDS []byte
	// CertPEM and KeyPEM are a self-signed pair, when one was asked for.
	CertPEM, KeyPEM []byte
	// CertPath and KeyPath are the certificate files the bootstrap names
	// (empty without an HTTPS listener).
	CertPath, KeyPath string
}

// BootstrapPath is where the bootstrap is written.
func (f *Files) BootstrapPath() string { return filepath.Join(f.Dir, BootstrapFile) }

// EDSPath is where the EDS file is written.
func (f *Files) EDSPath() string { return filepath.Join(f.Dir, EDSFile) }

// Render turns whisgee.yaml into Envoy's files: an HTTPS listener that
// terminates TLS (when proxy.tls.listen is set), a plain listener that
// proxies or redirects to HTTPS, cluster wsgi fed by an EDS file, active
// health checks, outlier detection sized for small pools, safe retries and
// an admin endpoint on loopback.
func Render(cfg *config.Config, opts RenderOptions) (*Files, error) {
	dir := opts.Dir
	if dir == "" {
		dir = cfg.Proxy.Envoy.ConfigDir
	}
	if dir == "" {
		return nil, errors.New("no directory for Envoy's files; set proxy.envoy.config_dir or pass --out DIR")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f := &Files{Dir: dir}
	d, err := templateData(cfg, f)
	if err != nil {
		return nil, err
	}
	if cfg.Proxy.TLS.Listen != "" {
		if cfg.Proxy.TLS.Cert != "" {
			f.CertPath, f.KeyPath = cfg.Proxy.TLS.Cert, cfg.Proxy.TLS.Key
		} else if opts.SelfSigned || cfg.Proxy.TLS.SelfSigned {
			host, _, _ := net.SplitHostPort(cfg.Proxy.TLS.Listen)
			f.CertPEM, f.KeyPEM, err = tlscert.SelfSigned(selfSignedHosts(host), 0)
			if err != nil {
				return nil, fmt.Errorf("self-signed certificate: %w", err)
			}
			f.CertPath, f.KeyPath = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
		} else {
			return nil, errors.New("proxy.tls.listen is set but no certificate is: set proxy.tls.cert and key, or self_signed: true")
		}
		d.CertFile, d.KeyFile = f.CertPath, f.KeyPath
	}
	var b bytes.Buffer
	if err := bootstrapTmpl.Execute(&b, d); err != nil {
		return nil, err
	}
	f.Bootstrap = b.Bytes()

	workers := opts.Workers
	if workers == nil {
		workers = DefaultWorkers(cfg)
	}
	f.EDS, err = RenderEDS(workers, opts.Draining, opts.Version)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// DefaultWorkers are the backends whisgee's supervisor creates for cfg:
// worker-<id>.sock in the run directory (or loopback ports for tcp).
func DefaultWorkers(cfg *config.Config) []supervisor.Backend {
	ws := make([]supervisor.Backend, cfg.Workers.Count)
	for i := range ws {
		ws[i] = supervisor.Backend{ID: i, Name: "worker-" + strconv.Itoa(i), Network: "unix",
			Address: filepath.Join(cfg.RunDir, "worker-"+strconv.Itoa(i)+".sock")}
	}
	return ws
}

type listenerData struct {
	Name, StatPrefix, Host string
	Port                   int
	TLS, Redirect          bool
}

type healthData struct {
	Path, Interval, Timeout string
	Rise, Fall              int
}

type bootstrapData struct {
	Source                                                       string
	AdminHost                                                    string
	AdminPort                                                    int
	Listeners                                                    []listenerData
	HTTPSPort                                                    int
	CertFile, KeyFile                                            string
	EDSPath                                                      string
	ConnectTimeout, UpstreamTimeout, IdleTimeout, HeadersTimeout string
	MaxHeadersKB                                                 int
	// MaxBodyBytes is the buffer filter's limit; 0 renders no filter.
	MaxBodyBytes int64
	// RequestIDHeader is proxy.request_id_header lower-cased, or empty
	// when it is Envoy's own x-request-id.
	RequestIDHeader string
	Retries         int
	Balance         string
	Health          healthData
}

func templateData(cfg *config.Config, f *Files) (*bootstrapData, error) {
	p := cfg.Proxy
	if p.Admin == "off" || p.Admin == "" {
		return nil, errors.New("proxy.admin is off, but Envoy's admin endpoint is how whisgee drains and watches workers; set proxy.admin: 127.0.0.1:9901")
	}
	d := &bootstrapData{
		Source:          cfg.Path,
		EDSPath:         f.EDSPath(),
		ConnectTimeout:  seconds(time.Second),
		UpstreamTimeout: seconds(p.UpstreamTimeout),
		IdleTimeout:     seconds(p.IdleTimeout),
		HeadersTimeout:  seconds(p.ReadHeaderTimeout),
		MaxHeadersKB:    max(1, min(8192, (p.MaxHeaderBytes+1023)/1024)),
		Retries:         max(0, p.Retries),
		Balance:         p.Balance,
		Health: healthData{
			Path: cfg.Workers.Health.Path, Interval: seconds(cfg.Workers.Health.Interval),
			Timeout: seconds(cfg.Workers.Health.Timeout),
			Rise:    max(1, cfg.Workers.Health.Rise), Fall: max(1, cfg.Workers.Health.Fall),
		},
	}
	if d.Source == "" {
		d.Source = "(in memory)"
	}
	if p.MaxBodyBytes > math.MaxUint32 {
		return nil, fmt.Errorf("proxy.max_body_bytes %d is more than Envoy's buffer filter takes (%d); lower it, or set -1 for no limit", p.MaxBodyBytes, uint64(math.MaxUint32))
	}
	d.MaxBodyBytes = max(0, p.MaxBodyBytes)
	if h := strings.ToLower(p.RequestIDHeader); h != "x-request-id" {
		d.RequestIDHeader = h
	}
	var err error
	if d.AdminHost, d.AdminPort, err = hostPort(p.Admin); err != nil {
		return nil, fmt.Errorf("proxy.admin: %w", err)
	}
	if ip := net.ParseIP(d.AdminHost); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("proxy.admin %q is not on loopback; Envoy's admin API can stop it, so whisgee keeps it on 127.0.0.1", p.Admin)
	}
	if p.TLS.Listen != "" {
		l := listenerData{Name: "https", StatPrefix: PrefixHTTPS, TLS: true}
		if l.Host, l.Port, err = hostPort(p.TLS.Listen); err != nil {
			return nil, fmt.Errorf("proxy.tls.listen: %w", err)
		}
		d.HTTPSPort = l.Port
		d.Listeners = append(d.Listeners, l)
	}
	if p.Listen != "off" && p.Listen != "" {
		l := listenerData{Name: "http", StatPrefix: PrefixHTTP, Redirect: p.Envoy.RedirectHTTP && p.TLS.Listen != ""}
		if l.Host, l.Port, err = hostPort(p.Listen); err != nil {
			return nil, fmt.Errorf("proxy.listen: %w", err)
		}
		// The plain listener first: it is the one most people curl.
		d.Listeners = append([]listenerData{l}, d.Listeners...)
	}
	if len(d.Listeners) == 0 {
		return nil, errors.New("no listener: set proxy.listen or proxy.tls.listen")
	}
	return d, nil
}

// hostPort splits HOST:PORT for Envoy, which wants an IP address: an empty
// host is every interface, localhost is 127.0.0.1.
func hostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("want HOST:PORT, got %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("want a port from 0 to 65535, got %q", port)
	}
	switch host {
	case "":
		host = "0.0.0.0"
	case "localhost":
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("Envoy needs an IP address here, got %q", host)
	}
	return host, n, nil
}

func selfSignedHosts(host string) []string {
	hosts := []string{"localhost", "127.0.0.1"}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" && host != "localhost" {
		hosts = append([]string{host}, hosts...)
	}
	return hosts
}

// seconds formats a duration as protobuf JSON wants it ("1.5s").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// Write writes the files into dir (if empty, f.Dir), which must be the
// directory they were rendered for: the bootstrap names the other files by
// their path there. The EDS file is replaced atomically. An existing valid
// certificate pair is kept rather than replaced by a new self-signed one,
// so a certificate a browser was told to trust stays the same.
func (f *Files) Write(dir string) error {
	if dir == "" {
		dir = f.Dir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if abs != f.Dir {
		return fmt.Errorf("files rendered for %s cannot be written to %s: the bootstrap names paths in its own directory; render again with that directory", f.Dir, abs)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := f.writeCert(); err != nil {
		return err
	}
	if err := writeAtomic(f.EDSPath(), f.EDS, 0o644); err != nil {
		return err
	}
	return writeAtomic(f.BootstrapPath(), f.Bootstrap, 0o644)
}

// writeCert writes the self-signed pair, unless a valid pair is already
// there: a certificate a browser was told to trust stays the same.
func (f *Files) writeCert() error {
	if f.CertPEM == nil {
		return nil
	}
	if _, err := tlscert.Load(f.CertPath, f.KeyPath); err == nil {
		return nil
	}
	if err := writeAtomic(f.KeyPath, f.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(f.CertPath, f.CertPEM, 0o644)
}

// writeAtomic writes data to a new file beside path and renames it into
// place: readers (Envoy's file watch) see the old file or the new one,
// never half of one, and nothing planted at path is written through.
// Envoy's path_config_source watches for moves.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	_, err := safefs.WriteFile(filepath.Dir(path), filepath.Base(path), data, mode)
	return err
}
