package inventory

import (
	"fmt"
)

// parseYAML reads Ansible's YAML inventory format as
// plugins/inventory/yaml.py does: top-level keys are groups, each with
// optional hosts, children and vars.
func (b *builder) parseYAML(data []byte) error {
	doc, err := decodeYAML(b.file, data)
	if err != nil {
		return err
	}
	fail := func(v value, format string, args ...any) error {
		return &ParseError{File: b.file, Line: v.line, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case !doc.isMap && !doc.isSeq && doc.scalar == nil, doc.isMap && len(doc.keys) == 0:
		return fail(doc, "the YAML inventory is empty")
	case !doc.isMap:
		return fail(doc, "a YAML inventory is a mapping of groups (all: {hosts: ..., children: ...}), not a %s", kindName(doc))
	}
	if p, ok := doc.get("plugin"); ok && truthy(p) {
		return fail(p, "this is an inventory plugin's configuration, which whisgee cannot run; give a static inventory")
	}
	for i, k := range doc.keys {
		if _, err := b.yamlGroup(k, doc.items[i], fail); err != nil {
			return err
		}
	}
	return nil
}

func kindName(v value) string {
	switch {
	case v.isSeq:
		return "list"
	case v.isMap:
		return "mapping"
	}
	return fmt.Sprintf("scalar (%v)", v.scalar)
}

// truthy is Python's truth of a value.
func truthy(v value) bool {
	switch {
	case v.isMap:
		return len(v.keys) > 0
	case v.isSeq:
		return len(v.items) > 0
	}
	switch s := v.scalar.(type) {
	case nil:
		return false
	case bool:
		return s
	case int:
		return s != 0
	case float64:
		return s != 0
	case string:
		return s != ""
	}
	return true
}

type failFunc func(v value, format string, args ...any) error

// yamlGroup is _parse_group: it adds the group named by key with its
// vars, children and hosts, and returns its name. A group whose data is
// not a mapping is skipped with a warning, as Ansible skips it.
func (b *builder) yamlGroup(key, data value, fail failFunc) (string, error) {
	name, ok := key.scalar.(string)
	if !ok || key.isMap || key.isSeq {
		return "", fail(key, "group name %v is not a string; quote it", key.scalar)
	}
	if !data.isNullOrMap() {
		b.warnings = append(b.warnings, fmt.Sprintf("%s:%d: skipping %q: a group is a mapping (hosts, children, vars)", b.file, data.line, name))
		return name, nil
	}
	if name == "" {
		return "", fail(key, "empty group name")
	}
	g, err := b.addGroup(name)
	if err != nil {
		return "", fail(key, "%v", err)
	}
	if !data.isMap {
		return name, nil
	}
	for i, k := range data.keys {
		sec, v := k.scalar, data.items[i]
		if s, isStr := v.scalar.(string); (sec == "vars" || sec == "children" || sec == "hosts") && isStr && !v.isMap && !v.isSeq {
			// A lone name stands for a mapping of it to nothing.
			v = value{line: v.line, isMap: true, keys: []value{{line: v.line, scalar: s}}, items: []value{{line: v.line}}}
			data.items[i] = v
		}
		if sec == "vars" || sec == "children" || sec == "hosts" {
			if !v.isNullOrMap() {
				return "", fail(v, "%q of group %s must be a mapping, not a %s", sec, name, kindName(v))
			}
		}
	}
	for i, k := range data.keys {
		v := data.items[i]
		if !v.isNullOrMap() {
			b.warnings = append(b.warnings, fmt.Sprintf("%s:%d: skipping key %v in group %s: not a mapping", b.file, v.line, k.scalar, name))
			continue
		}
		if !v.isMap {
			continue
		}
		var err error
		switch k.scalar {
		case "vars":
			for j, vk := range v.keys {
				key, _ := jsonKey(vk.scalar)
				if err = b.setGroupVar(g, key, v.items[j].plain()); err != nil {
					err = fail(vk, "%v", err)
					break
				}
			}
		case "children":
			err = b.yamlChildren(g, v, fail)
		case "hosts":
			err = b.yamlHosts(g, v, fail)
		default:
			b.warnings = append(b.warnings, fmt.Sprintf("%s:%d: skipping key %v in group %s: only hosts, children and vars are read", b.file, k.line, k.scalar, name))
		}
		if err != nil {
			return "", err
		}
	}
	return name, nil
}

func (b *builder) yamlChildren(g *group, v value, fail failFunc) error {
	for j, ck := range v.keys {
		child, err := b.yamlGroup(ck, v.items[j], fail)
		if err != nil {
			return err
		}
		// A child skipped for its data is no group; Ansible then adds a
		// host of that name, or fails.
		if cg := b.groupBy[child]; cg != nil {
			err = b.addChild(g, cg)
		} else if h := b.hostBy[child]; h != nil {
			_, err = b.addHost(child, g, -1)
		} else {
			err = fmt.Errorf("%s is not a known host nor group", child)
		}
		if err != nil {
			return fail(ck, "%v", err)
		}
	}
	return nil
}

func (b *builder) yamlHosts(g *group, v value, fail failFunc) error {
	for j, hk := range v.keys {
		pattern, ok := hk.scalar.(string)
		if !ok {
			return fail(hk, "host pattern %v must be a string; enclose numbers in quotation marks", hk.scalar)
		}
		names, port, err := expandHostPattern(pattern, &b.budget)
		if err != nil {
			return fail(hk, "%v", err)
		}
		hv := v.items[j]
		if !hv.isNullOrMap() {
			return fail(hv, "the variables of host %s must be a mapping, not a %s", pattern, kindName(hv))
		}
		// The expanded hosts share the variables' values (read-only).
		vars := map[string]any{}
		for i, vk := range hv.keys {
			key, _ := jsonKey(vk.scalar)
			vars[key] = hv.items[i].plain()
		}
		for _, n := range names {
			h, err := b.addHost(n, g, port)
			if err != nil {
				return fail(hk, "%v", err)
			}
			for k, v := range vars {
				h.vars[k] = v
			}
		}
	}
	return nil
}
