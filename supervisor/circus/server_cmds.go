package circus

import (
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/supervisor"
)

// dispatch answers one command. Replies follow circusd 0.19's shapes; the
// differences are deliberate: restart, reload and kill are served as safe
// rolling restarts (no request is dropped), and quit is refused.
func (s *Server) dispatch(ctx context.Context, cmd string, props map[string]any) map[string]any {
	handlers := map[string]func(context.Context, map[string]any) map[string]any{
		"list":          s.cmdList,
		"status":        s.cmdStatus,
		"numwatchers":   s.cmdNumWatchers,
		"numprocesses":  s.cmdNumProcesses,
		"listsockets":   s.cmdListSockets,
		"options":       s.cmdOptions,
		"get":           s.cmdGet,
		"globaloptions": s.cmdGlobalOptions,
		"stats":         s.cmdStats,
		"dstats":        s.cmdDStats,
		"incr":          func(ctx context.Context, p map[string]any) map[string]any { return s.cmdScale(ctx, p, +1) },
		"decr":          func(ctx context.Context, p map[string]any) map[string]any { return s.cmdScale(ctx, p, -1) },
		"restart":       s.cmdRestart,
		"reload":        s.cmdRestart,
		"kill":          s.cmdKill,
		"start":         s.cmdStart,
		"stop":          s.cmdStop,
		"signal":        s.cmdSignal,
	}
	if s.opts.Reload != nil {
		handlers["reloadconfig"] = s.cmdReloadConfig
	}
	if h, found := handlers[cmd]; found {
		return h(ctx, props)
	}
	switch cmd {
	case "quit":
		return errorReply(errnoCommand, "quit is refused: whisgee's daemon owns the stack; stop `whisgee up` (or its service) instead")
	case "addwatcher", "rmwatcher", "set", "reloadconfig", "listen", "dstats_extended", "ipythonshell":
		return errorReply(errnoCommand, fmt.Sprintf("%s is not served by whisgee's circus endpoint; change whisgee.yaml instead", cmd))
	}
	return errorReply(errnoUnknownCommand, fmt.Sprintf("unknown command: %s", pyRepr(cmd)))
}

// pyRepr quotes a string as Python's repr does, for circus-identical reasons.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// nameOf is the watcher a worker belongs to: the one watcher, or with
// PerWorker one watcher per worker, WATCHER-ID.
func (s *Server) nameOf(w supervisor.Worker) string {
	if s.opts.PerWorker {
		return fmt.Sprintf("%s-%d", s.opts.Watcher, w.ID)
	}
	return s.opts.Watcher
}

// names lists the watchers, in worker order.
func (s *Server) names(ws []supervisor.Worker) []string {
	if !s.opts.PerWorker {
		return []string{s.opts.Watcher}
	}
	names := []string{}
	for _, w := range ws {
		names = append(names, s.nameOf(w))
	}
	return names
}

// byWatcher groups workers by watcher name.
func (s *Server) byWatcher(ws []supervisor.Worker) map[string][]supervisor.Worker {
	m := map[string][]supervisor.Worker{}
	for _, n := range s.names(ws) {
		m[n] = nil
	}
	for _, w := range ws {
		m[s.nameOf(w)] = append(m[s.nameOf(w)], w)
	}
	return m
}

// nameRule says whether a command must, may or does not name a watcher,
// and whether the name is a glob (start, stop, restart) as in circus.
type nameRule int

const (
	nameOptional nameRule = iota
	nameRequired
	nameIgnored
	nameGlob
)

// withWorkers reads the workers, keeps those of the watcher(s) the request
// names (circus's own errors when the name is missing or unknown), and
// answers with f; named reports whether the request named a watcher.
func (s *Server) withWorkers(ctx context.Context, props map[string]any, rule nameRule, f func(named bool, ws []supervisor.Worker) map[string]any) map[string]any {
	v, has := props["name"]
	if !has && rule == nameRequired {
		return errorReply(errnoMessage, "message invalid 'name' is missing")
	}
	ws, err := s.sup.Workers(ctx)
	if err != nil {
		return commandError(err)
	}
	if !has || rule == nameIgnored {
		return f(false, ws)
	}
	want := strings.ToLower(fmt.Sprint(v))
	matches := func(name string) bool {
		if rule == nameGlob {
			m, err := path.Match(want, name)
			return err == nil && m
		}
		return want == name
	}
	found := false
	var picked []supervisor.Worker
	for _, name := range s.names(ws) {
		found = found || matches(name)
	}
	for _, w := range ws {
		if matches(s.nameOf(w)) {
			picked = append(picked, w)
		}
	}
	if !found {
		return errorReply(errnoMessage, fmt.Sprintf("program %s not found", fmt.Sprint(v)))
	}
	return f(true, picked)
}

