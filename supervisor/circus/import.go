package circus

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/whisgee/whisgee/config"
	"gopkg.in/yaml.v3"
)

// ImportOptions adjusts ImportINI.
type ImportOptions struct {
	// Watcher picks the watcher that becomes the workers. If empty, the
	// only watcher, the only one fed a circus socket, or a WATCHER-0,
	// WATCHER-1, ... group (one watcher per worker).
	Watcher string
	// Engine is the supervisor of the imported stack: builtin (default)
	// also serves circus's protocol on the old endpoint, so circusctl
	// scripts keep working; circus keeps circusd and drives it.
	Engine string
}

// imported is the part of whisgee.yaml an import fills.
type imported struct {
	module, dir, python, server string
	cmd                         []string
	count                       int
	socket                      string // unix or tcp
	stopSignal                  string
	graceful                    time.Duration
	maxCrashes                  int
	env                         map[string]string
	endpoint, pubsub, watcher   string
	notes                       []string // what was not imported, and why
}

// ImportINI turns a circus.ini into a whisgee.yaml that config.Load
// accepts: the workers' watcher (command, working_dir, numprocesses,
// stop_signal, graceful_timeout, max_retry), its socket, its [env:...]
// sections and the control endpoint. Settings whisgee has no place for are
// listed as comments at the end. name is used in errors ("circus.ini:12: ...").
func ImportINI(data []byte, name string, opts ImportOptions) ([]byte, error) {
	f, err := parseINI(data, name)
	if err != nil {
		return nil, err
	}
	bad := func(line int, format string, a ...any) error {
		return &IniError{File: name, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	switch opts.Engine {
	case "":
		opts.Engine = "builtin"
	case "builtin", "circus":
	default:
		return nil, fmt.Errorf("engine %q: want builtin or circus", opts.Engine)
	}
	group, base, err := pickWatchers(f, opts.Watcher)
	if err != nil {
		return nil, err
	}
	first := group[0]
	im := &imported{watcher: base, env: map[string]string{}}

	// The command line: cmd plus args, split as circus's shlex does.
	cmdOpt := first.get("cmd")
	if cmdOpt == nil {
		return nil, bad(first.line, "[%s] has no cmd; circus needs one too", first.name)
	}
	line := cmdOpt.value
	if a := first.get("args"); a != nil && a.value != "" {
		line += " " + a.value
	}
	argv, err := config.SplitWords(strings.ReplaceAll(line, "\n", " "))
	if err != nil || len(argv) == 0 {
		return nil, bad(cmdOpt.line, "cmd: cannot split %q into words: %v", line, err)
	}
	sockName := ""
	for i, w := range argv {
		if m := socketRefRE.FindStringSubmatch(w); m != nil {
			sockName = strings.ToLower(m[1])
			argv[i] = socketRefRE.ReplaceAllString(w, "{fd}")
		}
		argv[i] = widRE.ReplaceAllString(argv[i], "{id}")
	}
	if err := im.readCommand(argv, cmdOpt.line, bad); err != nil {
		return nil, err
	}
	if sockName == "" {
		im.notes = append(im.notes, fmt.Sprintf("line %d: the command takes no circus socket ($(circus.sockets.NAME)); whisgee hands each worker a socket: give the command {fd} or {socket}", cmdOpt.line))
	}

	// numprocesses: one watcher's, or the size of a WATCHER-N group.
	im.count = len(group)
	if len(group) == 1 {
		im.count = 1
		if o := first.get("numprocesses"); o != nil {
			n, err := strconv.Atoi(o.value)
			if err != nil || n < 1 || n > 1024 {
				return nil, bad(o.line, "numprocesses: want a whole number from 1 to 1024, got %q", o.value)
			}
			im.count = n
		}
	}
	if o := first.get("working_dir"); o != nil {
		im.dir = o.value
	}
	im.stopSignal = "TERM" // circus's default, unlike whisgee's INT
	if o := first.get("stop_signal"); o != nil {
		if _, err := config.ParseSignal(o.value); err != nil {
			return nil, bad(o.line, "stop_signal: %v", err)
		}
		im.stopSignal = strings.TrimPrefix(strings.ToUpper(o.value), "SIG")
	}
	im.graceful = 30 * time.Second
	if o := first.get("graceful_timeout"); o != nil {
		secs, err := strconv.ParseFloat(o.value, 64)
		if err != nil || secs < 0 {
			return nil, bad(o.line, "graceful_timeout: want seconds like 30 or 2.5, got %q", o.value)
		}
		im.graceful = time.Duration(secs * float64(time.Second))
	}
	if o := first.get("max_retry"); o != nil {
		n, err := strconv.Atoi(o.value)
		if err != nil {
			return nil, bad(o.line, "max_retry: want a whole number, got %q", o.value)
		}
		if n > 0 {
			im.maxCrashes = n
		} else {
			im.notes = append(im.notes, fmt.Sprintf("line %d: max_retry = %d (retry forever): whisgee always stops a worker that crashes crash_loop.max_crashes times within crash_loop.window", o.line, n))
		}
	}
	for _, o := range first.options {
		if note := unimportedNote(first.name, o); note != "" {
			im.notes = append(im.notes, note)
		}
	}

	// The socket: a path makes unix sockets, host and port tcp ones.
	im.socket = "unix"
	if sockName != "" {
		sec := f.section("socket:" + sockName)
		if sec == nil {
			return nil, bad(cmdOpt.line, "cmd uses $(circus.sockets.%s) but there is no [socket:%s] section", sockName, sockName)
		}
		if sec.get("path") == nil && (sec.get("host") != nil || sec.get("port") != nil) {
			im.socket = "tcp"
			host, port := "localhost", "8080"
			if o := sec.get("host"); o != nil {
				host = o.value
			}
			if o := sec.get("port"); o != nil {
				port = o.value
			}
			im.notes = append(im.notes, fmt.Sprintf("line %d: circus listened on %s:%s for all workers; whisgee gives each worker a loopback port and the proxy listens at proxy.listen", sec.line, host, port))
		}
	}

	// Environment: [env] applies to every watcher, [env:PATTERNS] to the
	// watchers a glob matches.
	for _, sec := range f.sections {
		applies := sec.name == "env"
		if pats, ok := strings.CutPrefix(sec.name, "env:"); ok {
			for _, p := range strings.Split(pats, ",") {
				if m, _ := path.Match(strings.TrimSpace(p), first.name[len("watcher:"):]); m {
					applies = true
				}
			}
		}
		if applies {
			for _, o := range sec.options {
				im.env[o.key] = o.value
			}
		}
	}

	// The control endpoint.
	if c := f.section("circus"); c != nil {
		if o := c.get("endpoint"); o != nil {
			im.endpoint = o.value
		}
		if o := c.get("pubsub_endpoint"); o != nil {
			im.pubsub = o.value
		}
	}
	if im.endpoint == "" {
		im.endpoint = "tcp://127.0.0.1:5555" // circus's default
	}
	if opts.Engine == "builtin" && checkLocal(im.endpoint) != nil {
		im.notes = append(im.notes, fmt.Sprintf("circus endpoint %s is not on loopback; whisgee serves circus's protocol on loopback only, so supervisor.circus_endpoint is not set", im.endpoint))
		im.endpoint = ""
	}
	out, err := im.yaml(name, opts.Engine)
	if err != nil {
		return nil, err
	}
	// The output must be a config whisgee accepts; say so now if not.
	if _, err := config.Parse(out, ""); err != nil {
		return nil, fmt.Errorf("%s: the imported config is not valid (%v); please report this with the circus.ini", name, err)
	}
	return out, nil
}

var widRE = regexp.MustCompile(`(?i)(?:\$\(|\(\()circus\.wid\)\)?`)

// pickWatchers finds the watcher(s) that run the workers.
func pickWatchers(f *iniFile, want string) ([]*iniSection, string, error) {
	var all []*iniSection
	var names []string
	for _, s := range f.sections {
		if n, ok := strings.CutPrefix(s.name, "watcher:"); ok {
			all = append(all, s)
			names = append(names, n)
		}
	}
	if len(all) == 0 {
		return nil, "", &IniError{File: f.name, Msg: "no [watcher:NAME] section; nothing to import"}
	}
	byName := func(n string) []*iniSection {
		for _, s := range all {
			if strings.EqualFold(s.name, "watcher:"+n) {
				return []*iniSection{s}
			}
		}
		return nil
	}
	// A WATCHER-0, WATCHER-1, ... group, as render --sockets per-worker writes.
	group := func(base string) []*iniSection {
		var g []*iniSection
		for i := 0; ; i++ {
			s := byName(fmt.Sprintf("%s-%d", base, i))
			if s == nil {
				return g
			}
			g = append(g, s[0])
		}
	}
	if want != "" {
		if s := byName(want); s != nil {
			return s, strings.ToLower(want), nil
		}
		if g := group(want); len(g) > 0 {
			return g, strings.ToLower(want), nil
		}
		return nil, "", &IniError{File: f.name, Msg: fmt.Sprintf("no watcher %q; the file has: %s", want, strings.Join(names, ", "))}
	}
	if len(all) == 1 {
		return all, strings.ToLower(names[0]), nil
	}
	if base, ok := strings.CutSuffix(names[0], "-0"); ok {
		if g := group(base); len(g) == len(all) {
			return g, strings.ToLower(base), nil
		}
	}
	var fed []int
	for i, s := range all {
		if o := s.get("cmd"); o != nil && socketRefRE.MatchString(o.value+" "+optValue(s, "args")) {
			fed = append(fed, i)
		}
	}
	if len(fed) == 1 {
		return all[fed[0] : fed[0]+1], strings.ToLower(names[fed[0]]), nil
	}
	return nil, "", &IniError{File: f.name, Msg: fmt.Sprintf("the file has watchers %s; whisgee runs one group of workers: choose one with --watcher NAME", strings.Join(names, ", "))}
}

func optValue(s *iniSection, key string) string {
	if o := s.get(key); o != nil {
		return o.value
	}
	return ""
}

// readCommand recognises whisgee's runner and chaussette; anything else
// becomes workers.cmd.
func (im *imported) readCommand(argv []string, line int, bad func(int, string, ...any) error) error {
	flag := func(args []string, name string) (string, bool) {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	for i, w := range argv {
		if filepath.Base(w) != "whisgee_runner.py" {
			continue
		}
		rest := argv[i+1:]
		if i > 0 {
			im.python = argv[0]
		}
		var ok bool
		if im.module, ok = flag(rest, "--app"); !ok {
			return bad(line, "cmd runs whisgee_runner.py without --app MODULE:CALLABLE")
		}
		im.server, _ = flag(rest, "--server")
		if d, ok := flag(rest, "--dir"); ok {
			im.dir = d
		}
		return nil
	}
	if filepath.Base(argv[0]) == "chaussette" {
		im.server = "chaussette"
		var app string
		for i := 1; i < len(argv); i++ {
			a := argv[i]
			switch {
			case a == "--fd" || a == "--backend" || a == "--host" || a == "--port" || a == "--backlog" || a == "--pre-hook" || a == "--post-hook" || a == "--python-path" || a == "--log-level" || a == "--log-output":
				if a == "--backend" && i+1 < len(argv) {
					im.notes = append(im.notes, fmt.Sprintf("line %d: chaussette --backend %s: whisgee's runner picks chaussette's backend itself (waitress when installed)", line, argv[i+1]))
				}
				i++
			case strings.HasPrefix(a, "-"):
			default:
				app = a
			}
		}
		if app == "" {
			return bad(line, "cmd runs chaussette without an application")
		}
		if !strings.Contains(app, ":") {
			if dot := strings.LastIndexByte(app, '.'); dot > 0 {
				app = app[:dot] + ":" + app[dot+1:]
			}
		}
		im.module = app
		// A chaussette in a virtualenv's bin/ means that venv's python.
		for _, py := range []string{"python3", "python"} {
			p := filepath.Join(filepath.Dir(argv[0]), py)
			if filepath.IsAbs(p) && filepath.Dir(argv[0]) != "/usr/bin" {
				if _, err := os.Stat(p); err == nil {
					im.python = p
					break
				}
			}
		}
		return nil
	}
	im.cmd = argv
	return nil
}

// unimportedNote words a watcher option whisgee does not import, or ""
// for the ones it does (or that need no counterpart).
func unimportedNote(section string, o iniOption) string {
	switch o.key {
	case "cmd", "args", "numprocesses", "working_dir", "stop_signal", "graceful_timeout", "max_retry",
		"use_sockets", "copy_env", "copy_path", "respawn", "autostart", "close_child_stdin", "priority":
		return ""
	case "shell":
		if b, _ := strconv.ParseBool(o.value); b {
			return fmt.Sprintf("line %d: shell = %s: whisgee never runs a shell; the command runs as an argument list", o.line, o.value)
		}
		return ""
	case "warmup_delay":
		if o.value == "0" {
			return ""
		}
		return fmt.Sprintf("line %d: warmup_delay = %s: whisgee starts workers without a pause and checks their health instead", o.line, o.value)
	}
	if strings.HasPrefix(o.key, "stdout_stream.") || strings.HasPrefix(o.key, "stderr_stream.") {
		return fmt.Sprintf("line %d: %s = %s: whisgee keeps each worker's output in memory (`whisgee ctl logs`); workers.log_dir also writes it to files", o.line, o.key, o.value)
	}
	return fmt.Sprintf("line %d: [%s] %s = %s has no whisgee counterpart", o.line, section, o.key, o.value)
}

// yaml writes the imported settings as a commented whisgee.yaml.
func (im *imported) yaml(source, engine string) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	}
	str := func(s string) *yaml.Node {
		n := &yaml.Node{}
		_ = n.Encode(s)
		return n
	}
	num := func(i int) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)} }
	mapping := func() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }
	envNode := func(env map[string]string) *yaml.Node {
		m := mapping()
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(m, k, str(env[k]))
		}
		return m
	}

	app := mapping()
	if im.module != "" {
		add(app, "module", str(im.module))
	}
	if im.dir != "" {
		add(app, "dir", str(im.dir))
	}
	if im.python != "" {
		add(app, "python", str(im.python))
	}
	if len(app.Content) > 0 {
		add(doc, "app", app)
	}
	w := mapping()
	add(w, "count", num(im.count))
	if im.server != "" && im.server != "auto" {
		add(w, "server", str(im.server))
	}
	if len(im.cmd) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, a := range im.cmd {
			seq.Content = append(seq.Content, str(a))
		}
		add(w, "cmd", seq)
	}
	add(w, "socket", str(im.socket))
	add(w, "stop_signal", str(im.stopSignal))
	add(w, "graceful_timeout", str(im.graceful.String()))
	if im.maxCrashes > 0 {
		cl := mapping()
		add(cl, "max_crashes", num(im.maxCrashes))
		add(w, "crash_loop", cl)
	}
	if len(im.env) > 0 {
		add(w, "env", envNode(im.env))
	}
	add(doc, "workers", w)
	sup := mapping()
	if engine == "circus" {
		add(sup, "engine", str("circus"))
		add(sup, "endpoint", str(im.endpoint))
		if im.pubsub != "" {
			add(sup, "pubsub", str(im.pubsub))
		}
		add(sup, "watcher", str(im.watcher))
	} else if im.endpoint != "" {
		add(sup, "circus_endpoint", str(im.endpoint))
		sup.Content[0].HeadComment = "circusctl and scripts keep working: whisgee answers circus's protocol here"
	}
	if len(sup.Content) > 0 {
		add(doc, "supervisor", sup)
	}
	doc.HeadComment = "whisgee.yaml imported from " + source + " by `whisgee circus import`."
	if len(im.notes) > 0 {
		doc.FootComment = "Not imported from " + source + ":\n- " + strings.Join(im.notes, "\n- ")
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
