package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/supervisor"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st.Ino
}

func TestASecondStackSharingTheRunDirRefusesAndTheFirstKeepsServing(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\n", py))
	first := startUp(t, dir, cfg, listen, admin, 1)
	sock := first.status().Workers[0].Socket
	runner := filepath.Join(dir, "whisgee_runner.py")
	sockIno, runnerIno := inode(t, sock), inode(t, runner)

	// A second stack whose control socket sits in the same directory: by
	// default it shares run_dir, and so its worker-0.sock and runner.
	second := filepath.Join(dir, "second.yaml")
	yaml := fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: second.sock}\n", py, freePort(t), freePort(t))
	if err := os.WriteFile(second, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Bounded: an up that wrongly starts would serve until killed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, whisgeeBin, "up", "-c", second).CombinedOutput()
	want := fmt.Sprintf("run_dir %s is in use by the stack with control socket %s", dir, filepath.Join(dir, "ctl.sock"))
	if err == nil || !strings.Contains(string(out), want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("second up: %v, output %q; want one line saying %q", err, out, want)
	}
	// It touched nothing of the first.
	if _, err := os.Lstat(filepath.Join(dir, "second.sock")); !os.IsNotExist(err) {
		t.Fatalf("the refused stack left a control socket: %v", err)
	}
	if inode(t, sock) != sockIno || inode(t, runner) != runnerIno {
		t.Fatal("the refused stack replaced the first stack's worker socket or runner")
	}
	if b, err := os.ReadFile(runner); err != nil || string(b) != string(assets.Runner()) {
		t.Fatalf("the first stack's runner is gone: %v", err)
	}
	for i := 0; i < 5; i++ {
		if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
			t.Fatalf("the first stack answers %d", code)
		}
	}
	first.mustCtl("restart", "0")

	// Once the first stops, the directory is free.
	first.stop()
	s := launchUp(t, exec.Command(whisgeeBin, "up", "-c", second), filepath.Join(dir, "second.sock"))
	s.waitRunning(1)
}

func TestAWorkerWhoseSocketFileWasRemovedServesAgainAfterCtlRestart(t *testing.T) {
	py := python(t)
	dir, cfg, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\n", py))
	s := startUp(t, dir, cfg, listen, admin, 1)
	w := s.status().Workers[0]
	if err := os.Remove(w.Socket); err != nil {
		t.Fatal(err)
	}
	if out, err := s.ctl("restart", "0"); err != nil {
		t.Fatalf("restart after the socket file was removed: %v\n%s\noutput of up:\n%s", err, out, s.out.String())
	}
	s.waitRunning(1)
	if code, body := getBody(t, "http://"+listen+"/"); code != 200 || !strings.HasPrefix(body, "hello from") {
		t.Fatalf("after the restart: %d %q", code, body)
	}
}

func TestRespawnsWorkAfterTheWhisgeeBinaryIsGone(t *testing.T) {
	py := python(t)
	dir, cfg, listen, _ := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1}\n", py))
	// A copy of the binary, removed once the stack runs (an upgrade that
	// replaced it, a deleted build).
	bin := filepath.Join(shortDir(t), "whisgee")
	data, err := os.ReadFile(whisgeeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := launchUp(t, exec.Command(bin, "up", "-c", cfg), filepath.Join(dir, "ctl.sock"))
	s.config = cfg
	s.waitRunning(1)
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	before := s.status().Workers[0].PID
	if out, err := s.ctl("restart", "0"); err != nil {
		t.Fatalf("restart with the binary gone: %v\n%s\noutput of up:\n%s", err, out, s.out.String())
	}
	// A crash respawns too.
	now := s.status().Workers[0].PID
	syscall.Kill(now, syscall.SIGKILL)
	s.waitWorkers("the respawn", func(ws []supervisor.Worker) bool {
		return ws[0].PID != 0 && ws[0].PID != now && ws[0].PID != before && ws[0].State == supervisor.StateRunning && ws[0].Healthy
	})
	if code, _ := getBody(t, "http://"+listen+"/"); code != 200 {
		t.Fatalf("after the respawn the stack answers %d", code)
	}
}
