package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// The inventories of testdata/ against Ansible itself: for each, what
// ansible-inventory --list reports (hosts, groups with their hosts and
// children, every host's variables) and what each host pattern selects
// (ansible-playbook --list-hosts, one play per pattern) must be what this
// package makes of them.

// commonPatterns are tried on every inventory, beyond its own group and
// host names.
var commonPatterns = []string{
	"all", "*", "ungrouped", "nope", "all:!nope", "web:db", "web,db", "web:&prod", "web:!web01*",
	"web[0]", "web[1:]", "web[-1]", "web[0:1]", "web[9]", "~db-[ab]", "~(web|db)", "w*", "*.example.com",
	"&web", "!web", "web:nope", "db[0]:web[1]", "*[!a-m]*", "web0[1-2]*", "[dw]*",
}

var ansibleFixtures = []struct {
	file     string
	patterns []string
	ordered  bool // one level of groups: Ansible's own order is stable
}{
	{file: "basic.ini", ordered: true, patterns: []string{"10.0.0.9", "db-x:&db", "db:!db-b", "web:&all:!alpha"}},
	{file: "nested.ini", patterns: []string{"prod", "dc:!staging", "prod:&staging", "shared", "web-staging[0]", "db[1:]", "d*"}},
	{file: "basic.yml", patterns: []string{"db", "db_replicas", "canary:web", "host.with.port", "db:!db_replicas", "repl*"}},
	{file: "web.json", ordered: true, patterns: []string{"w1", "db:web"}},
	{file: "noext-yaml", ordered: true, patterns: []string{"a*", "db"}},
	{file: "withvars/hosts", ordered: true, patterns: []string{"db1"}},
	{file: "hostlist.yml", ordered: true, patterns: []string{"h*"}},
}

// ansibleEnv keeps Ansible's writes in a temp dir and off the user's and
// the machine's configuration, and makes an unparsable inventory fail
// rather than come out empty.
func ansibleEnv(t *testing.T) []string {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"HOME="+dir, "ANSIBLE_CONFIG="+cfg, "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"),
		"ANSIBLE_INVENTORY_UNPARSED_FAILED=1", "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_DEPRECATION_WARNINGS=0", "ANSIBLE_HOST_PATTERN_MISMATCH=warning")
}

func runAnsible(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestInventoriesReadAsAnsibleReadsThem(t *testing.T) {
	testenv.Tool(t, "ansible-inventory", "apt-get install ansible")
	testenv.Tool(t, "ansible-playbook", "apt-get install ansible")
	env := ansibleEnv(t)
	for _, fx := range ansibleFixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := filepath.Join("testdata", fx.file)
			inv, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			out, stderr, err := runAnsible(t, env, "ansible-inventory", "-i", path, "--list")
			if err != nil {
				t.Fatalf("ansible-inventory: %v\n%s", err, stderr)
			}
			compareList(t, inv, out)
			patterns := append(append([]string{}, commonPatterns...), fx.patterns...)
			for _, g := range inv.Groups() {
				patterns = append(patterns, g.Name)
			}
			for _, h := range inv.Hosts() {
				patterns = append(patterns, h.Name)
			}
			comparePatterns(t, env, inv, path, patterns)
			if fx.ordered {
				compareOrder(t, env, inv, path, []string{"all"})
			}
		})
	}
}

// compareList holds the inventory against ansible-inventory --list.
func compareList(t *testing.T, inv *Inventory, out string) {
	t.Helper()
	var list map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("ansible-inventory output: %v\n%s", err, out)
	}
	var meta struct {
		HostVars map[string]json.RawMessage `json:"hostvars"`
	}
	json.Unmarshal(list["_meta"], &meta)
	// Every host is in some group's hosts (hostvars leaves out hosts
	// without variables).
	seen := map[string]bool{}
	var want, got []string
	for name, raw := range list {
		var ag struct{ Hosts []string }
		json.Unmarshal(raw, &ag)
		for _, h := range ag.Hosts {
			if name != "_meta" && !seen[h] {
				seen[h] = true
				want = append(want, h)
			}
		}
	}
	for _, h := range inv.Hosts() {
		got = append(got, h.Name)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !equalStrings(got, want) {
		t.Errorf("hosts:\n got %q\nwant %q (ansible-inventory)", got, want)
	}
	for _, h := range inv.Hosts() {
		raw, ok := meta.HostVars[h.Name]
		if !ok {
			raw = json.RawMessage("{}")
		}
		compareVars(t, h, raw)
	}
	groups := map[string]Group{}
	for _, g := range inv.Groups() {
		groups[g.Name] = g
		if _, listed := list[g.Name]; !listed && (len(g.Hosts) > 0 || len(g.Children) > 0) {
			t.Errorf("group %s (hosts %q, children %q) is not in ansible-inventory's list", g.Name, g.Hosts, g.Children)
		}
	}
	for name, raw := range list {
		if name == "_meta" {
			continue
		}
		var ag struct{ Hosts, Children []string }
		json.Unmarshal(raw, &ag)
		g, ok := groups[name]
		if !ok {
			t.Errorf("ansible-inventory has group %s, the package has not", name)
			continue
		}
		// Ansible lists no hosts under all, even hosts put there directly.
		if name != "all" && !equalStrings(g.Hosts, ag.Hosts) {
			t.Errorf("group %s hosts:\n got %q\nwant %q", name, g.Hosts, ag.Hosts)
		}
		if !equalStrings(g.Children, ag.Children) {
			t.Errorf("group %s children:\n got %q\nwant %q", name, g.Children, ag.Children)
		}
	}
}

