package inventory

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	// iniSection is [group] or [group:kind], then blanks or a # comment.
	iniSection = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	// iniGroupName is one child group name in a [group:children] section.
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

// pendingDecl is a group named in [x:vars] or [x:children] before it is
// declared: Ansible allows that if a declaration follows.
type pendingDecl struct {
	line    int
	state   string
	parents []*group
}

// parseINI reads Ansible's INI format as plugins/inventory/ini.py does.
func (b *builder) parseINI(data []byte) error {
	pending := map[string]*pendingDecl{}
	var pendingOrder []string
	groupName, state := "ungrouped", "hosts"
	for i, raw := range splitLines(string(data)) {
		lineNo := i + 1
		fail := func(format string, args ...any) error {
			return &ParseError{File: b.file, Line: lineNo, Msg: fmt.Sprintf(format, args...)}
		}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := iniSection.FindStringSubmatch(line); m != nil {
			groupName, state = m[1], m[2]
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "children" && state != "vars" {
				return fail("section [%s:%s] has unknown type %q; want hosts, children or vars", m[1], m[2], m[2])
			}
			if _, known := b.groupBy[groupName]; !known {
				if _, p := pending[groupName]; state == "vars" && !p {
					pending[groupName] = &pendingDecl{line: lineNo, state: state}
					pendingOrder = append(pendingOrder, groupName)
				}
				if _, err := b.addGroup(groupName); err != nil {
					return fail("%v", err)
				}
			}
			if d := pending[groupName]; d != nil && state != "vars" {
				if d.state == "children" {
					if err := b.addPendingChildren(groupName, pending); err != nil {
						return fail("%v", err)
					}
				} else {
					delete(pending, groupName)
				}
			}
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			return fail("invalid section entry %q: a section is [group], [group:children] or [group:vars], with no spaces", line)
		}
		var err error
		switch state {
		case "hosts":
			err = b.iniHostLine(line, b.groupBy[groupName])
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return fail("expected key=value in [%s:vars], got %q", groupName, line)
			}
			err = b.setGroupVar(b.groupBy[groupName], strings.TrimSpace(k), iniValue(strings.TrimSpace(v)))
		case "children":
			m := iniGroupName.FindStringSubmatch(line)
			if m == nil {
				return fail("expected a group name in [%s:children], got %q", groupName, line)
			}
			child := m[1]
			if g, known := b.groupBy[child]; known {
				err = b.addChild(b.groupBy[groupName], g)
			} else if d := pending[child]; d != nil {
				d.parents = append(d.parents, b.groupBy[groupName])
			} else {
				pending[child] = &pendingDecl{line: lineNo, state: "children", parents: []*group{b.groupBy[groupName]}}
				pendingOrder = append(pendingOrder, child)
			}
		}
		if err != nil {
			return fail("%v", err)
		}
	}
	// A reference that no declaration resolved: the first one is the error.
	for _, name := range pendingOrder {
		d := pending[name]
		if d == nil {
			continue
		}
		if d.state == "vars" {
			return &ParseError{File: b.file, Line: d.line, Msg: fmt.Sprintf("section [%s:vars] is for a group declared nowhere; declare [%s] or list it under a [parent:children]", name, name)}
		}
		return &ParseError{File: b.file, Line: d.line, Msg: fmt.Sprintf("section [%s:children] names group %s, which is declared nowhere; add a [%s] section", d.parents[len(d.parents)-1].name, name, name)}
	}
	return nil
}

// addPendingChildren attaches a group, now declared, to the parents that
// named it before, and so on up for parents that were pending too.
func (b *builder) addPendingChildren(name string, pending map[string]*pendingDecl) error {
	for _, parent := range pending[name].parents {
		if err := b.addChild(parent, b.groupBy[name]); err != nil {
			return err
		}
		if d := pending[parent.name]; d != nil && d.state == "children" {
			if err := b.addPendingChildren(parent.name, pending); err != nil {
				return err
			}
		}
	}
	delete(pending, name)
	return nil
}

// iniHostLine is one host definition: a name or range, an optional :port,
// then key=value variables.
func (b *builder) iniHostLine(line string, g *group) error {
	tokens, err := shlexSplit(line, true)
	if err != nil {
		return fmt.Errorf("cannot parse host definition %q: %v", line, err)
	}
	if len(tokens) == 0 {
		return fmt.Errorf("no host in %q", line)
	}
	pattern := tokens[0]
	names, port, err := expandHostPattern(pattern, &b.budget)
	if err != nil {
		return err
	}
	if strings.HasSuffix(strings.TrimSpace(pattern), ":") && port < 0 {
		return fmt.Errorf("invalid host pattern %q: a trailing ':' must be followed by a port", pattern)
	}
	for _, n := range names {
		if strings.TrimSpace(n) == "---" {
			return fmt.Errorf("invalid host pattern %q: '---' starts a YAML document; is this file YAML? name it .yml", pattern)
		}
	}
	vars := map[string]any{}
	var keys []string
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("expected key=value host variable, got %q", t)
		}
		if _, seen := vars[k]; !seen {
			keys = append(keys, k)
		}
		vars[k] = iniValue(v)
	}
	for _, n := range names {
		h, err := b.addHost(n, g, port)
		if err != nil {
			return err
		}
		for _, k := range keys {
			h.vars[k] = vars[k]
		}
	}
	return nil
}

// splitLines splits text into lines as Python's str.splitlines() does,
// so that line numbers in errors are the ones Ansible gives.
func splitLines(s string) []string {
	var lines []string
	start := 0
	for i, r := range s {
		switch r {
		case '\n', '\v', '\f', '\x1c', '\x1d', '\x1e', '\u0085', '\u2028', '\u2029':
			if r == '\n' && i > 0 && s[i-1] == '\r' {
				start = i + 1 // the \r before it ended the line
				continue
			}
			lines = append(lines, s[start:i])
			start = i + len(string(r))
		case '\r':
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}