// running lists the pids of the workers that have a process, by worker id.
func running(ws []supervisor.Worker) []int {
	pids := []int{}
	for _, w := range ws {
		if w.PID != 0 {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// watcherStatus words the workers' state as circus's watcher status.
func watcherStatus(ws []supervisor.Worker) string {
	stopped, stopping := 0, 0
	for _, w := range ws {
		switch {
		case w.PID == 0 && (w.State == supervisor.StateStopped || w.State == supervisor.StateFailed):
			stopped++
		case w.State == supervisor.StateStopping:
			stopping++
		}
	}
	switch {
	case len(ws) > 0 && stopped == len(ws):
		return "stopped"
	case len(ws) > 0 && stopped+stopping == len(ws):
		return "stopping"
	}
	return "active"
}

func (s *Server) cmdList(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameOptional, func(named bool, ws []supervisor.Worker) map[string]any {
		if !named {
			return ok(map[string]any{"watchers": s.names(ws)})
		}
		return ok(map[string]any{"pids": running(ws)})
	})
}

func (s *Server) cmdStatus(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameOptional, func(named bool, ws []supervisor.Worker) map[string]any {
		if named {
			return ok(map[string]any{"status": watcherStatus(ws)})
		}
		statuses := map[string]string{}
		for name, group := range s.byWatcher(ws) {
			statuses[name] = watcherStatus(group)
		}
		return ok(map[string]any{"statuses": statuses})
	})
}

func (s *Server) cmdNumWatchers(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameIgnored, func(_ bool, ws []supervisor.Worker) map[string]any {
		return ok(map[string]any{"numwatchers": len(s.names(ws))})
	})
}

func (s *Server) cmdNumProcesses(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameOptional, func(named bool, ws []supervisor.Worker) map[string]any {
		n := len(running(ws))
		if named {
			return ok(map[string]any{"numprocesses": n, "watcher_name": props["name"]})
		}
		return ok(map[string]any{"numprocesses": n})
	})
}

// cmdListSockets lists the workers' sockets. With one socket per worker
// they are named WATCHER.WID (wid = id + 1), which the circus client maps
// back to workers. The supervisor interface does not expose fds: fd is -1.
func (s *Server) cmdListSockets(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameIgnored, func(_ bool, ws []supervisor.Worker) map[string]any {
		distinct := map[string]bool{}
		for _, w := range ws {
			distinct[w.Socket] = true
		}
		socks := []map[string]any{}
		for i, w := range ws {
			if w.Socket == "" || (len(distinct) == 1 && i > 0) {
				continue
			}
			name := fmt.Sprintf("%s.%d", s.opts.Watcher, w.ID+1)
			switch {
			case s.opts.PerWorker:
				name = s.nameOf(w) // the socket the watcher's cmd names
			case len(distinct) == 1:
				name = s.opts.Watcher
			}
			sock := map[string]any{"fd": -1, "name": name, "backlog": 2048}
			if host, port, err := splitHostPort(w.Socket); err == nil {
				sock["host"], sock["port"] = host, port
			} else {
				sock["path"] = w.Socket
			}
			socks = append(socks, sock)
		}
		return ok(map[string]any{"sockets": socks})
	})
}

func splitHostPort(addr string) (string, int, error) {
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "@") {
		return "", 0, fmt.Errorf("a path")
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.Atoi(addr[i+1:])
	return strings.Trim(addr[:i], "[]"), p, err
}

// watcherOptions is the watcher's configuration in circus's `options` shape.
func (s *Server) watcherOptions(name string, numprocesses int) map[string]any {
	o := map[string]any{
		"__name__": "watcher:" + name, "args": "", "close_child_stderr": false,
		"close_child_stdin": true, "close_child_stdout": false, "cmd": "", "copy_env": true,
		"env": map[string]string{}, "executable": nil, "gid": nil, "graceful_timeout": 30.0,
		"max_age": 0, "max_age_variance": 30, "max_retry": 5, "numprocesses": numprocesses,
		"on_demand": false, "priority": 0, "respawn": true, "send_hup": false, "shell": false,
		"shell_args": nil, "singleton": false, "stderr_stream_conf": map[string]any{},
		"stdout_stream_conf": map[string]any{}, "stop_children": false, "stop_signal": int(syscall.SIGINT),
		"uid": nil, "use_sockets": true, "warmup_delay": 0, "working_dir": "",
	}
	if cfg := s.cfg.Load(); cfg != nil {
		o["cmd"] = watcherCommand(cfg, name, "")
		o["working_dir"] = cfg.App.Dir
		o["graceful_timeout"] = cfg.Workers.GracefulTimeout.Seconds()
		if sig, err := config.ParseSignal(cfg.Workers.StopSignal); err == nil {
			o["stop_signal"] = int(sig)
		}
		o["max_retry"] = cfg.Workers.CrashLoop.MaxCrashes
		o["env"] = mergedEnv(cfg)
	}
	return o
}

