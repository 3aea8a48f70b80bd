package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/internal/loadgen"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUpServesFourWorkersOnTheStdlibRunner(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 4, server: wsgiref}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 4)
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		code, body := getBody(t, "http://"+listen+"/")
		if code != 200 || !strings.HasPrefix(body, "hello from ") {
			t.Fatalf("GET / = %d %q", code, body)
		}
		seen[body] = true
	}
	if len(seen) < 2 {
		t.Fatalf("40 requests all went to one worker: %v", seen)
	}
	st := s.statusJSON()
	if len(st.Workers) != 4 {
		t.Fatalf("status shows %d workers", len(st.Workers))
	}
	for _, w := range st.Workers {
		if w.State != supervisor.StateRunning || w.PID == 0 || !w.Healthy || w.Socket == "" {
			t.Fatalf("worker %+v not running and healthy", w)
		}
	}
	if st.Daemon.Server != "wsgiref" {
		t.Fatalf("runner chose %q, want wsgiref", st.Daemon.Server)
	}
	// The human form names every worker.
	out := s.mustCtl("status")
	for _, w := range st.Workers {
		if !strings.Contains(out, w.Socket) {
			t.Fatalf("ctl status lacks worker %d:\n%s", w.ID, out)
		}
	}
}

func TestUpRunsDebiansChaussetteViaWorkersCmd(t *testing.T) {
	chaussette := testenv.Tool(t, "chaussette", "apt-get install chaussette")
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf(`app: {module: app:application}
workers:
  count: 4
  stop_signal: TERM
  cmd: [%s, --fd, "{fd}", --backend, wsgiref, --python-path, %s, app.application]
`, chaussette, "."))
	s := startUp(t, dir, cfg, listen, admin, 4)
	for i := 0; i < 20; i++ {
		if code, body := getBody(t, "http://"+listen+"/"); code != 200 || !strings.HasPrefix(body, "hello from ") {
			t.Fatalf("GET / through chaussette = %d %q", code, body)
		}
	}
	st := s.statusJSON()
	running := 0
	for _, w := range st.Workers {
		if w.State == supervisor.StateRunning {
			running++
		}
	}
	if running != 4 || st.Daemon.Server != "cmd" {
		t.Fatalf("%d running workers, server %q", running, st.Daemon.Server)
	}
	// chaussette itself logs each request on stderr: the log ring has it.
	logs := s.mustCtl("logs", "0", "-n", "50")
	if !strings.Contains(logs, "chaussette") && !strings.Contains(logs, "GET / HTTP/1.1") {
		t.Fatalf("worker 0's logs do not show chaussette:\n%s", logs)
	}
}

// steadyLoad runs GETs and POSTs through the proxy until stopped.
func steadyLoad(listen string) *loadgen.Generator {
	g := loadgen.New(loadgen.Options{
		BaseURL:     "http://" + listen,
		Concurrency: 8,
		Timeout:     30 * time.Second,
		Targets:     loadgen.GetsAndPosts(),
	})
	g.Start()
	return g
}

func TestRestartsAndScalingUnderLoadFailNoRequest(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 4, graceful_timeout: 10s, health: {interval: 200ms}}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 4)
	load := steadyLoad(listen)
	defer load.Stop()
	time.Sleep(300 * time.Millisecond)

	before := pids(s.status().Workers)
	s.mustCtl("restart", "--rolling")
	after := pids(s.status().Workers)
	for id, pid := range before {
		if after[id] == pid || after[id] == 0 {
			t.Fatalf("worker %d kept pid %d through a rolling restart (after: %v)", id, pid, after)
		}
	}
	s.mustCtl("restart", "2")
	if p := pids(s.status().Workers)[2]; p == after[2] {
		t.Fatalf("restart 2 kept pid %d", p)
	}
	s.mustCtl("scale", "6")
	s.waitWorkers("6 running", func(ws []supervisor.Worker) bool { return len(ws) == 6 })
	time.Sleep(300 * time.Millisecond)
	s.mustCtl("scale", "2")
	if n := len(s.status().Workers); n != 2 {
		t.Fatalf("%d workers after scale 2", n)
	}
	time.Sleep(300 * time.Millisecond)
	res := load.Stop()
	if res.Failed() != 0 || res.Sent < 100 {
		t.Fatalf("requests failed during restarts and scaling: %s", res)
	}
	t.Logf("load during restarts: %s", res)
}

