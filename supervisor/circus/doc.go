// Package circus makes whisgee and circus work together, both ways.
//
// Client drives a real circusd as whisgee's supervisor engine
// (supervisor: {engine: circus, endpoint: tcp://127.0.0.1:5555}). It talks
// circus's control protocol as circusctl does, a DEALER socket with an
// identity sending one JSON frame {"id", "command", "properties"} per call,
// and follows circusd's pubsub endpoint for live events:
//
//	c, err := circus.New(circus.OptionsFromConfig(cfg)) // add Router: the proxy
//	ws, err := c.Workers(ctx)       // one per circus process; id = wid - 1
//	err = c.Restart(ctx, 2)         // kill that process, respawn it now
//	err = c.RollingRestart(ctx)     // reload with sequential: true
//	events, stop := c.Subscribe()   // watcher.web.spawn, reap, kill, ...
//
// Every call has a timeout: a wrong endpoint fails within ConnectTimeout
// (3s) with one line saying what to fix.
//
// Server (Serve, Listen) answers the same protocol on top of any
// supervisor.Supervisor, so circusctl scripts keep working after a switch
// to whisgee's own supervisor (supervisor.circus_endpoint), and publishes
// the supervisor's events in circus's pubsub format.
//
// RenderINI writes a circus.ini for a whisgee.yaml (`whisgee circus
// render`); ImportINI turns a circus.ini into a whisgee.yaml (`whisgee
// circus import`).
package circus
