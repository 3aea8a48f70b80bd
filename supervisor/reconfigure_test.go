package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
)

// next loads a config as newStack writes it, with extra as its tail: what
// an operator's edited whisgee.yaml would be.
func (st *stack) next(extra string) *config.Config {
	st.t.Helper()
	path := filepath.Join(st.dir, "next.yaml")
	full := fmt.Sprintf("app: {module: app:application, python: %s}\ncontrol: {socket: ctl.sock}\n%s", st.cfg.App.Python, extra)
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		st.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		st.t.Fatal(err)
	}
	return cfg
}

func TestCompareWorkersSortsSettingsByWhatTheyNeed(t *testing.T) {
	old := &config.Config{App: config.App{Module: "app:application", Env: map[string]string{}}}
	old.Workers.GracefulTimeout = 30 * time.Second
	same := *old
	same.App.Env = nil // nil and empty are the same environment
	same.Workers.Count = 9
	if c := CompareWorkers(old, &same); !c.Empty() || c.String() != "worker settings unchanged" {
		t.Fatalf("only workers.count differs, got %+v", c)
	}
	next := *old
	next.App.Module = "other:application"
	next.App.Env = map[string]string{"A": "1"}
	next.Workers.GracefulTimeout = time.Second
	next.Workers.Socket = "tcp"
	c := CompareWorkers(old, &next)
	if got := fmt.Sprint(c.Respawn, c.Live, c.Fixed); got != "[app.module app.env] [workers.graceful_timeout] [workers.socket]" {
		t.Fatalf("change %s", got)
	}
	want := "workers restarted one by one with the new app.module, app.env; also applied: workers.graceful_timeout"
	if c.String() != want {
		t.Fatalf("message %q, want %q", c.String(), want)
	}
	// With workers.cmd on both sides, the runner's settings reach no process.
	old.Workers.Cmd = config.Argv{"server", "{fd}"}
	viaCmd := *old
	viaCmd.App.Module, viaCmd.Workers.Server = "ignored:app", "bjoern"
	if c := CompareWorkers(old, &viaCmd); !c.Empty() {
		t.Fatalf("app.module and workers.server under workers.cmd: %+v", c)
	}
}

