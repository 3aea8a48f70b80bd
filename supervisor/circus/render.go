package circus

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/whisgee/whisgee/config"
)

// RenderOption adjusts RenderINI.
type RenderOption func(*renderSettings)

type renderSettings struct {
	runner      string
	perWorker   bool
	warmupDelay time.Duration
	tcpBase     int
}

// WithRunner names the path of whisgee_runner.py on the host that runs
// circusd. If not given, RUN_DIR/whisgee_runner.py.
func WithRunner(path string) RenderOption { return func(s *renderSettings) { s.runner = path } }

// WithPerWorkerSockets gives each worker a socket and a watcher of its own
// (WATCHER-0, WATCHER-1, ...), so a proxy can drain and restart one worker
// at a time; circus then cannot scale at run time. Without it, one socket
// is shared by all the processes of one watcher.
func WithPerWorkerSockets() RenderOption { return func(s *renderSettings) { s.perWorker = true } }

// WithWarmupDelay sets circus's warmup_delay, the pause between spawning
// two processes. If not given, 0.
func WithWarmupDelay(d time.Duration) RenderOption {
	return func(s *renderSettings) { s.warmupDelay = d }
}

// WithTCPBasePort is the first port of TCP sockets (workers.socket: tcp).
// If not given, 8001.
func WithTCPBasePort(port int) RenderOption { return func(s *renderSettings) { s.tcpBase = port } }

// RenderINI writes a circus.ini that runs cfg's workers under circusd:
// circus owns the sockets and each process serves on the inherited fd
// through whisgee's runner (bjoern when installed), stops on
// workers.stop_signal (INT: bjoern finishes requests in flight) within
// graceful_timeout, and circus gives up respawning after
// crash_loop.max_crashes failed spawns (max_retry).
func RenderINI(cfg *config.Config, opts ...RenderOption) ([]byte, error) {
	s := renderSettings{tcpBase: 8001}
	for _, o := range opts {
		o(&s)
	}
	if s.runner == "" {
		s.runner = filepath.Join(cfg.RunDir, "whisgee_runner.py")
	}
	sig, err := config.ParseSignal(cfg.Workers.StopSignal)
	if err != nil {
		return nil, fmt.Errorf("circus render: workers.stop_signal: %v", err)
	}
	if s.tcpBase < 1 || s.tcpBase+cfg.Workers.Count > 65536 {
		return nil, fmt.Errorf("circus render: TCP base port %d leaves no room for %d workers", s.tcpBase, cfg.Workers.Count)
	}
	endpoint := cfg.Supervisor.Endpoint
	if endpoint == "" {
		endpoint = "tcp://127.0.0.1:5555"
	}
	pubsub := cfg.Supervisor.PubSub
	if pubsub == "" {
		if pubsub, err = DerivePubSub(endpoint); err != nil {
			return nil, err
		}
	}
	watcher := strings.ToLower(cfg.Supervisor.Watcher)
	if watcher == "" {
		watcher = "web"
	}
	if !regexp.MustCompile(`^[\w.-]+$`).MatchString(watcher) {
		return nil, fmt.Errorf("circus render: supervisor.watcher %q: circus names may hold letters, digits, '_', '.' and '-' only", watcher)
	}

	var b strings.Builder
	src := cfg.Path
	if src == "" {
		src = "whisgee.yaml"
	}
	fmt.Fprintf(&b, "# circus.ini for the whisgee stack of %s, written by `whisgee circus render`.\n", src)
	b.WriteString("# circusd owns the sockets; each process serves on the fd it inherits.\n")
	b.WriteString("# Point whisgee at it with supervisor: {engine: circus, endpoint: " + endpoint + "}.\n\n")
	b.WriteString("[circus]\n")
	fmt.Fprintf(&b, "endpoint = %s\npubsub_endpoint = %s\n", endpoint, pubsub)
	b.WriteString("statsd = False\n")

	type unit struct {
		watcher, socket string
		port, n         int
	}
	var units []unit
	if s.perWorker {
		for i := 0; i < cfg.Workers.Count; i++ {
			name := fmt.Sprintf("%s-%d", watcher, i)
			units = append(units, unit{name, name, s.tcpBase + i, 1})
		}
	} else {
		units = []unit{{watcher, watcher, s.tcpBase, cfg.Workers.Count}}
	}
	env := mergedEnv(cfg)
	for _, u := range units {
		fmt.Fprintf(&b, "\n[watcher:%s]\n", u.watcher)
		cmd := watcherCommandWith(cfg, u.socket, socketAddress(cfg, u.socket, u.port), s.runner)
		fmt.Fprintf(&b, "cmd = %s\n", cmd)
		fmt.Fprintf(&b, "working_dir = %s\n", cfg.App.Dir)
		b.WriteString("use_sockets = True\n")
		b.WriteString("copy_env = True\n")
		fmt.Fprintf(&b, "numprocesses = %d\n", u.n)
		fmt.Fprintf(&b, "stop_signal = %s\n", strings.TrimPrefix(signalName(int(sig)), "SIG"))
		fmt.Fprintf(&b, "graceful_timeout = %s\n", seconds(cfg.Workers.GracefulTimeout))
		fmt.Fprintf(&b, "warmup_delay = %d\n", int(s.warmupDelay.Round(time.Second)/time.Second))
		fmt.Fprintf(&b, "max_retry = %d\n", cfg.Workers.CrashLoop.MaxCrashes)

		fmt.Fprintf(&b, "\n[socket:%s]\n", u.socket)
		if cfg.Workers.Socket == "tcp" {
			fmt.Fprintf(&b, "host = 127.0.0.1\nport = %d\n", u.port)
		} else {
			fmt.Fprintf(&b, "path = %s\n", socketAddress(cfg, u.socket, u.port))
			// circus reads umask with int(), in decimal: 63 is octal 077.
			b.WriteString("# only the owner (circusd's user, and whisgee's proxy) may connect:\n# umask 63 is octal 077 (circus reads it as a decimal number)\numask = 63\nreplace = True\n")
		}
		if len(env) > 0 {
			fmt.Fprintf(&b, "\n[env:%s]\n", u.watcher)
			keys := make([]string, 0, len(env))
			for k := range env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if strings.ContainsAny(env[k], "\n") {
					return nil, fmt.Errorf("circus render: env %s holds a newline, which circus.ini cannot express", k)
				}
				fmt.Fprintf(&b, "%s = %s\n", k, env[k])
			}
		}
	}
	return []byte(b.String()), nil
}