func TestKilledWorkerUnderLoadFailsNoGET(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 4, health: {interval: 200ms}}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 4)
	load := loadgen.New(loadgen.Options{BaseURL: "http://" + listen, Concurrency: 8})
	load.Start()
	defer load.Stop()
	time.Sleep(300 * time.Millisecond)
	victim := s.status().Workers[1]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitWorkers("worker 1 back and healthy", func(ws []supervisor.Worker) bool {
		w := ws[1]
		return w.PID != victim.PID && w.PID != 0 && w.State == supervisor.StateRunning && w.Healthy
	})
	time.Sleep(300 * time.Millisecond)
	res := load.Stop()
	if res.Failed() != 0 {
		t.Fatalf("GETs failed after kill -9 of a worker: %s", res)
	}
	st := s.status()
	if st.Workers[1].LastExit != "signal 9 (killed)" || st.Workers[1].Restarts != 1 {
		t.Fatalf("worker 1 after kill: %+v", st.Workers[1])
	}
}

func TestWorkerThatCannotImportIsMarkedFailedAndTheDaemonStaysUp(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 2, crash_loop: {max_crashes: 3, window: 1m}}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 2)
	// The app breaks after start (a bad deploy); worker 0 is restarted onto it.
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("import no_such_module_abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	victim := s.status().Workers[0]
	syscall.Kill(victim.PID, syscall.SIGKILL)
	ws := s.waitWorkers("worker 0 failed", func(ws []supervisor.Worker) bool { return ws[0].State == supervisor.StateFailed })
	if !strings.Contains(strings.Join(ws[0].LastStderr, "\n"), "no_such_module_abc") {
		t.Fatalf("failed worker's stderr not in status: %+v", ws[0])
	}
	// The other worker still serves, and the daemon answers.
	if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
		t.Fatalf("GET / = %d with one worker failed", code)
	}
	out := s.mustCtl("status")
	if !strings.Contains(out, "failed") || !strings.Contains(out, "no_such_module_abc") {
		t.Fatalf("ctl status does not show the failure:\n%s", out)
	}
}

func TestSIGTERMStopsEveryWorkerAndRemovesSockets(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 3}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 3)
	ws := s.status().Workers
	s.stop()
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("whisgee up exited %d after SIGTERM; output:\n%s", code, s.out.String())
	}
	for _, w := range ws {
		if syscall.Kill(w.PID, 0) == nil {
			t.Fatalf("worker pid %d outlived whisgee up", w.PID)
		}
		if _, err := os.Stat(w.Socket); !os.IsNotExist(err) {
			t.Fatalf("worker socket %s left behind", w.Socket)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	if len(left) > 0 {
		t.Fatalf("sockets left behind: %v", left)
	}
}

func TestSecondUpRefusesAndAStaleSocketIsTakenOver(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 1)
	out, err := exec.Command(whisgeeBin, "up", "-c", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another whisgee daemon is running on") {
		t.Fatalf("second up: err %v, output %q", err, out)
	}
	if strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("the refusal is not one line: %q", out)
	}
	// The first is unharmed.
	if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
		t.Fatal("first stack stopped serving")
	}
	// A crash leaves the socket file behind; the next up takes it over.
	pid := s.status().Workers[0].PID
	s.cmd.Process.Kill()
	<-s.exited
	waitGone(t, pid)
	if _, err := os.Stat(filepath.Join(dir, "ctl.sock")); err != nil {
		t.Fatalf("expected a stale control socket after kill -9: %v", err)
	}
	startUp(t, dir, cfg, listen, admin, 1)
}