func TestReconfigureRestartsEachWorkerWithTheNewEnvAndLeavesStoppedOnesStopped(t *testing.T) {
	st := newStack(t, "workers: {count: 3, env: {GREETING: one}}\n")
	before := st.waitFor("3 running workers", allRunning(3))
	ctx := context.Background()
	if err := st.sup.StopWorker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c, err := st.sup.Reconfigure(ctx, st.next("workers: {count: 3, env: {GREETING: two}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "workers restarted one by one with the new workers.env" {
		t.Fatalf("message %q", c)
	}
	after := st.workers()
	for _, id := range []int{0, 1} {
		if after[id].PID == before[id].PID || after[id].State != StateRunning {
			t.Fatalf("worker %d not restarted: before %+v after %+v", id, before[id], after[id])
		}
		if body := get(t, after[id].Socket); !strings.Contains(body, "greeting=two") {
			t.Fatalf("worker %d answers %q after the reload", id, body)
		}
	}
	// Stopped by hand, it stays stopped, and starts with the new settings.
	if after[2].State != StateStopped {
		t.Fatalf("a reload started the stopped worker 2: %+v", after[2])
	}
	if err := st.sup.StartWorker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if body := get(t, st.workers()[2].Socket); !strings.Contains(body, "greeting=two") {
		t.Fatalf("worker 2 started after the reload answers %q", body)
	}
}

func TestReconfigureOfLiveSettingsRestartsNobodyAndTakesEffect(t *testing.T) {
	// A worker that ignores SIGINT shows the graceful timeout in effect:
	// it is killed once the timeout runs out.
	const ignoringInt = `cmd: [python3, -c, "import signal, socket, time; signal.signal(signal.SIGINT, signal.SIG_IGN); s = socket.socket(fileno=3); print('ready', flush=True); time.sleep(3600)"]`
	st := newStack(t, "workers:\n  count: 2\n  graceful_timeout: 2m\n  "+ignoringInt+"\n")
	before := st.waitFor("2 workers", allRunning(2))
	ctx := context.Background()
	c, err := st.sup.Reconfigure(ctx, st.next("workers:\n  count: 2\n  graceful_timeout: 300ms\n  backoff: {initial: 1s, max: 1s}\n  log_lines: 5\n  "+ignoringInt+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "applied without restarting workers: workers.backoff, workers.graceful_timeout, workers.log_lines"; c.String() != want {
		t.Fatalf("message %q, want %q", c, want)
	}
	after := st.workers()
	for i := range before {
		if after[i].PID != before[i].PID {
			t.Fatalf("worker %d restarted by a live change: pid %d → %d", i, before[i].PID, after[i].PID)
		}
	}
	events, cancel := st.sup.Subscribe()
	defer cancel()
	st.waitFor("worker 0 to ignore SIGINT", func([]Worker) bool {
		lines, _ := st.sup.Logs(ctx, 0, 10)
		return len(lines) > 0 && lines[len(lines)-1].Text == "ready"
	})
	start := time.Now()
	if err := st.sup.StopWorker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("stop took %v: the old graceful timeout of 2m is still in effect", took)
	}
	if got := st.workers()[0]; got.LastExit != "signal 9 (killed)" {
		t.Fatalf("worker 0 after stop: %+v", got)
	}
	// The new backoff: worker 1, killed, waits about 1s (not the test's
	// 20ms) before it respawns.
	syscall.Kill(after[1].PID, syscall.SIGKILL)
	var killed, respawn string
	timeout := time.After(20 * time.Second)
	for respawn == "" {
		select {
		case ev := <-events:
			if ev.Kind == EventError && strings.Contains(ev.Message, "ignored SIGINT") {
				killed = ev.Message
			}
			if ev.Kind == EventState && ev.Worker == 1 && ev.State == string(StateBackoff) {
				respawn = ev.Message
			}
		case <-timeout:
			t.Fatal("worker 1 did not back off after SIGKILL")
		}
	}
	if !strings.Contains(killed, "ignored SIGINT for 300ms") {
		t.Fatalf("kill event %q, want the new timeout of 300ms", killed)
	}
	d, err := time.ParseDuration(respawn[strings.LastIndex(respawn, " ")+1:])
	if err != nil || d < 800*time.Millisecond || d > time.Second {
		t.Fatalf("backoff event %q: want a delay of 0.8s to 1s", respawn)
	}
}

func TestLogRingResizeKeepsTheNewestLines(t *testing.T) {
	r := newLogRing(8)
	for i := range 11 {
		r.add(LogLine{Text: fmt.Sprint(i)})
	}
	texts := func() string {
		var out []string
		for _, l := range r.last(0) {
			out = append(out, l.Text)
		}
		return strings.Join(out, " ")
	}
	r.resize(5)
	if got := texts(); got != "6 7 8 9 10" {
		t.Fatalf("after resize to 5: %q", got)
	}
	r.resize(7)
	r.add(LogLine{Text: "11"})
	r.add(LogLine{Text: "12"})
	r.add(LogLine{Text: "13"})
	if got := texts(); got != "7 8 9 10 11 12 13" {
		t.Fatalf("after growing to 7 and three more lines: %q", got)
	}
}

func TestReconfigureRefusesASocketChangeAndChangesNothing(t *testing.T) {
	st := newStack(t, "workers: {count: 1, env: {GREETING: one}}\n")
	before := st.waitFor("1 worker", allRunning(1))
	_, err := st.sup.Reconfigure(context.Background(), st.next("workers: {count: 1, socket: tcp, env: {GREETING: two}}\n"))
	if err == nil || err.Error() != "invalid request: workers.socket changed; that needs a restart of whisgee up" {
		t.Fatalf("socket change: %v", err)
	}
	after := st.workers()[0]
	if after.PID != before[0].PID || !strings.Contains(get(t, after.Socket), "greeting=one") {
		t.Fatalf("a refused reload changed the worker: %+v", after)
	}
}

func TestReconfigureRefusesAMissingCommandBeforeTouchingAWorker(t *testing.T) {
	st := newStack(t, "workers: {count: 1}\n")
	before := st.waitFor("1 worker", allRunning(1))
	_, err := st.sup.Reconfigure(context.Background(), st.next("workers: {count: 1, cmd: [no-such-server-xyz, --fd, '{fd}']}\n"))
	if err == nil || !strings.Contains(err.Error(), `workers.cmd: "no-such-server-xyz" not found`) {
		t.Fatalf("missing command: %v", err)
	}
	if after := st.workers()[0]; after.PID != before[0].PID {
		t.Fatalf("worker restarted: %+v", after)
	}
}

func TestAStopSignalChangeReachesCmdWorkersAtOnceAndRunnersAtTheirNextStart(t *testing.T) {
	ctx := context.Background()
	// The runner was started with --stop-signal TERM and handles only
	// that one gracefully (exit 0; SIGINT would end it with a traceback
	// and exit 1), so it is still stopped with TERM.
	runner := newStack(t, "workers: {count: 1, server: wsgiref, stop_signal: TERM}\n")
	runner.waitFor("1 worker", allRunning(1))
	get(t, runner.workers()[0].Socket) // serving: its handlers are in place
	if _, err := runner.sup.Reconfigure(ctx, runner.next("workers: {count: 1, server: wsgiref, stop_signal: INT}\n")); err != nil {
		t.Fatal(err)
	}
	if err := runner.sup.StopWorker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if w := runner.workers()[0]; w.LastExit != "exit 0" {
		t.Fatalf("runner started for TERM, stopped after the change to INT: %q, want exit 0", w.LastExit)
	}
	// A workers.cmd process knows no stop signal: it gets the new one.
	const cmd = `cmd: [python3, -c, "import signal, socket, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); s = socket.socket(fileno=3); print('ready', flush=True); time.sleep(3600)"]`
	st := newStack(t, "workers:\n  count: 1\n  graceful_timeout: 2m\n  "+cmd+"\n")
	st.waitFor("the worker to be ready", func([]Worker) bool {
		lines, _ := st.sup.Logs(ctx, 0, 10)
		return len(lines) > 0 && lines[len(lines)-1].Text == "ready"
	})
	if _, err := st.sup.Reconfigure(ctx, st.next("workers:\n  count: 1\n  graceful_timeout: 2m\n  stop_signal: TERM\n  "+cmd+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.sup.StopWorker(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if w := st.workers()[0]; w.LastExit != "exit 7" {
		t.Fatalf("cmd worker after the change to TERM: %q, want exit 7 (its TERM handler)", w.LastExit)
	}
}

func TestReconfigureOfTheLogDirWritesTheOutputThereFromNowOn(t *testing.T) {
	const counting = `cmd: [python3, -c, "import socket, time; s = socket.socket(fileno=3)\nfor i in range(100000): print('line', i, flush=True); time.sleep(0.02)"]`
	st := newStack(t, "workers:\n  count: 1\n  "+counting+"\n")
	before := st.waitFor("1 worker", allRunning(1))
	logs := filepath.Join(st.dir, "logs") // does not exist yet
	c, err := st.sup.Reconfigure(context.Background(), st.next("workers:\n  count: 1\n  log_dir: logs\n  "+counting+"\n"))
	if err != nil || c.String() != "applied without restarting workers: workers.log_dir" {
		t.Fatalf("reload: %v %v", c, err)
	}
	st.waitFor("lines in logs/worker-0.log", func([]Worker) bool {
		b, _ := os.ReadFile(filepath.Join(logs, "worker-0.log"))
		return strings.Count(string(b), " stdout line ") >= 3
	})
	if w := st.workers()[0]; w.PID != before[0].PID {
		t.Fatalf("the worker restarted: %+v", w)
	}
}