// socketAddress is where a rendered circus socket listens.
func socketAddress(cfg *config.Config, socket string, port int) string {
	if cfg.Workers.Socket == "tcp" {
		return "127.0.0.1:" + strconv.Itoa(port)
	}
	return filepath.Join(cfg.RunDir, socket+".sock")
}

// watcherCommand is the command line of cfg's workers under circus, with
// the runner at its default place.
func watcherCommand(cfg *config.Config, socket, address string) string {
	return watcherCommandWith(cfg, socket, address, filepath.Join(cfg.RunDir, "whisgee_runner.py"))
}

// watcherCommandWith builds the command line circus runs: workers.cmd with
// {fd}, {socket} and {id} replaced by circus's $(circus.sockets.NAME), the
// socket address and $(circus.wid); else the Python runner.
func watcherCommandWith(cfg *config.Config, socket, address, runner string) string {
	fdRef := "$(circus.sockets." + socket + ")"
	var argv []string
	if len(cfg.Workers.Cmd) > 0 {
		r := strings.NewReplacer("{fd}", fdRef, "{socket}", address, "{id}", "$(circus.wid)")
		for _, w := range cfg.Workers.Cmd {
			argv = append(argv, r.Replace(w))
		}
	} else {
		argv = []string{cfg.App.Python, runner, "--fd", fdRef, "--app", cfg.App.Module,
			"--dir", cfg.App.Dir, "--server", cfg.Workers.Server,
			"--stop-signal", cfg.Workers.StopSignal,
			"--graceful-timeout", seconds(cfg.Workers.GracefulTimeout)}
	}
	words := make([]string, len(argv))
	for i, w := range argv {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// shellQuote quotes a word for circus's shlex.split; $(circus.*) references
// are replaced before splitting, so they need no quoting.
func shellQuote(w string) string {
	if w != "" && regexp.MustCompile(`^[\w@%+=:,./$(){}-]+$`).MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
}

// seconds writes a duration as circus's float seconds ("30", "2.5").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// mergedEnv is app.env overlaid with workers.env.
func mergedEnv(cfg *config.Config) map[string]string {
	env := map[string]string{}
	for k, v := range cfg.App.Env {
		env[k] = v
	}
	for k, v := range cfg.Workers.Env {
		env[k] = v
	}
	return env
}

// signalNames are the signals circus.ini settings are written with.
var signalNames = map[int]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 9: "SIGKILL", 10: "SIGUSR1", 12: "SIGUSR2", 15: "SIGTERM", 28: "SIGWINCH"}

func signalName(n int) string {
	if s, ok := signalNames[n]; ok {
		return s
	}
	return strconv.Itoa(n)
}
