package dash

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/internal/testenv"
)

// TestFlowAgainstACircusEngineDaemon: with `supervisor: {engine: circus}`
// the dashboard shows circus's processes and restarts one from the
// keyboard. No circusd can be installed here, so the circus peer is a
// whisgee daemon serving circus's protocol (the protocol itself is tested
// against recorded circusd 0.19 transcripts in supervisor/circus).
func TestFlowAgainstACircusEngineDaemon(t *testing.T) {
	peer := demoConfig(t, 3, false)
	peer.Supervisor.CircusEndpoint = "tcp://" + testenv.FreeAddr(t)
	runDaemon(t, peer)

	dir := testenv.ShortDir(t)
	yaml := fmt.Sprintf(`app: {module: unused:app}
supervisor: {engine: circus, endpoint: %q}
workers: {health: {path: /health, interval: 200ms}}
proxy: {listen: %s, admin: %s}
control: {socket: %s}
`, peer.Supervisor.CircusEndpoint, testenv.FreeAddr(t), testenv.FreeAddr(t), filepath.Join(dir, "c.sock"))
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, cfg)
	c := control.NewClient(cfg.Control.Socket)
	c.Actor = "dash-test"
	t.Cleanup(c.Close)

	f := startFlow(t, c, 160, 48)
	s := f.until("3 healthy workers from circus", 30*time.Second, allServing(3))
	if !strings.Contains(s.view, "supervisor circus") {
		t.Errorf("the header does not name the circus engine:\n%s", s.view)
	}
	before := pids(s.rows)
	f.keys("j", "r")
	f.until("the restart dialog", 5*time.Second, func(s seen) bool { return strings.Contains(s.view, fmt.Sprintf("(pid %d)?", before[1])) })
	f.keys("y")
	s = f.until("worker 1 restarted through circus", 60*time.Second, func(s seen) bool {
		p := pids(s.rows)
		return p[1] != 0 && p[1] != before[1] && strings.Contains(s.view, "restart worker 1 → ok") && allServing(3)(s)
	})
	if after := pids(s.rows); after[0] != before[0] || after[2] != before[2] {
		t.Errorf("other workers changed: %v → %v", before, after)
	}
}
