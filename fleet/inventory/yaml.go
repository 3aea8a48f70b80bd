package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// value is a YAML (or JSON) value as Ansible's loader builds it: scalars
// resolved by YAML 1.1's rules as PyYAML does, mappings in key order (a
// repeated key keeps its first place and its last value).
type value struct {
	line   int
	scalar any // string, int, float64, bool or nil, for a scalar
	isMap  bool
	isSeq  bool
	keys   []value // mapping keys
	items  []value // mapping values, or sequence items
}

func (v value) isNullOrMap() bool { return v.isMap || !v.isSeq && v.scalar == nil }

// get is the value of a string key of a mapping.
func (v value) get(key string) (value, bool) {
	for i, k := range v.keys {
		if s, ok := k.scalar.(string); ok && s == key {
			return v.items[i], true
		}
	}
	return value{}, false
}

// plain is the value as Go data for a variable: map[string]any, []any,
// or a scalar.
func (v value) plain() any {
	switch {
	case v.isMap:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			key, _ := jsonKey(k.scalar)
			m[key] = v.items[i].plain()
		}
		return m
	case v.isSeq:
		l := make([]any, len(v.items))
		for i, it := range v.items {
			l[i] = it.plain()
		}
		return l
	}
	return v.scalar
}

// maxYAMLNodes bounds the nodes one document may expand to through
// aliases ("billion laughs"), and maxYAMLDepth its nesting.
const (
	maxYAMLNodes = 1 << 20
	maxYAMLDepth = 200
)

// decodeYAML reads one YAML document as Ansible's loader does: JSON first
// (so a .json inventory keeps JSON's types), then YAML 1.1. An empty
// document is a nil scalar.
func decodeYAML(file string, data []byte) (value, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return value{}, nil
		}
		return value{}, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return value{}, &ParseError{File: file, Line: extra.Line, Msg: "a second YAML document (---): an inventory is one document"}
	}
	c := &converter{file: file, json: json.Valid(data)}
	return c.convert(&root, 0)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &ParseError{File: file, Line: n, Msg: m[2]}
	}
	return &ParseError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

type converter struct {
	file  string
	json  bool // the document is JSON: JSON's scalar rules, not YAML 1.1's
	nodes int
}

func (c *converter) fail(n *yaml.Node, format string, args ...any) error {
	return &ParseError{File: c.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n *yaml.Node, depth int) (value, error) {
	if c.nodes++; c.nodes > maxYAMLNodes {
		return value{}, c.fail(n, "the document expands to more than %d nodes through aliases", maxYAMLNodes)
	}
	if depth > maxYAMLDepth {
		return value{}, c.fail(n, "nested deeper than %d levels", maxYAMLDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return value{line: n.Line}, nil
		}
		return c.convert(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return value{}, c.fail(n, "unknown alias")
		}
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		v := value{line: n.Line, isSeq: true}
		for _, item := range n.Content {
			it, err := c.convert(item, depth+1)
			if err != nil {
				return value{}, err
			}
			v.items = append(v.items, it)
		}
		return v, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		s, err := c.scalar(n)
		return value{line: n.Line, scalar: s}, err
	}
	return value{}, c.fail(n, "unexpected YAML node")
}

// pair is one key and value of a mapping, before keys are merged.
type pair struct{ k, v *yaml.Node }

// pairs flattens a mapping's merge keys (<<) as PyYAML does: the merged
// pairs come first, so the mapping's own keys win; of a list of merged
// mappings the earlier ones win.
func (c *converter) pairs(n *yaml.Node, depth int) ([]pair, error) {
	if depth > maxYAMLDepth {
		return nil, c.fail(n, "merge keys nested deeper than %d levels", maxYAMLDepth)
	}
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Style != 0 || k.Value != "<<" {
			own = append(own, pair{k, v})
			continue
		}
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		var subs []*yaml.Node
		switch v.Kind {
		case yaml.MappingNode:
			subs = []*yaml.Node{v}
		case yaml.SequenceNode:
			for j := len(v.Content) - 1; j >= 0; j-- {
				s := v.Content[j]
				for s.Kind == yaml.AliasNode && s.Alias != nil {
					s = s.Alias
				}
				if s.Kind != yaml.MappingNode {
					return nil, c.fail(s, "a merge (<<) list holds mappings only")
				}
				subs = append(subs, s)
			}
		default:
			return nil, c.fail(v, "a merge (<<) takes a mapping or a list of mappings")
		}
		for _, s := range subs {
			ps, err := c.pairs(s, depth+1)
			if err != nil {
				return nil, err
			}
			if c.nodes += len(ps); c.nodes > maxYAMLNodes {
				return nil, c.fail(n, "the document expands to more than %d nodes through aliases", maxYAMLNodes)
			}
			merged = append(merged, ps...)
		}
	}
	return append(merged, own...), nil
}

