package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/whisgee/whisgee/supervisor"
)

const greetingApp = `import os
def application(environ, start_response):
    body = ("greeting=%s\n" % os.environ.get("GREETING")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// editConfig replaces old with new in the stack's whisgee.yaml.
func (s *upStack) editConfig(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil || !strings.Contains(string(b), old) {
		s.t.Fatalf("config %s has no %q (%v)", s.config, old, err)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *upStack) greeting() string {
	s.t.Helper()
	resp, err := http.Get("http://" + s.listen + "/")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func TestCtlReloadRestartsWorkersWithNewSettingsAndRefusesASocketChange(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, greetingApp, fmt.Sprintf("app: {module: app:application, python: %s, env: {GREETING: one}}\nworkers: {count: 2, health: {interval: 200ms}}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 2)
	before := pids(s.status().Workers)

	s.editConfig("GREETING: one", "GREETING: two")
	out := s.mustCtl("reload")
	if !strings.Contains(out, "workers restarted one by one with the new app.env") {
		t.Fatalf("ctl reload said %q", out)
	}
	t.Logf("reloaded: %s", out)
	after := pids(s.status().Workers)
	for id, pid := range before {
		if after[id] == pid {
			t.Fatalf("worker %d kept pid %d through the reload", id, pid)
		}
	}
	if g := s.greeting(); g != "greeting=two" {
		t.Fatalf("after the reload the app answers %q", g)
	}

	// SIGHUP does the same.
	s.editConfig("GREETING: two", "GREETING: three")
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitWorkers("new pids after SIGHUP", func(ws []supervisor.Worker) bool {
		for _, w := range ws {
			if w.PID == after[w.ID] || w.State != supervisor.StateRunning {
				return false
			}
		}
		return true
	})
	if g := s.greeting(); g != "greeting=three" {
		t.Fatalf("after SIGHUP the app answers %q", g)
	}

	// A socket layout change is refused in one line, and nothing changes.
	now := pids(s.status().Workers)
	s.editConfig("count: 2", "count: 2, socket: tcp")
	out, err := s.ctl("reload")
	if err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "workers.socket changed; that needs a restart of whisgee up") {
		t.Fatalf("reload with a new workers.socket: %v %q", err, out)
	}
	t.Logf("refused: %s", out)
	for id, pid := range pids(s.status().Workers) {
		if now[id] != pid {
			t.Fatalf("a refused reload restarted worker %d", id)
		}
	}
}
