package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/loadgen"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/supervisor/circus"
)

func TestBuiltinSupervisorAnswersCircusProtocol(t *testing.T) {
	ep := "tcp://" + testenv.FreeAddr(t)
	_, c := startDaemon(t, fmt.Sprintf("workers: {count: 2}\nsupervisor: {circus_endpoint: %q}\n", ep))
	before := waitRunning(t, c, 2)
	cl, err := circus.New(circus.Options{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, err := cl.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].PID != before[0].PID || ws[1].PID != before[1].PID {
		t.Fatalf("circus client sees %+v, daemon has %+v", ws, before)
	}
	if err := cl.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	after := waitRunning(t, c, 2)
	if after[1].PID == before[1].PID || after[0].PID != before[0].PID {
		t.Fatalf("restart over the circus protocol: pids %d,%d -> %d,%d", before[0].PID, before[1].PID, after[0].PID, after[1].PID)
	}
}

// TestCircusEngineDrivesARemoteSupervisor runs `supervisor.engine: circus`
// end to end. No circusd can be installed here, so the circus peer is a
// second whisgee daemon serving circus's protocol (itself tested against
// recorded circusd 0.19 transcripts in supervisor/circus): its workers are
// real Python processes, and this daemon's proxy sends real traffic to
// their sockets.
func TestCircusEngineDrivesARemoteSupervisor(t *testing.T) {
	ep := "tcp://" + testenv.FreeAddr(t)
	_, peer := startDaemon(t, fmt.Sprintf("workers: {count: 2}\nsupervisor: {circus_endpoint: %q}\n", ep))
	waitRunning(t, peer, 2)

	listen := testenv.FreeAddr(t)
	yaml := fmt.Sprintf("app: {module: unused:app}\nsupervisor: {engine: circus, endpoint: %q}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\nworkers: {health: {interval: 200ms}}\n", ep, listen, testenv.FreeAddr(t))
	d, c := runDaemon(t, yaml, "")
	before := waitRunning(t, c, 2)
	st, err := c.Status(context.Background())
	if err != nil || st.Daemon.Supervisor != "circus" {
		t.Fatalf("status: %+v %v", st.Daemon, err)
	}
	load := loadgen.New(loadgen.Options{BaseURL: "http://" + listen, Concurrency: 4})
	load.Start()
	defer load.Stop()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.Restart(ctx, control.RestartRequest{Rolling: true}); err != nil {
		t.Fatal(err)
	}
	after := waitRunning(t, c, 2)
	for i := range before {
		if after[i].PID == before[i].PID {
			t.Fatalf("worker %d kept pid %d through a rolling restart driven over circus's protocol", i, before[i].PID)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if res := load.Stop(); res.Failed() != 0 || res.Sent == 0 {
		t.Fatalf("traffic through the circus-driven stack: %s", res)
	}
	// The peer's events reach this daemon's bus.
	var saw bool
	for _, ev := range d.Hub().Since(0) {
		if ev.Kind == supervisor.EventSpawn || strings.Contains(ev.Message, "spawn") {
			saw = true
		}
	}
	if !saw {
		t.Fatal("no spawn event came through circus's pubsub")
	}
}

func TestCircusEngineWithoutCircusdSaysWhatToDo(t *testing.T) {
	dir := testenv.ShortDir(t)
	yaml := fmt.Sprintf("app: {module: unused:app}\nsupervisor: {engine: circus, endpoint: \"tcp://%s\"}\nproxy: {listen: %s, admin: %s}\ncontrol: {socket: ctl.sock}\n", testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t))
	path := filepath.Join(dir, "whisgee.yaml")
	os.WriteFile(path, []byte(yaml), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := New(cfg, Options{})
	start := time.Now()
	err = d.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start circusd first") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("start without circusd: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v to fail", time.Since(start))
	}
	if _, err := os.Stat(cfg.Control.Socket); !os.IsNotExist(err) {
		t.Fatal("control socket left behind")
	}
}

// TestCircusctlReloadconfigReloadsWhisgeeYaml: `circusctl reloadconfig`
// against whisgee's circus endpoint re-reads whisgee.yaml, as circusd
// re-reads circus.ini; a broken file is refused in circus's error shape
// and changes nothing.
func TestCircusctlReloadconfigReloadsWhisgeeYaml(t *testing.T) {
	ep := "tcp://" + testenv.FreeAddr(t)
	d, c := startDaemon(t, fmt.Sprintf("workers: {count: 2}\nsupervisor: {circus_endpoint: %q}\n", ep))
	waitRunning(t, c, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A raw DEALER, as circus.client connects: one JSON frame each way.
	sock := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("reloadconfig-test")))
	defer sock.Close()
	if err := sock.Dial(ep); err != nil {
		t.Fatal(err)
	}
	call := func(command string, props map[string]any) map[string]any {
		t.Helper()
		if props == nil {
			props = map[string]any{}
		}
		body, _ := json.Marshal(map[string]any{"id": command, "command": command, "properties": props})
		if err := sock.Send(zmq4.NewMsg(body)); err != nil {
			t.Fatal(err)
		}
		msg, err := sock.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		if err := json.Unmarshal(msg.Frames[len(msg.Frames)-1], &r); err != nil {
			t.Fatalf("%s: reply is not JSON: %q", command, msg.Frames)
		}
		return r
	}
	edit := func(old, new string) {
		t.Helper()
		b, _ := os.ReadFile(d.cfg.Path)
		if !strings.Contains(string(b), old) {
			t.Fatalf("config has no %q", old)
		}
		os.WriteFile(d.cfg.Path, []byte(strings.Replace(string(b), old, new, 1)), 0o644)
	}

	getTimeout := func() any {
		t.Helper()
		r := call("get", map[string]any{"name": "web", "keys": []string{"graceful_timeout"}})
		opts, _ := r["options"].(map[string]any)
		return opts["graceful_timeout"]
	}
	was := getTimeout()
	edit("count: 2", "count: 3, graceful_timeout: 7s")
	r := call("reloadconfig", nil)
	if r["status"] != "ok" || !strings.Contains(fmt.Sprint(r["message"]), "scaled to 3 workers") {
		t.Fatalf("reloadconfig: %v", r)
	}
	waitRunning(t, c, 3)
	// circusctl get shows the reloaded settings, as circusd's would.
	if now := getTimeout(); now != 7.0 {
		t.Errorf("graceful_timeout after reloadconfig: %v (was %v), want 7", now, was)
	}

	edit("count: 3", "count: [")
	r = call("reloadconfig", nil)
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "whisgee.yaml:") || r["errno"] == nil {
		t.Fatalf("reloadconfig of a broken file: %v; want circus's error shape naming the file", r)
	}
	if ws := waitRunning(t, c, 3); len(ws) != 3 {
		t.Fatalf("a refused reload changed the workers: %d", len(ws))
	}
}
