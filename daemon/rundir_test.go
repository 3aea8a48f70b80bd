package daemon

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/config"
)

func parse(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("app: {module: app:application}\n"+yaml), filepath.Join(dir, "whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTwoStacksNeverShareARunDirOrAnEnvoyConfigDir(t *testing.T) {
	dir := t.TempDir()
	first := parse(t, dir, "control: {socket: a/ctl.sock}\nproxy: {engine: envoy, envoy: {config_dir: envoy}}\n")
	release, err := claimDirs(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		yaml, want string
	}{
		{"control: {socket: a/other.sock}\n", "run_dir " + filepath.Join(dir, "a") + " is in use by the stack with control socket " + first.Control.Socket},
		{"control: {socket: b/ctl.sock}\nproxy: {engine: envoy, envoy: {config_dir: envoy}}\n", "proxy.envoy.config_dir " + filepath.Join(dir, "envoy") + " is in use by the stack with control socket " + first.Control.Socket},
		{"control: {socket: a/ctl.sock}\n", "another whisgee daemon is running on " + first.Control.Socket},
	} {
		_, err := claimDirs(parse(t, dir, c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want one line saying %q", c.yaml, err, c.want)
		}
	}
	// A config_dir inside another stack's run_dir is that stack's too.
	inside := parse(t, dir, "control: {socket: b/ctl.sock}\nproxy: {engine: envoy, envoy: {config_dir: c/envoy}}\n")
	third, err := claimDirs(parse(t, dir, "control: {socket: c/ctl.sock}\nproxy: {engine: envoy}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := claimDirs(inside); err == nil || !strings.Contains(err.Error(), "proxy.envoy.config_dir "+filepath.Join(dir, "c", "envoy")+" is in use") {
		t.Errorf("a config_dir inside another stack's run_dir: %v", err)
	}
	third()
	// A second stack with its own directories is fine alongside.
	own, err := claimDirs(parse(t, dir, "control: {socket: c/ctl.sock}\nproxy: {engine: envoy}\n"))
	if err != nil {
		t.Fatal(err)
	}
	own()
	release()
	again, err := claimDirs(parse(t, dir, "control: {socket: a/other.sock}\n"))
	if err != nil {
		t.Fatalf("after the first released its directories: %v", err)
	}
	again()
}
