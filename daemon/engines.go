package daemon

import (
	"fmt"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl"
	"github.com/whisgee/whisgee/proxyctl/builtin"
)

// newProxy builds the engine proxy.engine names.
func newProxy(cfg *config.Config, hook proxyctl.HealthHook, logf func(string, ...any)) (proxyctl.Engine, error) {
	switch cfg.Proxy.Engine {
	case "builtin":
		return builtin.New(cfg, builtin.Options{OnHealth: hook, Logf: logf})
	}
	return nil, fmt.Errorf("proxy.engine %q is not available in this build", cfg.Proxy.Engine)
}
