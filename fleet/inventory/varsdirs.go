package inventory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// varsExtensions are the vars files Ansible reads (C.YAML_FILENAME_EXTENSIONS),
// after the bare name.
var varsExtensions = []string{"", ".yml", ".yaml", ".json"}

// loadVarsDirs reads dir/group_vars/GROUP and dir/host_vars/HOST for each
// group and host, as Ansible's host_group_vars plugin does: the first of
// NAME, NAME.yml, NAME.yaml, NAME.json that exists; a directory of that
// name is read whole, its files in sorted order, later ones winning.
func (b *builder) loadVarsDirs(dir string) error {
	for _, g := range b.groups {
		vars, err := readVarsFor(filepath.Join(dir, "group_vars"), g.name)
		if err != nil {
			return err
		}
		// ansible_group_priority stays a plain variable here: Ansible
		// takes a group's priority from the inventory file only.
		g.fileVars = vars
	}
	for _, h := range b.hosts {
		vars, err := readVarsFor(filepath.Join(dir, "host_vars"), h.name)
		if err != nil {
			return err
		}
		h.fileVars = vars
	}
	return nil
}

func readVarsFor(dir, name string) (map[string]any, error) {
	if strings.HasPrefix(name, "/") {
		return nil, nil // Ansible skips names that are absolute paths
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil
	}
	var files []string
	for _, ext := range varsExtensions {
		p := filepath.Join(dir, name) + ext
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.IsDir() {
			var err error
			if files, err = varsFilesIn(p, 0); err != nil {
				return nil, err
			}
		} else {
			files = []string{p}
		}
		break
	}
	var out map[string]any
	for _, f := range files {
		vars, err := readVarsFile(f)
		if err != nil {
			return nil, err
		}
		if out == nil && len(vars) > 0 {
			out = map[string]any{}
		}
		for k, v := range vars {
			out[k] = v
		}
	}
	return out, nil
}

// varsFilesIn lists a vars directory's files, recursively, sorted, without
// hidden files, backups (~) and files of other extensions.
func varsFilesIn(dir string, depth int) ([]string, error) {
	if depth > 16 {
		return nil, fmt.Errorf("%s: vars directories nested deeper than 16", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var files []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		ext := filepath.Ext(n)
		switch {
		case st.IsDir() && ext == "":
			sub, err := varsFilesIn(p, depth+1)
			if err != nil {
				return nil, err
			}
			files = append(files, sub...)
		case st.Mode().IsRegular() && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			files = append(files, p)
		}
	}
	return files, nil
}

// readVarsFile reads one vars file: a YAML (or JSON) mapping, or nothing.
func readVarsFile(path string) (map[string]any, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("$ANSIBLE_VAULT")) {
		return nil, &ParseError{File: path, Line: 1, Msg: "encrypted with Ansible Vault, which whisgee cannot read; keep connection variables out of vaulted files"}
	}
	doc, err := decodeYAML(path, data)
	if err != nil {
		return nil, err
	}
	if !truthy(doc) {
		return nil, nil
	}
	if !doc.isMap {
		return nil, &ParseError{File: path, Line: doc.line, Msg: fmt.Sprintf("vars file holds a %s; want a mapping of variables", kindName(doc))}
	}
	m, _ := doc.plain().(map[string]any)
	return m, nil
}
