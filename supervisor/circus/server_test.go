package circus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
)

// The circus client, driving whisgee's own circus endpoint, sees and
// steers the supervisor behind it.
func TestClientAgainstOwnServer(t *testing.T) {
	sup := newProcSupervisor(t, 3)
	c, events, ws, real := serveAndDial(t, sup, nil)
	ctx := context.Background()
	if len(ws) != 3 {
		t.Fatalf("want 3 workers, got %+v", ws)
	}
	for i, w := range ws {
		if w.ID != real[i].ID || w.PID != real[i].PID || w.State != supervisor.StateRunning {
			t.Errorf("worker %d: %+v; want id %d pid %d running", i, w, real[i].ID, real[i].PID)
		}
		if w.Socket != real[i].Socket {
			t.Errorf("worker %d: socket %q, want %q (from listsockets' WATCHER.WID names)", i, w.Socket, real[i].Socket)
		}
		if w.RSSBytes == 0 {
			t.Errorf("worker %d: no memory figure", i)
		}
	}

	// Restart one worker: the client kills its pid and waits for a new one.
	old := ws[1].PID
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ws, _ = c.Workers(ctx)
	if ws[1].PID == old || ws[1].PID == 0 || ws[0].PID != real[0].PID {
		t.Errorf("after Restart(1): pids %d %d %d; want only worker 1 replaced (was %d)", ws[0].PID, ws[1].PID, ws[2].PID, old)
	}
	if ws[1].Restarts != 1 {
		t.Errorf("worker 1 restarts %d, want 1", ws[1].Restarts)
	}

	// Rolling restart: reload sequential, served by the supervisor's own.
	before, _ := sup.Workers(ctx)
	if err := c.RollingRestart(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := sup.Workers(ctx)
	for i := range after {
		if after[i].PID == before[i].PID {
			t.Errorf("worker %d kept pid %d through a rolling restart", i, after[i].PID)
		}
	}

	// Scale up and down through incr/decr.
	if err := c.Scale(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if ws, _ := sup.Workers(ctx); len(ws) != 5 {
		t.Errorf("after Scale(5) the supervisor runs %d", len(ws))
	}
	if err := c.Scale(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if ws, _ := c.Workers(ctx); len(ws) != 2 {
		t.Errorf("after Scale(2) the client sees %d", len(ws))
	}

	// Signal one process: the supervisor gets it for that worker only.
	if err := c.Signal(ctx, 1, "HUP"); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(ctx, 7, "HUP"); !errors.Is(err, supervisor.ErrUnknownWorker) {
		t.Errorf("Signal to worker 7: %v, want ErrUnknownWorker", err)
	}
	if err := c.Signal(ctx, 0, "NOPE"); !errors.Is(err, supervisor.ErrInvalid) {
		t.Errorf("Signal NOPE: %v, want ErrInvalid", err)
	}
	if _, err := c.Logs(ctx, 0, 10); !errors.Is(err, supervisor.ErrUnsupported) || !strings.Contains(err.Error(), "stdout_stream") {
		t.Errorf("Logs: %v, want ErrUnsupported naming stdout_stream", err)
	}

	// The events came through circus's pubsub format and back, with the
	// worker each one concerns.
	var spawn, exit, kill bool
	timeout := time.After(5 * time.Second)
	for !(spawn && exit && kill) {
		select {
		case ev := <-events:
			switch {
			case ev.Kind == supervisor.EventSpawn && ev.Worker >= 0 && ev.PID > 0:
				spawn = true
			case ev.Kind == supervisor.EventExit && ev.Worker >= 0 && ev.ExitCode == -15:
				exit = true
			case ev.Kind == supervisor.EventState && ev.State == "stopping" && ev.Worker >= 0:
				kill = true
			}
		case <-timeout:
			t.Fatalf("events seen: spawn %v exit(-15) %v kill %v", spawn, exit, kill)
		}
	}
	calls := strings.Join(sup.calls, ",")
	if !strings.Contains(calls, "restart [1]") || !strings.Contains(calls, "rolling") || !strings.Contains(calls, "signal 1 1") {
		t.Errorf("supervisor calls %s", calls)
	}
}

// A Python DEALER, the way circusctl and circus.client talk, gets
// circus-shaped replies from whisgee's endpoint.
func TestPythonZmqDrivesServer(t *testing.T) {
	py := testenv.PythonWith(t, "zmq")
	sup := newProcSupervisor(t, 2)
	srv := startServer(t, sup)
	cmd := exec.Command(py, filepath.Join("testdata", "circus_call.py"), srv.Endpoint())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &strings.Builder{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	replies := bufio.NewScanner(stdout)
	run := func(command string, props map[string]any) map[string]any {
		t.Helper()
		b, _ := json.Marshal([]any{command, props})
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
		if !replies.Scan() {
			t.Fatalf("%s: no reply from the Python client: %s", command, cmd.Stderr)
		}
		var r map[string]any
		if err := json.Unmarshal(replies.Bytes(), &r); err != nil {
			t.Fatalf("%s: not JSON: %s", command, replies.Bytes())
		}
		return r
	}
	xs := loadCommands(t)
	seen := map[string]int{}
	// Each reply has the keys circusd's reply to the same request had.
	for _, tc := range []struct {
		command string
		props   map[string]any
	}{
		{"list", nil}, {"list", map[string]any{"name": "web"}}, {"status", nil},
		{"status", map[string]any{"name": "web"}}, {"numwatchers", nil},
		{"numprocesses", map[string]any{"name": "web"}}, {"options", map[string]any{"name": "web"}},
		{"get", map[string]any{"name": "web", "keys": []string{"numprocesses", "graceful_timeout", "cmd"}}},
		{"globaloptions", nil}, {"stats", map[string]any{"name": "web"}}, {"stats", nil}, {"dstats", nil},
		{"incr", map[string]any{"name": "web", "nb": 1, "waiting": true}},
		{"decr", map[string]any{"name": "web", "nb": 1, "waiting": true}},
		{"restart", map[string]any{"name": "web", "waiting": true}},
		{"reload", map[string]any{"name": "web", "graceful": true, "sequential": true, "waiting": true}},
		{"signal", map[string]any{"name": "web", "signum": 1}},
		{"stop", map[string]any{"name": "web", "waiting": true}},
		{"status", map[string]any{"name": "web"}},
		{"start", map[string]any{"name": "web", "waiting": true}},
		{"status", map[string]any{"name": "nosuch"}}, {"restart", map[string]any{"name": "nosuch"}},
		{"bogus", nil}, {"incr", map[string]any{"name": "web", "nb": "x"}},
	} {
		// The n-th identical request is compared with circusd's n-th reply
		// (status web: active, then stopped after stop).
		key, _ := json.Marshal([]any{tc.command, tc.props})
		want := xs[find(t, xs, seen[string(key)], tc.command, tc.props)].Response
		seen[string(key)]++
		got := run(tc.command, tc.props)
		if d := shapeDiff(want, got, tc.command); d != "" {
			t.Errorf("%s %v: %s\n circusd: %v\n whisgee: %v", tc.command, tc.props, d, want, got)
		}
	}
	if st := run("status", map[string]any{"name": "web"}); st["status"] != "active" {
		t.Errorf("after start, status %v", st["status"])
	}
	if n := run("numprocesses", map[string]any{"name": "web"}); n["numprocesses"] != 2.0 {
		t.Errorf("numprocesses %v after incr and decr from 2", n["numprocesses"])
	}
}

// shapeDiff compares two replies' keys (recursively for objects, the first
// element for the per-process maps) and the values of status and errno.
func shapeDiff(want, got map[string]any, path string) string {
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return "missing key " + path + "." + k
		}
		if k == "status" || k == "errno" {
			if wv != gv {
				return path + "." + k + " differs"
			}
		}
		wm, wIsMap := wv.(map[string]any)
		gm, gIsMap := gv.(map[string]any)
		if wIsMap != gIsMap && wv != nil && gv != nil {
			return path + "." + k + " has another type"
		}
		if wIsMap && gIsMap && k != "env" {
			if pidKeyed(wm) && pidKeyed(gm) {
				// Processes by pid: compare one entry's shape.
				wm, gm = firstEntry(wm), firstEntry(gm)
				if wm == nil || gm == nil {
					continue
				}
			}
			if d := shapeDiff(wm, gm, path+"."+k); d != "" {
				return d
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return "extra key " + path + "." + k
		}
	}
	return ""
}

func pidKeyed(m map[string]any) bool {
	for k := range m {
		if _, err := strconv.Atoi(k); err != nil {
			return false
		}
	}
	return true
}

func firstEntry(m map[string]any) map[string]any {
	for _, v := range m {
		if vm, ok := v.(map[string]any); ok {
			return vm
		}
	}
	return nil
}

// With one watcher per worker (WATCHER-ID, as `circus render --sockets
// per-worker` writes), the client stops and starts single workers, and
// refuses to scale.
func TestClientPerWorkerWatchers(t *testing.T) {
	sup := newProcSupervisor(t, 3)
	c, events, ws, real := serveAndDial(t, sup, &ServeOptions{PerWorker: true})
	ctx := context.Background()
	for i, w := range ws {
		if w.Name != "web-"+strconv.Itoa(i) || w.PID != real[i].PID || w.Socket != real[i].Socket {
			t.Errorf("worker %d: %s pid %d socket %s; want web-%d pid %d socket %s", i, w.Name, w.PID, w.Socket, i, real[i].PID, real[i].Socket)
		}
	}
	if err := c.StopWorker(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ws, _ = c.Workers(ctx)
	if ws[1].State != supervisor.StateStopped || ws[1].PID != 0 || ws[0].PID == 0 || ws[2].PID == 0 {
		t.Errorf("after StopWorker(1): %+v", ws)
	}
	if err := c.StartWorker(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	after, _ := sup.Workers(ctx)
	if after[1].PID == 0 || after[2].PID == real[2].PID || after[0].PID != real[0].PID {
		t.Errorf("after start 1 and restart 2: %v -> %v", pidsOf(real), pidsOf(after))
	}
	if err := c.Scale(ctx, 4); !errors.Is(err, supervisor.ErrUnsupported) {
		t.Errorf("Scale(4) with a watcher per worker: %v, want ErrUnsupported", err)
	}
	if err := c.Signal(ctx, 0, "USR1"); err != nil {
		t.Fatal(err)
	}
	if calls := strings.Join(sup.calls, ","); !strings.Contains(calls, "stop 1") || !strings.Contains(calls, "start 1") || !strings.Contains(calls, "restart [2]") || !strings.Contains(calls, "signal 0 10") {
		t.Errorf("supervisor calls %s", calls)
	}
	// Events name the worker from the watcher they come from.
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == supervisor.EventExit && ev.Worker == 1 {
				return
			}
		case <-timeout:
			t.Fatal("no exit event for worker 1 (watcher web-1)")
		}
	}
}

func pidsOf(ws []supervisor.Worker) []int {
	var pids []int
	for _, w := range ws {
		pids = append(pids, w.PID)
	}
	return pids
}
