package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a problem at one place in a config file. Its message reads
// "FILE:LINE: KEY: what is wrong; what to write instead".
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, checks and completes the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such config file; write one (see `whisgee up --help`) or pass -c FILE", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, abs)
}

// Parse checks and completes a config held in memory; name is the file name
// used in errors and to resolve relative paths (it may be empty).
func Parse(data []byte, name string) (*Config, error) {
	file := name
	if file == "" {
		file = "config"
	}
	cfg := &Config{Path: name}
	lines := map[string]int{}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// An empty file (io.EOF) is a config of defaults.
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlSyntaxError(file, err)
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
				// A file of comments only.
			} else {
				return nil, &Error{File: file, Line: root.Line, Msg: "the file must be a mapping of keys (app:, workers:, proxy:, control:)"}
			}
		} else if err := decodeInto(file, "", root, reflect.ValueOf(cfg).Elem(), lines); err != nil {
			return nil, err
		}
	}
	if err := cfg.complete(file, lines); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlSyntaxError turns yaml.v3's "yaml: line N: msg" into FILE:N: msg.
func yamlSyntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		return &Error{File: file, Line: line, Msg: "malformed YAML: " + msg}
	}
	return &Error{File: file, Msg: "malformed YAML: " + msg}
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	argvType     = reflect.TypeOf(Argv(nil))
)

// decodeInto fills v from n, rejecting unknown keys and badly typed values
// with the line they stand on. It records the line of every key in lines.
func decodeInto(file, path string, n *yaml.Node, v reflect.Value, lines map[string]int) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with nothing after it keeps the default
	}
	switch {
	case v.Type() == argvType:
		var a Argv
		if err := n.Decode(&a); err != nil {
			return &Error{File: file, Line: n.Line, Key: path, Msg: err.Error()}
		}
		v.Set(reflect.ValueOf(a))
		return nil
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &Error{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf("want a mapping of keys (%s), got %q", strings.Join(knownKeys(v.Type()), ", "), n.Value)}
		}
		fields := fieldsByKey(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			if seen[k.Value] {
				return &Error{File: file, Line: k.Line, Key: key, Msg: "key given twice; keep one"}
			}
			seen[k.Value] = true
			idx, ok := fields[k.Value]
			if !ok {
				return &Error{File: file, Line: k.Line, Key: key, Msg: unknownKeyMsg(k.Value, v.Type())}
			}
			lines[key] = k.Line
			if err := decodeInto(file, key, val, v.Field(idx), lines); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &Error{File: file, Line: n.Line, Key: path, Msg: "want a mapping of NAME: value"}
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return &Error{File: file, Line: val.Line, Key: join(path, k.Value), Msg: "want a plain value (quote it)"}
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
		}
		v.Set(m)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return &Error{File: file, Line: n.Line, Key: path, Msg: "want " + describe(v.Type()) + ", got a " + kindName(n.Kind)}
	}
	if v.Type() == durationType {
		d, err := time.ParseDuration(n.Value)
		if err != nil || d < 0 {
			return &Error{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf("want %s, got %q", describe(v.Type()), n.Value)}
		}
		v.SetInt(int64(d))
		return nil
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return &Error{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf("want %s, got %q", describe(v.Type()), n.Value)}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration like 30s or 500ms"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a string"
	}
	return t.String()
}

func fieldsByKey(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func knownKeys(t reflect.Type) []string {
	var keys []string
	for k := range fieldsByKey(t) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func unknownKeyMsg(key string, t reflect.Type) string {
	known := knownKeys(t)
	best, bestDist := "", 1<<30
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist <= 2 || (bestDist <= len(key)/2 && bestDist < 4) {
		return fmt.Sprintf("unknown key %q; did you mean %q?", key, best)
	}
	return fmt.Sprintf("unknown key %q; known keys here: %s", key, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
