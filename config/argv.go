package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Argv is a command as an argument vector. In YAML it is either a list of
// strings or one string split into words; single or double quotes group
// words. No shell ever runs it.
type Argv []string

// UnmarshalYAML accepts a sequence or a scalar.
func (a *Argv) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*a = list
		return nil
	case yaml.ScalarNode:
		words, err := SplitWords(n.Value)
		if err != nil {
			return err
		}
		*a = words
		return nil
	}
	return fmt.Errorf("want a command: a string or a list of strings")
}

// MarshalYAML writes an Argv as a list.
func (a Argv) MarshalYAML() (any, error) { return []string(a), nil }

// SplitWords splits s on white space; '…' and "…" group words, and a
// backslash escapes the next character outside single quotes. It runs no
// shell, expands nothing and rejects an unterminated quote.
func SplitWords(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				escaped = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if escaped {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
