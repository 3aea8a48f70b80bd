package supervisor

import (
	"context"
	"os"
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
