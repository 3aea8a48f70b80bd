package envoy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
		"plain":        "app: {module: app:application}\nrun_dir: run\n",
		"tls+redirect": tlsYAML,
		"tls+proxy":    strings.Replace(tlsYAML, "redirect_http: true", "redirect_http: false", 1),
		"p2c no retry": "app: {module: app:application}\nproxy: {balance: p2c, retries: -1}\n",
		"tls only":     "app: {module: app:application}\nproxy: {listen: \"off\", tls: {listen: \":8443\", self_signed: true}}\n",
		"tcp workers":  "app: {module: app:application}\nworkers: {socket: tcp}\n",
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