func (s *Server) cmdOptions(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameRequired, func(_ bool, ws []supervisor.Worker) map[string]any {
		return ok(map[string]any{"options": s.watcherOptions(strings.ToLower(fmt.Sprint(props["name"])), len(ws))})
	})
}

func (s *Server) cmdGet(ctx context.Context, props map[string]any) map[string]any {
	keys, isList := props["keys"].([]any)
	if _, has := props["name"]; has && !isList {
		return errorReply(errnoMessage, "message invalid 'keys' is missing")
	}
	return s.withWorkers(ctx, props, nameRequired, func(_ bool, ws []supervisor.Worker) map[string]any {
		all := s.watcherOptions(strings.ToLower(fmt.Sprint(props["name"])), len(ws))
		out := map[string]any{}
		for _, k := range keys {
			key := fmt.Sprint(k)
			v, found := all[key]
			if !found || key == "__name__" {
				return errorReply(errnoMessage, fmt.Sprintf("%s option not found", pyRepr(key)))
			}
			out[key] = v
		}
		return ok(map[string]any{"options": out})
	})
}

func (s *Server) cmdGlobalOptions(ctx context.Context, props map[string]any) map[string]any {
	return ok(map[string]any{"options": map[string]any{
		"endpoint": s.endpoint, "pubsub_endpoint": s.pubsub, "check_delay": 5.0,
		"stats_endpoint": nil, "multicast_endpoint": nil,
	}})
}

// processInfo is one process in circus's stats shape: /proc's view where
// it can be read, the supervisor's otherwise.
func processInfo(pid int, w *supervisor.Worker, total uint64) map[string]any {
	ps, _ := readProc(pid)
	rss := ps.rss
	info := map[string]any{
		"mem_info2": bytes2human(ps.vms), "cpu": 0.0, "ctime": circusCTime(ps.cpuTime),
		"pid": pid, "username": ps.username, "nice": ps.nice, "create_time": ps.createTime,
		"cmdline": ps.cmdline, "children": []any{},
	}
	started := ps.createTime
	if w != nil {
		if w.RSSBytes > 0 {
			rss = w.RSSBytes
		}
		info["cpu"] = math.Round(w.CPUPercent*10) / 10
		if !w.StartedAt.IsZero() {
			started = epoch(w.StartedAt)
		}
		info["started"] = started
		info["wid"] = w.ID + 1
	}
	info["mem_info1"] = bytes2human(rss)
	mem := 0.0
	if total > 0 {
		mem = math.Round(float64(rss)/float64(total)*100*1000) / 1000
	}
	info["mem"] = mem
	if started > 0 {
		info["age"] = epoch(time.Now()) - started
	} else {
		info["age"] = 0.0
	}
	return info
}

func (s *Server) infoOf(ws []supervisor.Worker) map[string]any {
	total := memTotal()
	info := map[string]any{}
	for i := range ws {
		if ws[i].PID != 0 {
			info[strconv.Itoa(ws[i].PID)] = processInfo(ws[i].PID, &ws[i], total)
		}
	}
	return info
}

func (s *Server) cmdStats(ctx context.Context, props map[string]any) map[string]any {
	return s.withWorkers(ctx, props, nameOptional, func(named bool, ws []supervisor.Worker) map[string]any {
		if !named {
			infos := map[string]any{}
			for name, group := range s.byWatcher(ws) {
				infos[name] = s.infoOf(group)
			}
			return ok(map[string]any{"infos": infos})
		}
		if p, has := props["process"]; has {
			pid, _ := toInt(p)
			for i := range ws {
				if ws[i].PID == pid && pid != 0 {
					return ok(map[string]any{"process": p, "info": processInfo(pid, &ws[i], memTotal())})
				}
			}
			return errorReply(errnoMessage, fmt.Sprintf("process %v not found in %s", p, pyRepr(fmt.Sprint(props["name"]))))
		}
		return ok(map[string]any{"name": props["name"], "info": s.infoOf(ws)})
	})
}

func (s *Server) cmdDStats(ctx context.Context, props map[string]any) map[string]any {
	info := processInfo(os.Getpid(), nil, memTotal())
	info["age"] = time.Since(s.started).Seconds()
	return ok(map[string]any{"info": info})
}

// toInt accepts a JSON number with no fraction, or a string of digits.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) {
			return int(n), true
		}
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// cmdReloadConfig re-reads whisgee.yaml through the daemon, as circusd's
// reloadconfig re-reads circus.ini; circusd replies with a bare ok, and
// whisgee adds what it applied as "message".
func (s *Server) cmdReloadConfig(ctx context.Context, _ map[string]any) map[string]any {
	msg, err := s.opts.Reload(ctx)
	if err != nil {
		return errorReply(errnoCommand, err.Error())
	}
	return ok(map[string]any{"message": msg})
}
