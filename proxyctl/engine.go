// Package proxyctl runs the proxy in front of the workers: the built-in Go
// proxy (the default), or Envoy. Both are an Engine: the daemon starts it,
// the supervisor routes safe restarts through it (it is a
// supervisor.Router), and both fill the one stats model.
package proxyctl

import (
	"context"

	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
)

// Engine is a proxy the daemon runs in front of the workers.
type Engine interface {
	supervisor.Router
	// Name is "builtin" or "envoy".
	Name() string
	// Start opens the listeners (and, for Envoy, launches it). It returns
	// once the proxy accepts connections, or with the reason it cannot.
	Start(ctx context.Context) error
	// Close stops accepting, lets requests in flight finish until ctx ends,
	// and releases everything.
	Close(ctx context.Context) error
	// Snapshot reads the proxy's stats into the one model.
	Snapshot(ctx context.Context) (*stats.Snapshot, error)
	// Version is the proxy's version ("" when unknown).
	Version() string
}

// HealthHook is called when a worker's health verdict flips, so the daemon
// can publish an event. It must not block.
type HealthHook func(id int, healthy bool, reason string)
