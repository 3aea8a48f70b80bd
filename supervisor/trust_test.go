package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestAWorkerWhoseSocketFileWasRemovedOrReplacedIsBoundAgainOnRestart(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	w := st.waitFor("a running worker", allRunning(1))[0]
	get(t, w.Socket)
	for _, replace := range []func() error{
		func() error { return os.Remove(w.Socket) },
		func() error {
			os.Remove(w.Socket)
			return os.WriteFile(w.Socket, []byte("not a socket"), 0o600)
		},
	} {
		if err := replace(); err != nil {
			t.Fatal(err)
		}
		if err := st.sup.Restart(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		if body := get(t, w.Socket); !strings.HasPrefix(body, "pid=") {
			t.Fatalf("after restart the socket answers %q", body)
		}
		if fi, err := os.Lstat(w.Socket); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket file after restart: %v %v, want a 0600 socket", fi, err)
		}
	}
}

func TestACrashedWorkerWhoseSocketFileWasRemovedRespawnsOnANewOne(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	w := st.waitFor("a running worker", allRunning(1))[0]
	if err := os.Remove(w.Socket); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(w.PID, syscall.SIGKILL)
	st.waitFor("the respawned worker", func(ws []Worker) bool { return ws[0].PID != w.PID && ws[0].State == StateRunning })
	if body := get(t, w.Socket); !strings.HasPrefix(body, "pid=") {
		t.Fatalf("after the respawn the socket answers %q", body)
	}
}

func TestCloseLeavesAFileThatReplacedAWorkersSocket(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	w := st.waitFor("a running worker", allRunning(1))[0]
	os.Remove(w.Socket)
	if err := os.WriteFile(w.Socket, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	st.sup.Close(context.Background())
	if b, err := os.ReadFile(w.Socket); err != nil || string(b) != "someone else's" {
		t.Fatalf("close removed or changed a file that was not its socket: %q %v", b, err)
	}
}

func TestWorkerOutputIsNeverAppendedThroughASymlinkInTheLogDir(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const printing = `cmd: [python3, -c, "import socket, time; s = socket.socket(fileno=3)\nfor i in range(100000): print('line', i, flush=True); time.sleep(0.02)"]`
	st := newStack(t, "workers:\n  count: 2\n  "+printing+"\n")
	st.waitFor("2 workers", allRunning(2))
	logs := filepath.Join(st.dir, "logs")
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(logs, "worker-0.log")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.sup.Reconfigure(context.Background(), st.next("workers:\n  count: 2\n  log_dir: logs\n  "+printing+"\n")); err != nil {
		t.Fatal(err)
	}
	// worker-1 logs into its own file; by then worker-0 tried its link.
	st.waitFor("lines in logs/worker-1.log", func([]Worker) bool {
		b, _ := os.ReadFile(filepath.Join(logs, "worker-1.log"))
		return strings.Count(string(b), " stdout line ") >= 5
	})
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("worker output was appended through the symlink: %q", b)
	}
}

func TestALogDirOtherUsersMayWriteIsRefused(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	st.waitFor("1 worker", allRunning(1))
	logs := filepath.Join(st.dir, "logs")
	os.Mkdir(logs, 0o777)
	os.Chmod(logs, 0o777)
	_, err := st.sup.Reconfigure(context.Background(), st.next("workers:\n  count: 1\n  log_dir: logs\n"))
	if err == nil || !strings.Contains(err.Error(), "workers.log_dir: "+logs+" is writable by other users") {
		t.Fatalf("reload onto a 0777 log dir: %v", err)
	}
}
