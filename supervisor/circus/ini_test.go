package circus

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
)

func TestImportCircusdFixture(t *testing.T) {
	data, err := os.ReadFile(fixturePath(t, "circus.ini"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ImportINI(data, "circus.ini", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadYAML(t, out)
	if cfg.App.Module != "app:app" || cfg.App.Dir != "/srv/app" || cfg.Workers.Server != "chaussette" {
		t.Errorf("app %+v server %q; want chaussette serving app:app from /srv/app", cfg.App, cfg.Workers.Server)
	}
	if cfg.Workers.Count != 3 || cfg.Workers.Socket != "tcp" || cfg.Workers.StopSignal != "TERM" || cfg.Workers.GracefulTimeout != 30*time.Second {
		t.Errorf("workers %+v; want 3 on tcp, TERM (circus's default), 30s", cfg.Workers)
	}
	if cfg.Supervisor.Engine != "builtin" || cfg.Supervisor.CircusEndpoint != "tcp://127.0.0.1:15555" {
		t.Errorf("supervisor %+v; want builtin answering circus's protocol on the old endpoint", cfg.Supervisor)
	}
	if !strings.Contains(string(out), "127.0.0.1:18090") {
		t.Errorf("the output does not mention circus's old socket address:\n%s", out)
	}

	out, err = ImportINI(data, "circus.ini", ImportOptions{Engine: "circus"})
	if err != nil {
		t.Fatal(err)
	}
	cfg = loadYAML(t, out)
	if cfg.Supervisor.Engine != "circus" || cfg.Supervisor.Endpoint != "tcp://127.0.0.1:15555" || cfg.Supervisor.PubSub != "tcp://127.0.0.1:15556" || cfg.Supervisor.Watcher != "web" {
		t.Errorf("supervisor %+v; want circus at the ini's endpoints", cfg.Supervisor)
	}
}

// loadYAML writes out and loads it with config.Load, as `whisgee up` would.
func loadYAML(t *testing.T, out []byte) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "whisgee.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("config.Load rejects the import: %v\n%s", err, out)
	}
	return cfg
}

func TestImportErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ ini, want string }{
		{"[watcher:web]\ncmd = x\nnumprocesses = many\n", "circus.ini:3: numprocesses"},
		{"[watcher:web]\ncmd = x\nstop_signal = LOUD\n", "circus.ini:3: stop_signal"},
		{"[watcher:web]\ncmd = x\ngraceful_timeout = soon\n", "circus.ini:3: graceful_timeout"},
		{"cmd = x\n[watcher:web]\n", "circus.ini:1: "},
		{"[watcher:web]\njust words\n", "circus.ini:2: cannot read"},
		{"[watcher:web]\ncmd = x --fd $(circus.sockets.nope)\n", "circus.ini:2: cmd uses $(circus.sockets.nope) but there is no [socket:nope]"},
		{"[watcher:web]\nnumprocesses = 2\n", "circus.ini:1: [watcher:web] has no cmd"},
		{"[circus]\nendpoint = tcp://127.0.0.1:5555\n", "no [watcher:NAME] section"},
		{"[watcher:a]\ncmd = x\n[watcher:b]\ncmd = y\n", "choose one with --watcher"},
	} {
		_, err := ImportINI([]byte(tc.ini), "circus.ini", ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line with %q", tc.ini, err, tc.want)
		}
		var ie *IniError
		if err != nil && !errors.As(err, &ie) {
			t.Errorf("%q: error %T is not an *IniError", tc.ini, err)
		}
	}
}

