package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const full = `app:
  module: app:application
  dir: /srv/app
  python: /srv/venv/bin/python
workers:
  count: 3
  server: wsgiref
  cmd: ""
proxy:
  listen: 127.0.0.1:8080
  tls: {listen: "127.0.0.1:8443", cert: "", key: "", self_signed: true}
  admin: 127.0.0.1:9901
control:
  socket: /run/whisgee/control.sock
`

func TestParseTheDocumentedExample(t *testing.T) {
	c, err := Parse([]byte(full), "/etc/whisgee/whisgee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Module != "app:application" || c.App.Dir != "/srv/app" || c.App.Python != "/srv/venv/bin/python" {
		t.Fatalf("app = %+v", c.App)
	}
	if c.Workers.Count != 3 || c.Workers.Server != "wsgiref" || len(c.Workers.Cmd) != 0 {
		t.Fatalf("workers = %+v", c.Workers)
	}
	if c.Proxy.TLS.Listen != "127.0.0.1:8443" || !c.Proxy.TLS.SelfSigned {
		t.Fatalf("tls = %+v", c.Proxy.TLS)
	}
	if c.RunDir != "/run/whisgee" {
		t.Fatalf("run dir %q, want the control socket's directory", c.RunDir)
	}
}

func TestDefaultsFillEverythingLeftOut(t *testing.T) {
	c, err := Parse([]byte("app: {module: app:application}\ncontrol: {socket: run/control.sock}\n"), "/x/whisgee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"count":    4,
		"server":   "auto",
		"socket":   "unix",
		"signal":   "INT",
		"graceful": 30 * time.Second,
		"listen":   "127.0.0.1:8080",
		"admin":    "127.0.0.1:9901",
		"balance":  "least_request",
		"engine":   "builtin",
		"sup":      "builtin",
		"dir":      "/x",
		"python":   "python3",
		"ctl":      "/x/run/control.sock",
		"rundir":   "/x/run",
		"health":   "/",
		"fall":     2,
	}
	got := map[string]any{
		"count": c.Workers.Count, "server": c.Workers.Server, "socket": c.Workers.Socket,
		"signal": c.Workers.StopSignal, "graceful": c.Workers.GracefulTimeout,
		"listen": c.Proxy.Listen, "admin": c.Proxy.Admin, "balance": c.Proxy.Balance,
		"engine": c.Proxy.Engine, "sup": c.Supervisor.Engine, "dir": c.App.Dir,
		"python": c.App.Python, "ctl": c.Control.Socket, "rundir": c.RunDir,
		"health": c.Workers.Health.Path, "fall": c.Workers.Health.Fall,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %v\nwant %v", got, want)
	}
}