// waitGone waits for a process to disappear (its parent died: Pdeathsig).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("worker pid %d outlived its killed daemon", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBadInputGivesOneLineAndNonZeroExit(t *testing.T) {
	py := python(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name, app, yaml, want string
	}{
		{"malformed yaml", helloApp, "app: {module: app:application\n", "malformed YAML"},
		{"unknown key", helloApp, "app: {module: app:application}\nworkers: {cuont: 2}\n", `unknown key "cuont"; did you mean "count"?`},
		{"module does not import", "import nope_nope\n", fmt.Sprintf("app: {module: app:application, python: %s}\n", py), "No module named 'nope_nope'"},
		{"missing attribute", helloApp, fmt.Sprintf("app: {module: app:nothing, python: %s}\n", py), "has no attribute 'nothing'"},
		{"missing interpreter", helloApp, "app: {module: app:application, python: python-not-here-9}\n", `app.python: "python-not-here-9" not found`},
		{"port in use", helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nproxy: {listen: %s}\n", py, busy.Addr()), "address already in use"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortDir(t)
			os.WriteFile(filepath.Join(dir, "app.py"), []byte(tc.app), 0o644)
			yaml := tc.yaml
			if !strings.Contains(yaml, "proxy:") {
				yaml += fmt.Sprintf("proxy: {listen: %s, admin: %s}\n", freePort(t), freePort(t))
			} else {
				yaml = strings.Replace(yaml, "proxy: {", fmt.Sprintf("proxy: {admin: %s, ", freePort(t)), 1)
			}
			yaml += "control: {socket: ctl.sock}\n"
			cfg := filepath.Join(dir, "whisgee.yaml")
			os.WriteFile(cfg, []byte(yaml), 0o644)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, whisgeeBin, "up", "-c", cfg).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("whisgee up: err %v (want a non-zero exit); output:\n%s", err, out)
			}
			text := strings.TrimSpace(string(out))
			if strings.Contains(text, "\n") || !strings.Contains(text, tc.want) {
				t.Fatalf("want one line containing %q, got:\n%s", tc.want, text)
			}
			if _, err := os.Stat(filepath.Join(dir, "ctl.sock")); !os.IsNotExist(err) {
				t.Fatalf("a failed start left its control socket behind")
			}
		})
	}
	// A wrong flag is a usage error (exit 2), also one line.
	out, err := exec.Command(whisgeeBin, "up", "--nope").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "flag provided but not defined: -nope") {
		t.Fatalf("wrong flag: %v %q", err, out)
	}
}

func TestCtlWithoutADaemonSaysHowToStartOne(t *testing.T) {
	out, err := exec.Command(whisgeeBin, "ctl", "--socket", filepath.Join(shortDir(t), "none.sock"), "status").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no whisgee daemon on") || !strings.Contains(string(out), "whisgee up -c FILE") {
		t.Fatalf("ctl without a daemon: %v %q", err, out)
	}
}

func TestAdminSpeaksEnvoysJSONWithExactCounters(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 2}\n", py))
	startUp(t, dir, cfg, listen, admin, 2)
	const n = 57
	for i := 0; i < n; i++ {
		if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
			t.Fatalf("GET %d failed: %d", i, code)
		}
	}
	code, body := getBody(t, "http://"+admin+"/stats?format=json")
	if code != 200 {
		t.Fatalf("/stats?format=json = %d", code)
	}
	var doc struct {
		Stats []json.RawMessage `json:"stats"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("admin stats are not JSON: %v", err)
	}
	values := map[string]uint64{}
	var histograms bool
	for _, raw := range doc.Stats {
		var c struct {
			Name  string  `json:"name"`
			Value *uint64 `json:"value"`
		}
		var h struct {
			Histograms *struct {
				SupportedQuantiles []float64 `json:"supported_quantiles"`
				ComputedQuantiles  []struct {
					Name string `json:"name"`
				} `json:"computed_quantiles"`
			} `json:"histograms"`
		}
		if json.Unmarshal(raw, &c) == nil && c.Value != nil {
			values[c.Name] = *c.Value
		} else if json.Unmarshal(raw, &h) == nil && h.Histograms != nil {
			histograms = len(h.Histograms.SupportedQuantiles) > 0 && len(h.Histograms.ComputedQuantiles) > 0
		}
	}
	if !histograms {
		t.Fatalf("no histograms in Envoy's shape:\n%s", body)
	}
	// Health checks do not go through the listener: the counters are exactly
	// the requests sent.
	if got := values["http.ingress_http.downstream_rq_2xx"]; got != n {
		t.Fatalf("downstream_rq_2xx = %d, want %d", got, n)
	}
	if got := values["cluster.wsgi.upstream_rq_2xx"]; got != n {
		t.Fatalf("upstream_rq_2xx = %d, want %d", got, n)
	}
	// The same counters through the control API.
	st, err := clusterOKCount(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st != n {
		t.Fatalf("status proxy requests = %d, want %d", st, n)
	}
}

// clusterOKCount reads the cluster's 2xx count through `ctl status --json`.
func clusterOKCount(dir string) (uint64, error) {
	out, err := exec.Command(whisgeeBin, "ctl", "-c", filepath.Join(dir, "whisgee.yaml"), "status", "--json").Output()
	if err != nil {
		return 0, err
	}
	var st struct {
		Proxy struct {
			Cluster struct {
				Classes [5]uint64 `json:"classes"`
			} `json:"cluster"`
		} `json:"proxy"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, err
	}
	return st.Proxy.Cluster.Classes[1], nil
}
