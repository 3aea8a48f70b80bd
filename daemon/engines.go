package daemon

import (
	"fmt"
	"strings"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/proxyctl/builtin"
	"github.com/whisgee/whisgee/proxyctl/envoy"
)

// newProxy builds the engine proxy.engine names.
func newProxy(cfg *config.Config, version string, hook proxyctl.HealthHook, notice func(string), logf func(string, ...any)) (proxyctl.Engine, error) {
	switch cfg.Proxy.Engine {
	case "builtin":
		// More Go processors than CPUs: the relay's latency tail comes
		// from goroutines stranded on preempted threads (see ProcsPerCPU).
		builtin.RaiseProcs()
		return builtin.New(cfg, builtin.Options{OnHealth: hook, Logf: logf, Version: version})
	case "envoy":
		return envoy.New(envoy.Options{Config: cfg, HealthHook: hook, Log: logfWriter(logf), OnNotice: notice})
	}
	return nil, fmt.Errorf("proxy.engine %q is not available in this build", cfg.Proxy.Engine)
}

// logfWriter passes Envoy's output lines to the daemon's log.
type logfWriter func(string, ...any)

func (l logfWriter) Write(p []byte) (int, error) {
	l("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
