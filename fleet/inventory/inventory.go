// Package inventory reads Ansible inventories, so an operator keeps one
// list of hosts for Ansible and for whisgee's fleet commands (the fleet
// dashboard, `whisgee ctl -i`, the Prometheus targets file).
//
// It reads Ansible's own formats as Ansible 2.14 does: INI (groups,
// [group:children], [group:vars], inline host variables read as Python
// literals, host ranges such as web[01:50].example.com and db-[a:c],
// host:port) and YAML (all/hosts/children/vars, YAML 1.1 scalars as
// PyYAML reads them), with group_vars/ and host_vars/ beside the file, the
// implicit groups all and ungrouped, and Ansible's variable precedence.
// Select takes Ansible's host patterns:
//
//	inv, err := inventory.Load("inventory.ini")
//	if err != nil {
//		return err // "inventory.ini:12: ..." names the file and line
//	}
//	hosts, err := inv.Select("web:&prod:!web03*")
//	for _, h := range hosts {
//		fmt.Println(h.Name, h.Address, h.Port, h.User)
//	}
//
// What it does not do: Jinja templates (a connection variable holding one
// is an error, since whisgee cannot evaluate it), vault-encrypted values,
// inventory scripts and plugins, directories of inventory files, and the
// implicit localhost Ansible invents when a pattern names it.
package inventory

import "fmt"

// Host is one inventory host with its variables resolved as Ansible
// resolves them (ansible-inventory --host NAME).
type Host struct {
	// Name is the inventory name (inventory_hostname).
	Name string
	// Address is what ssh connects to: ansible_host (or the older
	// ansible_ssh_host, which wins as it does in Ansible), else Name.
	Address string
	// Port is ansible_port (or ansible_ssh_port, or host:PORT in the
	// inventory). If zero, none is set: ssh and ~/.ssh/config decide.
	Port int
	// User is ansible_user (or ansible_ssh_user). If empty, ssh decides.
	User string
	// IdentityFile is ansible_private_key_file (or
	// ansible_ssh_private_key_file). If empty, ssh decides.
	IdentityFile string
	// SSHArgs are ansible_ssh_common_args then ansible_ssh_extra_args,
	// split into arguments as Ansible splits them.
	SSHArgs []string
	// Vars are all of the host's variables, group variables merged in by
	// Ansible's precedence: string, int, float64, bool, nil, []any or
	// map[string]any values. Hosts share list and map values: read them,
	// do not change them.
	Vars map[string]any
	// Groups lists every group the host is in, directly or through a
	// child group, sorted, without "all" (Ansible's group_names).
	Groups []string
}

// Group is one inventory group.
type Group struct {
	// Name is the group's name; "all" and "ungrouped" always exist.
	Name string
	// Hosts are the hosts listed in the group itself, in inventory order.
	Hosts []string
	// Children are the group's child groups, in inventory order.
	Children []string
	// Vars are the group's own variables: the inventory file's, then its
	// group_vars/ file's.
	Vars map[string]any
}

// Inventory is a loaded inventory. It is read-only, and safe for
// concurrent use.
type Inventory struct {
	path     string
	hosts    []Host
	byName   map[string]int
	groups   []Group
	groupAt  map[string]int // group name -> index in groups
	warnings []string
}

// Path is the file the inventory was read from.
func (inv *Inventory) Path() string { return inv.path }

// Hosts lists every host, in inventory order.
func (inv *Inventory) Hosts() []Host { return append([]Host(nil), inv.hosts...) }

// Host returns the host of that inventory name.
func (inv *Inventory) Host(name string) (Host, bool) {
	i, ok := inv.byName[name]
	if !ok {
		return Host{}, false
	}
	return inv.hosts[i], true
}

// Groups lists every group, all and ungrouped first.
func (inv *Inventory) Groups() []Group { return append([]Group(nil), inv.groups...) }

// Warnings are what Ansible would warn about and skip (a group that is
// not a mapping, an unknown key in a YAML group, a name used for both a
// group and a host).
func (inv *Inventory) Warnings() []string { return append([]string(nil), inv.warnings...) }

// ParseError is an inventory line Ansible would refuse.
type ParseError struct {
	// File is the inventory (or group_vars/host_vars) file.
	File string
	// Line is the 1-based line, 0 when the error is not about one line.
	Line int
	// Msg says what is wrong.
	Msg string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}