func TestINIDialectIsCircus(t *testing.T) {
	ini := "# comment\n; another\n[watcher:web]\ncmd = run --fd $(circus.sockets.web) ; trailing comment\n" +
		"args = --flag\n  --continued\nnumprocesses = 2\nnumprocesses = 9\nwarmup_delay = 3\nuid = www\n" +
		"[socket:web]\npath = /run/web.sock\n[env:web, other]\nDJANGO_SETTINGS = prod\n[env:w*]\nTZ = UTC\n[env:nomatch]\nX = 1\n"
	out, err := ImportINI([]byte(ini), "c.ini", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadYAML(t, out)
	if want := []string{"run", "--fd", "{fd}", "--flag", "--continued"}; !reflect.DeepEqual([]string(cfg.Workers.Cmd), want) {
		t.Errorf("cmd %q, want %q (inline comment cut, continuation joined)", cfg.Workers.Cmd, want)
	}
	if cfg.Workers.Count != 2 {
		t.Errorf("count %d: circus keeps the first of repeated options", cfg.Workers.Count)
	}
	if want := map[string]string{"DJANGO_SETTINGS": "prod", "TZ": "UTC"}; !reflect.DeepEqual(cfg.Workers.Env, want) {
		t.Errorf("env %v, want %v", cfg.Workers.Env, want)
	}
	for _, note := range []string{"line 9: warmup_delay = 3", "line 10: [watcher:web] uid = www"} {
		if !strings.Contains(string(out), note) {
			t.Errorf("the output does not note %q:\n%s", note, out)
		}
	}
}

// render then import gives back the stack that was rendered.
func TestRenderImportRoundTrip(t *testing.T) {
	dir, err := os.MkdirTemp("", "wg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	yml := `app:
  module: demoapp:application
  dir: ` + dir + `
  python: /usr/bin/python3
  env: {GREETING: "hello world"}
workers:
  count: 3
  server: bjoern
  stop_signal: INT
  graceful_timeout: 12s
  crash_loop: {max_crashes: 4}
  env: {TZ: UTC}
control:
  socket: ` + filepath.Join(dir, "control.sock") + `
supervisor:
  engine: circus
  endpoint: tcp://127.0.0.1:5600
`
	for _, tc := range []struct {
		name string
		opts []RenderOption
		sock string
	}{
		{"shared unix", nil, "unix"},
		{"per-worker unix", []RenderOption{WithPerWorkerSockets()}, "unix"},
		{"shared tcp", nil, "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(yml, "  count: 3\n", "  count: 3\n  socket: "+tc.sock+"\n", 1)
			orig, err := config.Parse([]byte(src), filepath.Join(dir, "whisgee.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			ini, err := RenderINI(orig, append(tc.opts, WithWarmupDelay(time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"stop_signal = INT", "graceful_timeout = 12", "warmup_delay = 1", "max_retry = 4", "$(circus.sockets.web", "use_sockets = True"} {
				if !strings.Contains(string(ini), want) {
					t.Errorf("circus.ini lacks %q:\n%s", want, ini)
				}
			}
			out, err := ImportINI(ini, "circus.ini", ImportOptions{Engine: "circus"})
			if err != nil {
				t.Fatalf("%v\n%s", err, ini)
			}
			back := loadYAML(t, out)
			if back.App.Module != orig.App.Module || back.App.Dir != orig.App.Dir || back.App.Python != orig.App.Python {
				t.Errorf("app %+v, want %+v", back.App, orig.App)
			}
			w, o := back.Workers, orig.Workers
			if w.Count != o.Count || w.Server != o.Server || w.Socket != o.Socket || w.StopSignal != o.StopSignal ||
				w.GracefulTimeout != o.GracefulTimeout || w.CrashLoop.MaxCrashes != o.CrashLoop.MaxCrashes {
				t.Errorf("workers %+v, want %+v", w, o)
			}
			if want := map[string]string{"GREETING": "hello world", "TZ": "UTC"}; !reflect.DeepEqual(w.Env, want) {
				t.Errorf("env %v, want %v", w.Env, want)
			}
			if back.Supervisor.Endpoint != orig.Supervisor.Endpoint || back.Supervisor.Watcher != "web" {
				t.Errorf("supervisor %+v", back.Supervisor)
			}
		})
	}
}

func TestRenderWorkersCmd(t *testing.T) {
	cfg, err := config.Parse([]byte("workers:\n  count: 2\n  cmd: [\"/opt/app/bin/serve\", \"--fd={fd}\", \"--name\", \"worker {id}\"]\ncontrol:\n  socket: /tmp/wg/c.sock\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	ini, err := RenderINI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cmd = /opt/app/bin/serve --fd=$(circus.sockets.web) --name 'worker $(circus.wid)'\n"; !strings.Contains(string(ini), want) {
		t.Errorf("circus.ini lacks %q:\n%s", want, ini)
	}
	out, err := ImportINI(ini, "circus.ini", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back := loadYAML(t, out); !reflect.DeepEqual(back.Workers.Cmd, cfg.Workers.Cmd) {
		t.Errorf("cmd came back as %q, want %q", back.Workers.Cmd, cfg.Workers.Cmd)
	}
}