// compareVars holds a host's variables and connection fields against
// Ansible's hostvars, types included (5 is not "5", 1500.0 is a float).
func compareVars(t *testing.T, h Host, raw json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var want map[string]any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		g, ok := h.Vars[k]
		if !ok {
			t.Errorf("host %s: no variable %s; Ansible has %v", h.Name, k, w)
			continue
		}
		if d := diffValue(g, w); d != "" {
			t.Errorf("host %s: %s = %#v; Ansible has %v (%s)", h.Name, k, g, w, d)
		}
	}
	for k, g := range h.Vars {
		if _, ok := want[k]; !ok {
			t.Errorf("host %s: variable %s = %#v, which Ansible does not have", h.Name, k, g)
		}
	}
	addr := h.Name
	if a, ok := want["ansible_host"].(string); ok {
		addr = a
	}
	if h.Address != addr {
		t.Errorf("host %s: Address %q, Ansible connects to %q", h.Name, h.Address, addr)
	}
	port := 0
	if p, ok := want["ansible_port"].(json.Number); ok {
		n, _ := p.Int64()
		port = int(n)
	}
	if h.Port != port {
		t.Errorf("host %s: Port %d, Ansible's ansible_port is %v", h.Name, h.Port, want["ansible_port"])
	}
	if u, _ := want["ansible_user"].(string); h.User != u {
		t.Errorf("host %s: User %q, Ansible's ansible_user is %q", h.Name, h.User, u)
	}
}

// diffValue compares a Go value with a JSON one decoded with UseNumber.
func diffValue(got, want any) string {
	switch w := want.(type) {
	case json.Number:
		if strings.ContainsAny(w.String(), ".eE") {
			f, _ := w.Float64()
			if g, ok := got.(float64); !ok || g != f {
				return "want the float " + w.String()
			}
			return ""
		}
		n, _ := w.Int64()
		if g, ok := got.(int); !ok || int64(g) != n {
			return "want the int " + w.String()
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return "want a list of " + fmt.Sprint(len(w))
		}
		for i := range w {
			if d := diffValue(g[i], w[i]); d != "" {
				return fmt.Sprintf("[%d]: %s", i, d)
			}
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return "want a mapping of " + fmt.Sprint(len(w))
		}
		for k := range w {
			if d := diffValue(g[k], w[k]); d != "" {
				return k + ": " + d
			}
		}
	default:
		if got != want {
			return fmt.Sprintf("want %T %v", want, want)
		}
	}
	return ""
}

var (
	playHeader = regexp.MustCompile(`^\s*play #(\d+) `)
	hostsLine  = regexp.MustCompile(`^\s*hosts \((\d+)\):`)
	unmatched  = regexp.MustCompile(`Could not match supplied host pattern, ignoring: (.*)`)
	subscriptE = regexp.MustCompile(`No hosts matched the subscripted pattern '([^']*)'`)
)

