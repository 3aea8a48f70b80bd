package inventory

import (
	"errors"
	"strings"
)

// shlexSplit splits a line as Python's shlex.split(line, comments) does,
// which is what Ansible uses for INI host lines (with comments) and ssh
// arguments: POSIX quoting, a backslash escapes the next character (inside
// double quotes only \ and "), and with comments # starts a comment even
// inside a word.
func shlexSplit(line string, comments bool) ([]string, error) {
	const (
		space = iota
		word
		single
		double
	)
	var (
		tokens []string
		tok    strings.Builder
		state  = space
		quoted bool // the token had quotes: "" is a token, nothing is not
	)
	emit := func() {
		if tok.Len() > 0 || quoted {
			tokens = append(tokens, tok.String())
		}
		tok.Reset()
		quoted = false
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch state {
		case space, word:
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				emit()
				state = space
			case c == '#' && comments:
				// The comment runs to the end of the line.
				emit()
				return tokens, nil
			case c == '\\':
				if i+1 >= len(rs) {
					return nil, errors.New("no escaped character")
				}
				i++
				tok.WriteRune(rs[i])
				state = word
			case c == '\'':
				state, quoted = single, true
			case c == '"':
				state, quoted = double, true
			default:
				tok.WriteRune(c)
				state = word
			}
		case single:
			if c == '\'' {
				state = word
				continue
			}
			tok.WriteRune(c)
		case double:
			switch {
			case c == '"':
				state = word
			case c == '\\' && i+1 < len(rs):
				// Only the quote and the backslash itself are escaped here.
				if n := rs[i+1]; n == '"' || n == '\\' {
					i++
					tok.WriteRune(n)
					continue
				}
				tok.WriteRune(c)
			case c == '\\':
				return nil, errors.New("no escaped character")
			default:
				tok.WriteRune(c)
			}
		}
	}
	if state == single || state == double {
		return nil, errors.New("no closing quotation")
	}
	emit()
	return tokens, nil
}

// splitSSHArgs is Ansible's _split_ssh_args: shlex words, blanks dropped.
func splitSSHArgs(s string) ([]string, error) {
	words, err := shlexSplit(s, false)
	var out []string
	for _, w := range words {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out, err
}
