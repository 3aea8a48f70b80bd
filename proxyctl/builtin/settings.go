package builtin

import (
	"errors"
	"strings"

	"github.com/whisgee/whisgee/config"
)

// settings are what a request or a health check reads from the config:
// one immutable value, replaced whole by Reload. A request loads it once
// with one atomic load and runs under that version to its end, so a
// reload never changes the rules under a request in flight, and the hot
// path takes no lock.
type settings struct {
	proxy  config.Proxy
	health config.Health
	// requestIDLower is proxy.request_id_header in lower case, as the
	// head parser matches it.
	requestIDLower string
	p2c            bool
}

// newSettings checks and freezes cfg's proxy and health-check settings.
func newSettings(cfg *config.Config) (*settings, error) {
	hc := cfg.Workers.Health
	if hc.Interval <= 0 || hc.Timeout <= 0 || hc.Rise < 1 || hc.Fall < 1 {
		return nil, errors.New("builtin proxy: health check settings are unset; load the config with config.Load so defaults apply")
	}
	px := cfg.Proxy
	if px.ReadHeaderTimeout <= 0 || px.IdleTimeout <= 0 || px.UpstreamTimeout <= 0 || px.MaxHeaderBytes <= 0 || px.RequestIDHeader == "" {
		return nil, errors.New("builtin proxy: proxy timeouts or limits are unset; load the config with config.Load so defaults apply")
	}
	return &settings{
		proxy:          px,
		health:         hc,
		requestIDLower: strings.ToLower(px.RequestIDHeader),
		p2c:            px.Balance == "p2c",
	}, nil
}