// comparePatterns selects each pattern with Select and with
// ansible-playbook --list-hosts (a play per pattern; it prints the hosts
// in no set order, so sets are compared). A pattern Ansible warns it
// cannot match must be an error here that names the part.
func comparePatterns(t *testing.T, env []string, inv *Inventory, path string, patterns []string) {
	t.Helper()
	out, stderr, playable := listHosts(t, env, inv, path, patterns)
	warned := map[string]bool{}
	for _, m := range unmatched.FindAllStringSubmatch(stderr, -1) {
		warned[strings.TrimSpace(m[1])] = true
	}
	lists := map[int][]string{}
	play := -1
	for _, line := range strings.Split(out, "\n") {
		if m := playHeader.FindStringSubmatch(line); m != nil {
			fmt.Sscan(m[1], &play)
			play--
			lists[play] = []string{}
			continue
		}
		if play >= 0 && !hostsLine.MatchString(line) && strings.HasPrefix(line, "      ") && strings.TrimSpace(line) != "" {
			lists[play] = append(lists[play], strings.TrimSpace(line))
		}
	}
	for i, p := range playable {
		want, ok := lists[i]
		if !ok {
			t.Errorf("pattern %q: no play #%d in ansible-playbook's output", p, i+1)
			continue
		}
		got, err := inv.Select(p)
		var bad []string
		for _, part := range splitHostPattern(p) {
			// Ansible names the part without its [subscript].
			part = strings.TrimLeft(part, "&!")
			if m := subscripted.FindStringSubmatch(part); m != nil && part[0] != '~' {
				part = m[1]
			}
			if warned[part] {
				bad = append(bad, part)
			}
		}
		if len(bad) > 0 {
			if err == nil {
				t.Errorf("pattern %q: Ansible cannot match %q, Select gave %d hosts and no error", p, bad, len(got))
			} else if !mentionsAny(err.Error(), bad) {
				t.Errorf("pattern %q: error %q names none of %q", p, err, bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("pattern %q: %v; Ansible selects %q", p, err, want)
			continue
		}
		names := hostNames(got)
		sort.Strings(names)
		sort.Strings(want)
		if !equalStrings(names, want) {
			t.Errorf("pattern %q:\n got %q\nwant %q (ansible-playbook --list-hosts)", p, names, want)
		}
	}
}

// listHosts runs ansible-playbook --list-hosts with a play per pattern.
// An index out of range fails the whole run: such a pattern must fail
// Select too, and the run is repeated without it.
func listHosts(t *testing.T, env []string, inv *Inventory, path string, patterns []string) (out, stderr string, playable []string) {
	t.Helper()
	playable = patterns
	for {
		var pb strings.Builder
		for i, p := range playable {
			q, _ := json.Marshal(p)
			fmt.Fprintf(&pb, "- name: p%d\n  hosts: %s\n  gather_facts: false\n  tasks: []\n", i, q)
		}
		book := filepath.Join(t.TempDir(), "pb.yml")
		if err := os.WriteFile(book, []byte(pb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := runAnsible(t, env, "ansible-playbook", "-i", path, "--list-hosts", book)
		if err == nil {
			return out, stderr, playable
		}
		m := subscriptE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("ansible-playbook --list-hosts: %v\n%s\n%s", err, out, stderr)
		}
		var rest []string
		for _, p := range playable {
			if !strings.Contains(p, m[1]) {
				rest = append(rest, p)
				continue
			}
			if _, selErr := inv.Select(p); selErr == nil || !strings.Contains(selErr.Error(), m[1]) {
				t.Errorf("pattern %q: Ansible fails (%s); Select: %v", p, m[0], selErr)
			}
		}
		if len(rest) == len(playable) {
			t.Fatalf("ansible-playbook fails on %q, which no pattern holds", m[1])
		}
		playable = rest
	}
}

// compareOrder holds Select's order against `ansible --list-hosts`, for
// inventories one level deep (deeper, Ansible's order rests on a set).
func compareOrder(t *testing.T, env []string, inv *Inventory, path string, patterns []string) {
	t.Helper()
	for _, p := range patterns {
		out, stderr, err := runAnsible(t, env, "ansible", "-i", path, p, "--list-hosts")
		if err != nil {
			t.Fatalf("ansible %s --list-hosts: %v\n%s", p, err, stderr)
		}
		if unmatched.MatchString(stderr) {
			continue
		}
		var want []string
		for _, line := range strings.Split(out, "\n")[1:] {
			if s := strings.TrimSpace(line); s != "" {
				want = append(want, s)
			}
		}
		got, err := inv.Select(p)
		if err != nil {
			t.Errorf("pattern %q: %v", p, err)
			continue
		}
		if names := hostNames(got); !equalStrings(names, want) {
			t.Errorf("pattern %q order:\n got %q\nwant %q (ansible --list-hosts)", p, names, want)
		}
	}
}

func hostNames(hs []Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mentionsAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