func TestBadInputNamesTheLineAndTheFix(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top key", "app: {module: a:b}\nworkres:\n  count: 2\n", `c.yaml:2: workres: unknown key "workres"; did you mean "workers"?`},
		{"unknown nested key", "app:\n  module: a:b\n  modul: x\n", `c.yaml:3: app.modul: unknown key "modul"; did you mean "module"?`},
		{"unknown key far from any", "app:\n  module: a:b\n  zzzzzzzz: 1\n", `known keys here: dir, env, module, python`},
		{"bad count", "app: {module: a:b}\nworkers:\n  count: many\n", `c.yaml:3: workers.count: want a whole number, got "many"`},
		{"zero count", "app: {module: a:b}\nworkers:\n  count: 0\n", `c.yaml:3: workers.count: want at least 1, got 0`},
		{"bad duration", "app: {module: a:b}\nworkers:\n  graceful_timeout: 30\n", `c.yaml:3: workers.graceful_timeout: want a duration like 30s or 500ms, got "30"`},
		{"bad module", "app:\n  module: app.py\n", `c.yaml:2: app.module: want "module:attribute" like app:application, got "app.py"`},
		{"missing module", "workers: {count: 2}\n", `app.module: missing; name the WSGI callable`},
		{"bad server", "app: {module: a:b}\nworkers: {server: gunicorn}\n", `want one of auto, bjoern, chaussette, waitress, wsgiref, got "gunicorn"`},
		{"admin not loopback", "app: {module: a:b}\nproxy:\n  admin: 0.0.0.0:9901\n", `c.yaml:3: proxy.admin: must listen on loopback (127.0.0.1:PORT), got "0.0.0.0:9901"`},
		{"bad listen", "app: {module: a:b}\nproxy: {listen: 8080}\n", `proxy.listen: want HOST:PORT like 127.0.0.1:8080, got "8080"`},
		{"malformed yaml", "app:\n  module: a:b\n    x: y\n", `c.yaml:3: malformed YAML: mapping values are not allowed`},
		{"tab indent", "app:\n\tmodule: a:b\n", `c.yaml:2: malformed YAML:`},
		{"not a mapping", "- a\n- b\n", `the file must be a mapping`},
		{"list where mapping", "app: [1, 2]\n", `c.yaml:1: app: want a mapping of keys`},
		{"duplicate key", "app: {module: a:b}\napp: {module: c:d}\n", `c.yaml:2:`},
		{"bad signal", "app: {module: a:b}\nworkers: {stop_signal: NOPE}\n", `want a signal name like INT, TERM or QUIT, got "NOPE"`},
		{"tls without cert", "app: {module: a:b}\nproxy: {tls: {listen: 127.0.0.1:8443}}\n", `no certificate; set tls.cert and tls.key, or self_signed: true`},
		{"circus without endpoint", "app: {module: a:b}\nsupervisor: {engine: circus}\n", `needs supervisor.endpoint`},
		{"unterminated quote", "workers: {cmd: \"run 'x\"}\n", `unterminated ' quote`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "c.yaml")
			if err == nil {
				t.Fatalf("no error for:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\n does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestCmdAcceptsAStringOrAList(t *testing.T) {
	for _, y := range []string{
		"workers:\n  cmd: /usr/bin/chaussette --fd '{fd}' \"my app\"\n",
		"workers:\n  cmd: [/usr/bin/chaussette, --fd, '{fd}', my app]\n",
	} {
		c, err := Parse([]byte(y), "")
		if err != nil {
			t.Fatal(err)
		}
		want := Argv{"/usr/bin/chaussette", "--fd", "{fd}", "my app"}
		if !reflect.DeepEqual(c.Workers.Cmd, want) {
			t.Fatalf("cmd = %q, want %q", c.Workers.Cmd, want)
		}
	}
}

func TestLoadReportsAMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no such config file") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadResolvesPathsAgainstTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "whisgee.yaml")
	if err := os.WriteFile(path, []byte("app: {module: app:application, dir: app, python: venv/bin/python}\ncontrol: {socket: ctl.sock}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Dir != filepath.Join(dir, "app") || c.App.Python != filepath.Join(dir, "venv/bin/python") || c.Control.Socket != filepath.Join(dir, "ctl.sock") {
		t.Fatalf("paths not resolved: %+v %+v", c.App, c.Control)
	}
}

func TestEmptyFileNeedsAModule(t *testing.T) {
	_, err := Parse([]byte("# nothing\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "app.module") {
		t.Fatalf("err = %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	got, err := SplitWords(`a "b c" 'd e' f\ g ""`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b c", "d e", "f g", ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("app: {module: a:b}\nworkers: {count: 2, cmd: [x, '{fd}']}\n"))
	f.Add([]byte("app:\n  env: {A: b}\nproxy: {tls: {listen: ':1'}}\n"))
	f.Add([]byte("&a x: *a\n"))
	f.Add([]byte("app: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil && c == nil {
			t.Fatal("nil config without an error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
	})
}

func TestEnvoyDefaultsAndLimits(t *testing.T) {
	c, err := Parse([]byte("app: {module: a:b}\nproxy: {engine: envoy}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := c.Proxy.Envoy
	if e.BaseID != 0 || e.DrainTime != 30*time.Second || e.ParentShutdownTime != 45*time.Second || e.StartTimeout != 30*time.Second {
		t.Fatalf("envoy defaults = %+v", e)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"app: {module: a:b}\nproxy:\n  envoy: {drain_time: 60s}\n", "proxy.envoy.parent_shutdown_time: must be longer than drain_time (1m0s)"},
		{"app: {module: a:b}\nproxy:\n  envoy: {base_id: -1}\n", "c.yaml:3: proxy.envoy.base_id: want 0 or more, got -1"},
		{"app: {module: a:b}\nproxy:\n  engine: envoy\n  admin: \"off\"\n", "proxy.admin: the envoy engine needs its admin endpoint"},
	} {
		_, err := Parse([]byte(tc.yaml), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

func TestDefaultControlSocketIsNeverAPredictableNameInSharedTmp(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		name string
		euid int
		env  map[string]string
		want string
	}{
		{"root", 0, nil, "/run/whisgee/control.sock"},
		{"a session", 1000, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"}, "/run/user/1000/whisgee/control.sock"},
		{"cron, su, User= units", 1000, map[string]string{"HOME": "/home/u"}, "/home/u/.whisgee/control.sock"},
		{"a relative runtime dir", 1000, map[string]string{"XDG_RUNTIME_DIR": "run", "HOME": "/home/u"}, "/home/u/.whisgee/control.sock"},
	} {
		got, err := defaultControlSocket(c.euid, env(c.env))
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
		if strings.HasPrefix(got, os.TempDir()) {
			t.Errorf("%s: %s is in the shared temp dir", c.name, got)
		}
	}
	for _, home := range []string{"", "relative/home", "/" + strings.Repeat("h", 100)} {
		_, err := defaultControlSocket(1000, env(map[string]string{"HOME": home}))
		if err == nil || !strings.Contains(err.Error(), "set control.socket") || strings.Contains(err.Error(), "\n") {
			t.Errorf("HOME %q: %v; want one line saying to set control.socket", home, err)
		}
	}
}