func (c *converter) mapping(n *yaml.Node, depth int) (value, error) {
	ps, err := c.pairs(n, depth)
	if err != nil {
		return value{}, err
	}
	v := value{line: n.Line, isMap: true}
	index := map[string]int{}
	for _, p := range ps {
		k, err := c.convert(p.k, depth+1)
		if err != nil {
			return value{}, err
		}
		if k.isMap || k.isSeq {
			return value{}, c.fail(p.k, "a mapping key must be a scalar")
		}
		val, err := c.convert(p.v, depth+1)
		if err != nil {
			return value{}, err
		}
		id := fmt.Sprintf("%T:%v", k.scalar, k.scalar)
		if i, dup := index[id]; dup {
			v.items[i] = val
			continue
		}
		index[id] = len(v.keys)
		v.keys = append(v.keys, k)
		v.items = append(v.items, val)
	}
	return v, nil
}

// scalar resolves a scalar: quoted and explicitly tagged ones by their
// style or tag, plain ones by YAML 1.1 (or JSON) rules.
func (c *converter) scalar(n *yaml.Node) (any, error) {
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 && n.Style&yaml.TaggedStyle == 0 {
		return n.Value, nil
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool", "!!null":
			v := resolvePlain(n.Value)
			if tagOf(v) != n.ShortTag() {
				return nil, c.fail(n, "%q is not a valid %s", n.Value, n.ShortTag())
			}
			return v, nil
		}
		// !!str, and tags of Ansible's own (!unsafe, !vault): the text.
		return n.Value, nil
	}
	if c.json {
		return resolveJSON(n.Value), nil
	}
	if n.Value == "=" {
		return nil, c.fail(n, "a plain '=' is YAML 1.1's value key, which Ansible cannot load; quote it")
	}
	return resolvePlain(n.Value), nil
}

func tagOf(v any) string {
	switch v.(type) {
	case int:
		return "!!int"
	case float64:
		return "!!float"
	case bool:
		return "!!bool"
	case nil:
		return "!!null"
	}
	return "!!str"
}

// YAML 1.1's implicit types, as PyYAML's resolver has them.
var (
	yamlBool  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yamlInt   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yamlFloat = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yamlNull  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
)

// resolvePlain is PyYAML's reading of a plain scalar. Timestamps stay
// text (Ansible prints them as their text too).
func resolvePlain(s string) any {
	switch {
	case yamlNull.MatchString(s):
		return nil
	case yamlBool.MatchString(s):
		switch strings.ToLower(s) {
		case "yes", "true", "on":
			return true
		}
		return false
	case yamlInt.MatchString(s):
		if n, ok := yamlIntValue(s); ok {
			return n
		}
	case yamlFloat.MatchString(s):
		if f, ok := yamlFloatValue(s); ok {
			return f
		}
	}
	return s
}

func yamlIntValue(s string) (int, bool) {
	s = strings.ReplaceAll(s, "_", "")
	sign := 1
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	var n int64
	var err error
	switch {
	case s == "0":
		return 0, true
	case strings.HasPrefix(s, "0b"):
		n, err = strconv.ParseInt(s[2:], 2, 64)
	case strings.HasPrefix(s, "0x"):
		n, err = strconv.ParseInt(s[2:], 16, 64)
	case s[0] == '0':
		n, err = strconv.ParseInt(s[1:], 8, 64)
	case strings.Contains(s, ":"):
		for _, part := range strings.Split(s, ":") {
			d, e := strconv.ParseInt(part, 10, 64)
			if e != nil || n > math.MaxInt64/60-60 {
				return 0, false
			}
			n = n*60 + d
		}
	default:
		n, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	return sign * int(n), true
}

func yamlFloatValue(s string) (float64, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1), true
	case s == ".nan":
		return math.NaN(), true
	case strings.Contains(s, ":"):
		parts := strings.Split(s, ":")
		f := 0.0
		for i, part := range parts {
			d, err := strconv.ParseFloat(part, 64)
			if err != nil || i < len(parts)-1 && strings.Contains(part, ".") {
				return 0, false
			}
			f = f*60 + d
		}
		return sign * f, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return sign * f, true
}

// resolveJSON reads an unquoted JSON scalar: a literal or a number.
func resolveJSON(s string) any {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(n)
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}
