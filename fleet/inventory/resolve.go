package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// finish reconciles the inventory and resolves every host.
func (b *builder) finish(path string) (*Inventory, error) {
	if err := b.reconcile(); err != nil {
		return nil, &ParseError{File: path, Msg: err.Error()}
	}
	inv := &Inventory{path: path, byName: map[string]int{}, groupAt: map[string]int{}, warnings: b.warnings}
	sets := newGroupSets()
	shared := map[string]*groupView{} // hosts listed in the same groups share one
	pairs := 0
	for i, h := range b.hosts {
		key := listKey(h)
		view := shared[key]
		if view == nil {
			view = b.newGroupView(sets.hostGroups(h))
			shared[key] = view
		}
		vars := make(map[string]any, len(view.vars)+len(h.vars)+len(h.fileVars))
		for _, m := range []map[string]any{view.vars, h.vars, h.fileVars} {
			for k, v := range m {
				vars[k] = v
			}
		}
		if pairs += len(view.names) + len(vars); pairs > maxPairs {
			return nil, &ParseError{File: path, Msg: fmt.Sprintf("too large: more than %d host-group memberships and host variables", maxPairs)}
		}
		out, err := resolveHost(h.name, vars)
		if err != nil {
			return nil, &ParseError{File: path, Msg: err.Error()}
		}
		out.Groups = append([]string(nil), view.names...)
		inv.hosts = append(inv.hosts, out)
		inv.byName[h.name] = i
	}
	for i, g := range b.groups {
		pub := Group{Name: g.name, Vars: map[string]any{}}
		for _, h := range g.hosts {
			pub.Hosts = append(pub.Hosts, h.name)
		}
		for _, c := range g.children {
			pub.Children = append(pub.Children, c.name)
		}
		for k, v := range g.vars {
			pub.Vars[k] = v
		}
		for k, v := range g.fileVars {
			pub.Vars[k] = v
		}
		inv.groups = append(inv.groups, pub)
		inv.groupAt[g.name] = i
	}
	return inv, nil
}

// groupView is what the groups a host is in give it: their names
// (without all, sorted) and their variables merged.
type groupView struct {
	names []string
	vars  map[string]any
}

func (b *builder) newGroupView(groups map[*group]struct{}) *groupView {
	v := &groupView{vars: b.groupVars(groups)}
	for g := range groups {
		if g.name != "all" {
			v.names = append(v.names, g.name)
		}
	}
	sort.Strings(v.names)
	return v
}

// groupHosts is the hosts of a group and of its descendants, breadth
// first, each once (Ansible's Group.get_hosts).
func (inv *Inventory) groupHosts(name string) []int {
	start := inv.groupAt[name]
	order := []int{start}
	seen := map[int]bool{start: true}
	hostSeen := map[int]bool{}
	var out []int
	for i := 0; i < len(order); i++ {
		g := &inv.groups[order[i]]
		for _, h := range g.Hosts {
			if j := inv.byName[h]; !hostSeen[j] {
				hostSeen[j] = true
				out = append(out, j)
			}
		}
		for _, c := range g.Children {
			if k := inv.groupAt[c]; !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	return out
}

// resolveHost reads the connection variables out of a host's variables.
func resolveHost(name string, vars map[string]any) (Host, error) {
	h := Host{Name: name, Address: name, Vars: vars}
	str := func(keys ...string) (string, error) {
		val := ""
		for _, k := range keys { // the last one set wins, as in Ansible
			v, ok := vars[k]
			if !ok || v == nil {
				continue
			}
			s := fmt.Sprint(v)
			if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
				return "", fmt.Errorf("host %s: %s is a Jinja template (%q), which whisgee does not evaluate; give the value itself", name, k, s)
			}
			val = s
		}
		return val, nil
	}
	addr, err := str("ansible_host", "ansible_ssh_host")
	if err != nil {
		return Host{}, err
	}
	if addr != "" {
		h.Address = addr
	}
	if h.User, err = str("ansible_user", "ansible_ssh_user"); err != nil {
		return Host{}, err
	}
	if h.IdentityFile, err = str("ansible_private_key_file", "ansible_ssh_private_key_file"); err != nil {
		return Host{}, err
	}
	port, err := str("ansible_port", "ansible_ssh_port")
	if err != nil {
		return Host{}, err
	}
	if port != "" {
		p, ok := pyInt(port)
		if !ok || p < 1 || p > 65535 {
			return Host{}, fmt.Errorf("host %s: ansible_port %q is not a port number (1-65535)", name, port)
		}
		h.Port = p
	}
	for _, k := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		s, err := str(k)
		if err != nil {
			return Host{}, err
		}
		args, err := splitSSHArgs(s)
		if err != nil {
			return Host{}, fmt.Errorf("host %s: %s: %v", name, k, err)
		}
		h.SSHArgs = append(h.SSHArgs, args...)
	}
	return h, nil
}

// toInt reads an int out of a variable: a number or its text.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case float64:
		return int(n), true
	case string:
		return pyInt(n)
	}
	return 0, false
}
