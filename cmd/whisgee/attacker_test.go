package main

// The local-attacker suite (issue 9): every other user of the machine is
// an attacker. These tests run as root, start a real `whisgee up`, and try
// as a second user, nobody, what another local user could: change the run
// directory, use the control socket, plant the directories before `up`
// makes them, and change anything through the admin endpoint. Without root
// they skip (and fail under WHISGEE_REQUIRE_INTEGRATION=1). The circus
// endpoint has its own tests in supervisor/circus.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/internal/testenv"
)

// attacker is nobody, able to run the whisgee binary under test.
func attacker(t *testing.T) *testenv.User {
	t.Helper()
	u := testenv.Nobody(t)
	u.Reach(whisgeeBin)
	return u
}

// sharedDir is a directory like /tmp (sticky, everyone may write), so
// what keeps the attacker out is the mode of whisgee's own files.
func sharedDir(t *testing.T, u *testenv.User) string {
	t.Helper()
	d := shortDir(t)
	if err := os.Chmod(d, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	u.Reach(filepath.Join(d, "x"))
	return d
}

// writeSharedStack writes app.py and whisgee.yaml (root's, 0644) into a
// shared dir; extra is appended to the config.
func writeSharedStack(t *testing.T, u *testenv.User, extra string) (dir, cfgPath, listen, admin string) {
	t.Helper()
	dir = sharedDir(t, u)
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(helloApp), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, admin = freePort(t), freePort(t)
	yaml := fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\nproxy: {listen: %s, admin: %s}\n%s", python(t), listen, admin, extra)
	cfgPath = filepath.Join(dir, "whisgee.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath, listen, admin
}

func TestAnotherUserCannotChangeTheRunDirectoryOfARunningStack(t *testing.T) {
	u := attacker(t)
	dir, cfg, listen, _ := writeSharedStack(t, u, "control: {socket: run/ctl.sock}\n")
	run := filepath.Join(dir, "run")
	s := launchUp(t, exec.Command(whisgeeBin, "up", "-c", cfg), filepath.Join(run, "ctl.sock"))
	s.config = cfg
	s.waitRunning(1)
	worker := s.status().Workers[0].Socket

	evil := filepath.Join(u.Home, "evil.py")
	if err := os.WriteFile(evil, []byte("import os; os.system('id > /tmp/pwned')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(run, "whisgee_runner.py")
	for _, argv := range [][]string{
		{"cp", evil, runner},
		{"ln", "-sf", evil, runner},
		{"mv", runner, runner + ".old"},
		{"touch", filepath.Join(run, "planted")},
		{"mkdir", filepath.Join(run, "sub")},
		{"rm", "-f", worker},
		{"rm", "-f", filepath.Join(run, "whisgee.lock")},
		{"ls", run},
		{"mv", run, run + ".old"},
		{"rm", "-rf", run},
	} {
		if out, code := u.Run(argv[0], argv[1:]...); code == 0 {
			t.Errorf("as nobody, `%s` succeeded: %s", strings.Join(argv, " "), out)
		}
	}
	if fi, err := os.Lstat(run); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("run dir %v %v, want 0700", fi, err)
	}
	if b, err := os.ReadFile(runner); err != nil || string(b) != string(assets.Runner()) {
		t.Fatalf("the runner changed: %v", err)
	}
	// A restart runs the runner whisgee wrote, and serves.
	s.mustCtl("restart", "0")
	if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
		t.Fatalf("the stack answers %d", code)
	}
}

func TestAnotherUserCannotUseTheControlOrWorkerSockets(t *testing.T) {
	u := attacker(t)
	dir, cfg, _, _ := writeSharedStack(t, u, "control: {socket: run/ctl.sock}\n")
	sock := filepath.Join(dir, "run", "ctl.sock")
	s := launchUp(t, exec.Command(whisgeeBin, "up", "-c", cfg), sock)
	s.waitRunning(1)
	worker := s.status().Workers[0]
	for _, p := range []string{sock, worker.Socket} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", p, fi, err)
		}
	}
	for _, args := range [][]string{{"status"}, {"restart", "0"}, {"stop", "0"}, {"scale", "3"}} {
		out, code := u.Run(whisgeeBin, append([]string{"ctl", "--socket", sock}, args...)...)
		if code == 0 || !strings.Contains(out, "permission denied") {
			t.Errorf("as nobody, ctl %s: exit %d, %q; want permission denied", strings.Join(args, " "), code, out)
		}
	}
	connect := "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100))"
	if out, code := u.Run("/usr/bin/python3", "-c", connect, worker.Socket); code == 0 {
		t.Errorf("as nobody, a worker's socket answered: %s", out)
	}
	if st := s.status(); st.Workers[0].PID != worker.PID || len(st.Workers) != 1 {
		t.Fatalf("the stack changed: %+v", st.Workers)
	}
}

