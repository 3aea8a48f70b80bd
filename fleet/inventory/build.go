package inventory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits on what one inventory may hold. Ansible has none; these are far
// above any fleet, and keep a mistyped range (h[0:999999999]) or an alias
// bomb an error instead of all of the machine's memory.
const (
	maxGroups = 10000
	maxEdges  = 50000   // [parent:children] links
	maxPairs  = 4 << 20 // host-group memberships plus resolved host variables
)

// group and host are the inventory as Ansible's InventoryData builds it.
type group struct {
	id       int // its place in builder.groups
	name     string
	hosts    []*host
	hostSet  map[*host]bool
	children []*group
	childSet map[*group]bool
	parents  []*group
	vars     map[string]any // from the inventory file
	fileVars map[string]any // from group_vars/
	priority int
	depth    int
}

type host struct {
	name     string
	vars     map[string]any
	fileVars map[string]any // from host_vars/
	direct   []*group
}

// builder collects groups and hosts in the order Ansible adds them.
type builder struct {
	file     string
	groups   []*group
	groupBy  map[string]*group
	hosts    []*host
	hostBy   map[string]*host
	budget   int // host names still allowed (maxNames)
	edges    int
	warnings []string
}

func newBuilder(file string) *builder {
	b := &builder{file: file, groupBy: map[string]*group{}, hostBy: map[string]*host{}, budget: maxNames}
	all, _ := b.addGroup("all")
	ungrouped, _ := b.addGroup("ungrouped")
	b.addChild(all, ungrouped)
	return b
}

func (b *builder) addGroup(name string) (*group, error) {
	if g := b.groupBy[name]; g != nil {
		return g, nil
	}
	if len(b.groups) >= maxGroups {
		return nil, fmt.Errorf("more than %d groups", maxGroups)
	}
	g := &group{id: len(b.groups), name: name, vars: map[string]any{}, priority: 1, hostSet: map[*host]bool{}, childSet: map[*group]bool{}}
	b.groups = append(b.groups, g)
	b.groupBy[name] = g
	return g, nil
}

// addHost adds a host to g; port (when >= 0) is set only where the host
// is first seen, as Ansible does.
func (b *builder) addHost(name string, g *group, port int) (*host, error) {
	if name == "" {
		return nil, fmt.Errorf("empty host name")
	}
	h := b.hostBy[name]
	if h == nil {
		if len(b.hosts) >= maxHosts {
			return nil, errTooManyHosts
		}
		h = &host{name: name, vars: map[string]any{}}
		if port >= 0 {
			h.vars["ansible_port"] = port
		}
		b.hosts = append(b.hosts, h)
		b.hostBy[name] = h
	}
	if g != nil && !g.hostSet[h] {
		g.hostSet[h] = true
		g.hosts = append(g.hosts, h)
		h.direct = append(h.direct, g)
	}
	return h, nil
}

// addChild makes child a child group of parent, refusing a loop.
func (b *builder) addChild(parent, child *group) error {
	if parent == child {
		return fmt.Errorf("group %s cannot be its own child", parent.name)
	}
	if parent.childSet[child] {
		return nil
	}
	if b.edges++; b.edges > maxEdges {
		return fmt.Errorf("more than %d child group links", maxEdges)
	}
	if _, loop := ancestors(parent)[child]; loop {
		return fmt.Errorf("adding group '%s' as child to '%s' creates a recursive dependency loop", child.name, parent.name)
	}
	parent.childSet[child] = true
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
	return nil
}

// setGroupVar is Group.set_variable: ansible_group_priority is the
// group's priority, not a variable.
func (b *builder) setGroupVar(g *group, key string, v any) error {
	if key == "ansible_group_priority" {
		p, ok := toInt(v)
		if !ok {
			return fmt.Errorf("ansible_group_priority of group %s: %v is not a number", g.name, v)
		}
		g.priority = p
		return nil
	}
	g.vars[key] = v
	return nil
}

// ancestors is every group above g.
func ancestors(g *group) map[*group]struct{} {
	seen := map[*group]struct{}{}
	stack := append([]*group(nil), g.parents...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[p]; ok {
			continue
		}
		seen[p] = struct{}{}
		stack = append(stack, p.parents...)
	}
	return seen
}

// groupSets works out which groups hosts are in. Hosts listed in the
// same groups (the hosts of one range, say) share the answer.
type groupSets struct {
	up     map[*group][]*group // a group and its ancestors
	byList map[string]map[*group]struct{}
}

