package envoy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// loadConfig parses a whisgee.yaml held in a string, as a file in dir.
func loadConfig(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const tlsYAML = `app: {module: app:application}
workers: {count: 3}
run_dir: run
proxy:
  engine: envoy
  listen: 127.0.0.1:8080
  tls: {listen: 127.0.0.1:8443, self_signed: true}
  envoy: {redirect_http: true}
`

func TestRenderedConfigPassesEnvoysSchema(t *testing.T) {
	dir := t.TempDir()
	for name, y := range map[string]string{
		"plain":                   "app: {module: app:application}\nrun_dir: run\n",
		"tls+redirect":            tlsYAML,
		"tls+proxy":               strings.Replace(tlsYAML, "redirect_http: true", "redirect_http: false", 1),
		"p2c no retry":            "app: {module: app:application}\nproxy: {balance: p2c, retries: -1}\n",
		"tls only":                "app: {module: app:application}\nproxy: {listen: \"off\", tls: {listen: \":8443\", self_signed: true}}\n",
		"tcp workers":             "app: {module: app:application}\nworkers: {socket: tcp}\n",
		"no body limit":           "app: {module: app:application}\nproxy: {max_body_bytes: -1}\n",
		"request id + body limit": "app: {module: app:application}\nproxy: {request_id_header: X-Correlation-Id, max_body_bytes: 1024, tls: {listen: \":8443\", self_signed: true}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, dir, y)
			out := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			f, err := Render(cfg, RenderOptions{Dir: out})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Write(out); err != nil {
				t.Fatal(err)
			}
			r := ValidateBootstrap(f.Bootstrap)
			if err := r.Err(); err != nil {
				t.Fatalf("rendered bootstrap fails validation: %v\n%s", err, f.Bootstrap)
			}
			if len(r.Warnings) > 0 {
				t.Fatalf("rendered bootstrap has warnings: %q", r.Warnings)
			}
			if err := ValidateEDS(f.EDS).Err(); err != nil {
				t.Fatalf("EDS file fails validation: %v\n%s", err, f.EDS)
			}
		})
	}
}

func TestRenderedEDSDrainsAndAddressesWorkers(t *testing.T) {
	ws := []supervisor.Backend{
		{ID: 1, Name: "worker-1", Network: "unix", Address: "/run/w g/worker-1.sock"},
		{ID: 0, Name: "worker-0", Network: "unix", Address: "/run/w g/worker-0.sock"},
		{ID: 2, Name: "worker-2", Network: "tcp", Address: "127.0.0.1:9002"},
	}
	data, err := RenderEDS(ws, map[int]bool{1: true}, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := ValidateEDS(data)
	if err := r.Err(); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	_ = os.Stdout
}

// The listener's own stats (connection limits, ...) are rooted at its
// stat_prefix, the same as its connection manager's, and the reader asks
// Envoy for them.
func TestRenderedListenersRootTheirStatsAtTheContractPrefix(t *testing.T) {
	good, _ := renderedBootstrap(t)
	b := ValidateBootstrap([]byte(good)).Bootstrap
	want := map[string]bool{PrefixHTTP: true, PrefixHTTPS: true}
	for _, l := range b.GetStaticResources().GetListeners() {
		if !want[l.GetStatPrefix()] {
			t.Fatalf("listener %s has stat_prefix %q, want one of %v", l.GetName(), l.GetStatPrefix(), want)
		}
		delete(want, l.GetStatPrefix())
		if name := "listener." + l.GetStatPrefix() + ".downstream_cx_overflow"; !regexp.MustCompile(statsFilter).MatchString(name) {
			t.Fatalf("the reader's filter %q leaves out %s", statsFilter, name)
		}
	}
	if len(want) != 0 {
		t.Fatalf("no listener with stat_prefix %v", want)
	}
}

// renderedHCMs renders y, checks it passes validation and returns each
// listener's connection manager, unpacked, by listener name.
func renderedHCMs(t *testing.T, y string) map[string]*hcmv3.HttpConnectionManager {
	t.Helper()
	dir := t.TempDir()
	f, err := Render(loadConfig(t, dir, y), RenderOptions{Dir: dir, SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(dir); err != nil {
		t.Fatal(err)
	}
	r := ValidateBootstrap(f.Bootstrap)
	if err := r.Err(); err != nil {
		t.Fatalf("%v\n%s", err, f.Bootstrap)
	}
	out := map[string]*hcmv3.HttpConnectionManager{}
	for _, l := range r.Bootstrap.GetStaticResources().GetListeners() {
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			t.Fatal(err)
		}
		out[l.GetName()] = hcm
	}
	return out
}

func TestMaxBodyBytesRendersTheBufferFilterBeforeTheRouter(t *testing.T) {
	const y = "app: {module: app:application}\nproxy:\n  max_body_bytes: 1024\n  envoy: {redirect_http: true}\n  tls: {listen: \":8443\", self_signed: true}\n"
	hcms := renderedHCMs(t, y)
	fs := hcms["https"].GetHttpFilters()
	if len(fs) != 2 || fs[0].GetName() != "envoy.filters.http.buffer" || fs[1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("https filters %v, want buffer then router", fs)
	}
	buf := &bufferv3.Buffer{}
	if err := fs[0].GetTypedConfig().UnmarshalTo(buf); err != nil || buf.GetMaxRequestBytes().GetValue() != 1024 {
		t.Fatalf("buffer %v (%v), want max_request_bytes 1024", buf, err)
	}
	// The plain listener only redirects: nothing to buffer.
	if fs := hcms["http"].GetHttpFilters(); len(fs) != 1 {
		t.Fatalf("redirecting listener filters %v, want the router alone", fs)
	}
	for name, hcm := range renderedHCMs(t, "app: {module: app:application}\nproxy: {max_body_bytes: -1}\n") {
		if fs := hcm.GetHttpFilters(); len(fs) != 1 {
			t.Fatalf("%s: max_body_bytes -1 (no limit) rendered filters %v", name, fs)
		}
	}
	dir := t.TempDir()
	_, err := Render(loadConfig(t, dir, "app: {module: app:application}\nproxy: {max_body_bytes: 5000000000}\n"), RenderOptions{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "proxy.max_body_bytes") {
		t.Fatalf("a limit over uint32: %v", err)
	}
}

func TestRequestIDHeaderIsCopiedFromEnvoysID(t *testing.T) {
	hcm := renderedHCMs(t, "app: {module: app:application}\nproxy: {request_id_header: X-Correlation-Id}\n")["http"]
	if !hcm.GetGenerateRequestId().GetValue() || !hcm.GetPreserveExternalRequestId() {
		t.Fatalf("generate_request_id %v, preserve_external_request_id %v: want both", hcm.GetGenerateRequestId(), hcm.GetPreserveExternalRequestId())
	}
	route := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0]
	add := route.GetRequestHeadersToAdd()
	if len(add) != 1 || add[0].GetHeader().GetKey() != "x-correlation-id" || add[0].GetHeader().GetValue() != "%REQ(x-request-id)%" ||
		add[0].GetAppendAction() != corev3.HeaderValueOption_ADD_IF_ABSENT {
		t.Fatalf("request_headers_to_add %v", add)
	}
	// Envoy's own header needs no copy.
	for _, h := range []string{"X-Request-Id", "x-request-id"} {
		hcm := renderedHCMs(t, "app: {module: app:application}\nproxy: {request_id_header: "+h+"}\n")["http"]
		if add := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRequestHeadersToAdd(); len(add) != 0 {
			t.Fatalf("%s: request_headers_to_add %v, want none", h, add)
		}
	}
}