func TestUpRefusesDirectoriesAnotherUserMadeFirst(t *testing.T) {
	u := attacker(t)
	for _, c := range []struct {
		name, config, plant string
		argv                []string // run as nobody in the shared dir
		want                string
	}{
		{"a run dir of mode 0777", "control: {socket: run/ctl.sock}\n", "run", []string{"mkdir", "-m", "0777", "run"}, "is owned by uid 65534"},
		{"a private-looking run dir", "control: {socket: run/ctl.sock}\n", "run", []string{"mkdir", "-m", "0700", "run"}, "is owned by uid 65534"},
		{"a symlink to the attacker's dir", "control: {socket: run/ctl.sock}\n", "run", []string{"ln", "-s", "HOME", "run"}, "is a symbolic link"},
		{"a control socket dir", "control: {socket: ctl/ctl.sock}\nrun_dir: run\n", "ctl", []string{"mkdir", "-m", "0777", "ctl"}, "is owned by uid 65534"},
		{"a run dir apart from the socket's", "control: {socket: ctl/ctl.sock}\nrun_dir: run\n", "run", []string{"mkdir", "-m", "0777", "run"}, "is owned by uid 65534"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, cfg, _, _ := writeSharedStack(t, u, c.config)
			argv := append([]string(nil), c.argv...)
			for i := range argv {
				argv[i] = strings.ReplaceAll(argv[i], "HOME", u.Home)
				if i > 0 && argv[i] == c.plant {
					argv[i] = filepath.Join(dir, c.plant)
				}
			}
			if out, code := u.Run(argv[0], argv[1:]...); code != 0 {
				t.Fatalf("nobody could not plant %s: %s", c.plant, out)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, whisgeeBin, "up", "-c", cfg).CombinedOutput()
			planted := filepath.Join(dir, c.plant)
			line := strings.TrimSpace(string(out))
			if err == nil || !strings.Contains(line, planted+" "+c.want) || strings.Contains(line, "\n") {
				t.Fatalf("up: %v, output %q; want one line saying %s %s", err, out, planted, c.want)
			}
			// Nothing was written into it.
			target, _ := filepath.EvalSymlinks(planted)
			if names, _ := os.ReadDir(target); len(names) != 0 {
				t.Fatalf("up wrote into the planted %s: %v", planted, names)
			}
		})
	}
}

func TestTheAdminEndpointIsReadOnly(t *testing.T) {
	u := attacker(t)
	_, cfg, listen, admin := writeSharedStack(t, u, "control: {socket: run/ctl.sock}\n")
	s := launchUp(t, exec.Command(whisgeeBin, "up", "-c", cfg), filepath.Join(filepath.Dir(cfg), "run", "ctl.sock"))
	s.waitRunning(1)
	const sent = 7
	for i := 0; i < sent; i++ {
		getBody(t, "http://"+listen+"/")
	}
	// Envoy's admin paths, mutating ones included, and whisgee's own.
	paths := []string{"/", "/stats", "/stats?format=json", "/stats/prometheus", "/clusters", "/ready", "/server_info",
		"/quitquitquit", "/healthcheck/fail", "/healthcheck/ok", "/drain_listeners", "/logging?level=trace",
		"/runtime_modify?x=1", "/reset_counters", "/cpuprofiler?enable=y", "/heapprofiler?enable=y", "/config_dump",
		"/listeners", "/memory", "/certs", "/runtime", "/hot_restart_version", "/init_dump", "/tap"}
	// TCP does not know users: what nobody sends is what anyone sends.
	// Only GET (and HEAD) may succeed, and nothing may change.
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
		for _, p := range paths {
			req, _ := http.NewRequest(method, "http://"+admin+p, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, p, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 && method != "GET" && method != "HEAD" {
				t.Errorf("%s %s = %d: the admin endpoint accepted a method that can change things", method, p, resp.StatusCode)
			}
		}
	}
	post := "import sys, urllib.request as u\ntry:\n    u.urlopen(u.Request(sys.argv[1], data=b'', method='POST')); print('accepted')\nexcept Exception as e:\n    print(e)"
	if out, _ := u.Run("/usr/bin/python3", "-c", post, "http://"+admin+"/quitquitquit"); strings.Contains(out, "accepted") {
		t.Errorf("as nobody, POST /quitquitquit was accepted")
	}
	// Still live, still serving, counters intact.
	if code, body := getBody(t, "http://"+admin+"/ready"); code != 200 || !strings.Contains(body, "LIVE") {
		t.Fatalf("/ready = %d %q after the attempts", code, body)
	}
	if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
		t.Fatalf("the stack answers %d after the attempts", code)
	}
	if _, body := getBody(t, "http://"+admin+"/stats"); !strings.Contains(body, fmt.Sprintf("cluster.wsgi.upstream_rq_2xx: %d", sent+1)) {
		t.Fatalf("the counters changed: want upstream_rq_2xx %d in\n%s", sent+1, body)
	}
	if st := s.status(); len(st.Workers) != 1 || st.Workers[0].State != "running" {
		t.Fatalf("the workers changed: %+v", st.Workers)
	}
}

func TestANonRootUpWithoutARuntimeDirKeepsItsSocketInItsHome(t *testing.T) {
	u := attacker(t)
	shared := filepath.Join(os.TempDir(), fmt.Sprintf("whisgee-%d", u.UID))
	if _, err := os.Lstat(shared); err == nil {
		t.Fatalf("%s exists already: remove it (an old whisgee made it) and run the test again", shared)
	}
	t.Cleanup(func() { os.RemoveAll(shared) }) // made by this test alone, if made at all
	if err := os.WriteFile(filepath.Join(u.Home, "app.py"), []byte(helloApp), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(u.Home, "whisgee.yaml")
	yaml := fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\nproxy: {listen: %s, admin: off}\n", python(t), freePort(t))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(u.Home, ".whisgee", "control.sock")
	s := launchUp(t, u.Command(whisgeeBin, "up", "-c", cfg), sock) // no XDG_RUNTIME_DIR in its environment
	s.waitRunning(1)
	fi, err := os.Lstat(filepath.Dir(sock))
	if err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != uint32(u.UID) {
		t.Fatalf("%s: %v %v; want a 0700 directory of nobody's", filepath.Dir(sock), fi, err)
	}
	if _, err := os.Lstat(shared); err == nil {
		t.Fatalf("up made the predictable %s in the shared temp dir", shared)
	}
	// ctl finds it the same way.
	if out, code := u.Run(whisgeeBin, "ctl", "status"); code != 0 || !strings.Contains(out, "worker") {
		t.Fatalf("as nobody, ctl status with the default socket: exit %d\n%s", code, out)
	}
}