func newGroupSets() *groupSets {
	return &groupSets{up: map[*group][]*group{}, byList: map[string]map[*group]struct{}{}}
}

func (s *groupSets) of(g *group) []*group {
	if up, ok := s.up[g]; ok {
		return up
	}
	up := []*group{g}
	for a := range ancestors(g) {
		up = append(up, a)
	}
	s.up[g] = up
	return up
}

// listKey names the groups a host is listed in.
func listKey(h *host) string {
	var b strings.Builder
	for _, g := range h.direct {
		b.WriteString(strconv.Itoa(g.id))
		b.WriteByte(',')
	}
	return b.String()
}

// hostGroups is every group h is in, directly or through a descendant.
// The set is shared: read it only.
func (s *groupSets) hostGroups(h *host) map[*group]struct{} {
	key := listKey(h)
	if set, ok := s.byList[key]; ok {
		return set
	}
	set := map[*group]struct{}{}
	for _, g := range h.direct {
		for _, a := range s.of(g) {
			set[a] = struct{}{}
		}
	}
	s.byList[key] = set
	return set
}

// reconcile is InventoryData.reconcile_inventory: every group without a
// parent goes under all; a host in no group but all goes to ungrouped,
// and leaves ungrouped when it is in another group.
func (b *builder) reconcile() error {
	all, ungrouped := b.groupBy["all"], b.groupBy["ungrouped"]
	for _, g := range b.groups {
		if g != all && len(g.parents) == 0 {
			if err := b.addChild(all, g); err != nil {
				return err
			}
		}
	}
	sets := newGroupSets()
	leave := map[*host]bool{}
	for _, h := range b.hosts {
		mine := sets.hostGroups(h)
		if _, in := mine[ungrouped]; in {
			for g := range mine {
				if g != all && g != ungrouped {
					leave[h] = true
					break
				}
			}
			continue
		}
		if _, inAll := mine[all]; len(mine) == 0 || len(mine) == 1 && inAll {
			b.addHost(h.name, ungrouped, -1)
		}
	}
	if len(leave) > 0 {
		kept := ungrouped.hosts[:0:0]
		for _, h := range ungrouped.hosts {
			if !leave[h] {
				kept = append(kept, h)
				continue
			}
			delete(ungrouped.hostSet, h)
			h.direct = without(h.direct, ungrouped)
		}
		ungrouped.hosts = kept
	}
	b.setDepths()
	for _, h := range b.hosts {
		if b.groupBy[h.name] != nil {
			b.warnings = append(b.warnings, "found both group and host with same name: "+h.name)
		}
	}
	return nil
}

func without(gs []*group, g *group) []*group {
	out := gs[:0:0]
	for _, x := range gs {
		if x != g {
			out = append(out, x)
		}
	}
	return out
}

// setDepths gives each group its depth: the longest chain of parents
// above it (all is 0). Depth orders group variables: deeper wins. Groups
// are visited parents first, so no recursion is needed.
func (b *builder) setDepths() {
	pending := map[*group]int{}
	var ready []*group
	for _, g := range b.groups {
		g.depth = 0
		pending[g] = len(g.parents)
		if len(g.parents) == 0 {
			ready = append(ready, g)
		}
	}
	for len(ready) > 0 {
		g := ready[0]
		ready = ready[1:]
		for _, c := range g.children {
			c.depth = max(c.depth, g.depth+1)
			if pending[c]--; pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
}

// sortGroups is Ansible's sort_groups: by depth, priority, then name.
func sortGroups(gs []*group) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.name < b.name
	})
}

// groupVars merges the variables of a host's groups as Ansible's
// VariableManager does (VARIABLE_PRECEDENCE): all's inventory vars, the
// other groups' inventory vars (sorted), group_vars/all, the other groups'
// group_vars files (sorted). The host's own inventory vars, then its
// host_vars/ files, go on top of these.
func (b *builder) groupVars(groups map[*group]struct{}) map[string]any {
	all := b.groupBy["all"]
	var sorted []*group
	for g := range groups {
		if g != all {
			sorted = append(sorted, g)
		}
	}
	sortGroups(sorted)
	out := map[string]any{}
	merge := func(m map[string]any) {
		for k, v := range m {
			out[k] = v
		}
	}
	merge(all.vars)
	for _, g := range sorted {
		merge(g.vars)
	}
	merge(all.fileVars)
	for _, g := range sorted {
		merge(g.fileVars)
	}
	return out
}
