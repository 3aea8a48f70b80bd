package inventory

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// iniValue is what Ansible's INI parser makes of a value (_parse_value):
// Python's ast.literal_eval of it when that succeeds, else the text as it
// is. So 5 is a number, '5' and yes are strings, True a boolean, [1, 2]
// a list (tuples and sets are lists too, as JSON has them). Literals this
// parser does not cover (complex numbers, integers beyond 64 bits,
// \N{...} escapes, nesting deeper than 64) stay text.
func iniValue(s string) any {
	p := &pyParser{src: strings.TrimLeft(s, " \t")}
	v, err := p.expr(0)
	if err != nil {
		return s
	}
	if p.skip(); p.pos != len(p.src) {
		return s
	}
	return v
}

var errNotLiteral = errors.New("not a Python literal")

// pyParser reads one Python literal expression.
type pyParser struct {
	src string
	pos int
}

const maxLiteralDepth = 64

// skip passes blanks, comments and, as within brackets, line breaks.
func (p *pyParser) skip() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			p.pos++
		case c == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
			p.pos += 2
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *pyParser) peek() byte {
	p.skip()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *pyParser) expr(depth int) (any, error) {
	if depth > maxLiteralDepth {
		return nil, errNotLiteral
	}
	switch c := p.peek(); {
	case c == '[':
		p.pos++
		return p.sequence(']', depth)
	case c == '(':
		p.pos++
		return p.paren(depth)
	case c == '{':
		p.pos++
		return p.brace(depth)
	case c == '-' || c == '+':
		p.pos++
		n, err := p.number()
		if err != nil || c == '+' {
			return n, err
		}
		switch v := n.(type) {
		case int:
			return -v, nil
		case float64:
			return -v, nil
		}
		return nil, errNotLiteral
	case c >= '0' && c <= '9' || c == '.':
		return p.number()
	case c == '\'' || c == '"':
		return p.strings()
	case isIdentStart(c):
		return p.name()
	}
	return nil, errNotLiteral
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// name is True, False, None, or a string with a prefix (r”, b”, u”).
func (p *pyParser) name() (any, error) {
	start := p.pos
	for p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || p.src[p.pos] >= '0' && p.src[p.pos] <= '9') {
		p.pos++
	}
	word := p.src[start:p.pos]
	if p.pos < len(p.src) && (p.src[p.pos] == '\'' || p.src[p.pos] == '"') {
		p.pos = start
		return p.strings()
	}
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return nil, errNotLiteral
}

// sequence reads items up to close; a trailing comma is allowed.
func (p *pyParser) sequence(close byte, depth int) (any, error) {
	items := []any{}
	for {
		if p.peek() == close {
			p.pos++
			return items, nil
		}
		v, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		switch p.peek() {
		case ',':
			p.pos++
		case close:
		default:
			return nil, errNotLiteral
		}
	}
}

// paren is a tuple (a list, as JSON has it) or a parenthesized value.
func (p *pyParser) paren(depth int) (any, error) {
	if p.peek() == ')' {
		p.pos++
		return []any{}, nil
	}
	first, err := p.expr(depth + 1)
	if err != nil {
		return nil, err
	}
	switch p.peek() {
	case ')':
		p.pos++
		return first, nil
	case ',':
		p.pos++
		rest, err := p.sequence(')', depth)
		if err != nil {
			return nil, err
		}
		return append([]any{first}, rest.([]any)...), nil
	}
	return nil, errNotLiteral
}

// brace is a dict, or a set (a list here, as JSON has no sets).
func (p *pyParser) brace(depth int) (any, error) {
	if p.peek() == '}' {
		p.pos++
		return map[string]any{}, nil
	}
	first, err := p.expr(depth + 1)
	if err != nil {
		return nil, err
	}
	if p.peek() != ':' {
		if p.peek() == ',' {
			p.pos++
		} else if p.peek() != '}' {
			return nil, errNotLiteral
		}
		rest, err := p.sequence('}', depth)
		if err != nil {
			return nil, err
		}
		return append([]any{first}, rest.([]any)...), nil
	}
	m := map[string]any{}
	key := first
	for {
		p.pos++ // the colon
		k, ok := jsonKey(key)
		if !ok {
			return nil, errNotLiteral
		}
		v, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		switch p.peek() {
		case '}':
			p.pos++
			return m, nil
		case ',':
			p.pos++
		default:
			return nil, errNotLiteral
		}
		if p.peek() == '}' {
			p.pos++
			return m, nil
		}
		if key, err = p.expr(depth + 1); err != nil {
			return nil, err
		}
		if p.peek() != ':' {
			return nil, errNotLiteral
		}
	}
}

// jsonKey is the key Python's json module writes for a dict key.
func jsonKey(k any) (string, bool) {
	switch v := k.(type) {
	case string:
		return v, true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case nil:
		return "null", true
	}
	return "", false // a list is not hashable: Python refuses it
}

// number reads an int (decimal, 0x, 0o, 0b; underscores between digits)
// or a float.
func (p *pyParser) number() (any, error) {
	p.skip()
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.' ||
			(c == '+' || c == '-') && p.pos > start && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E') && !isPrefixed(p.src[start:p.pos]) {
			p.pos++
			continue
		}
		break
	}
	return pyNumber(p.src[start:p.pos])
}

// underscoresBetweenDigits holds Python's rule: an underscore stands
// between two digits, or right after a 0x/0o/0b prefix.
func underscoresBetweenDigits(s string) bool {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' || isPrefixed(s) && (c|0x20 >= 'a' && c|0x20 <= 'f') }
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			continue
		}
		afterPrefix := i == 2 && isPrefixed(s)
		if i+1 >= len(s) || !isDigit(s[i+1]) || !afterPrefix && (i == 0 || !isDigit(s[i-1])) {
			return false
		}
	}
	return true
}

func isPrefixed(s string) bool {
	return len(s) > 1 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1]))
}

func pyNumber(s string) (any, error) {
	if s == "" || s == "." || !underscoresBetweenDigits(s) {
		return nil, errNotLiteral
	}
	if isPrefixed(s) {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[s[1]|0x20]
		digits := strings.TrimPrefix(s[2:], "_")
		if digits == "" {
			return nil, errNotLiteral
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(digits, "_", ""), base, 64)
		if err != nil {
			return nil, errNotLiteral
		}
		return int(n), nil
	}
	clean := strings.ReplaceAll(s, "_", "")
	if !strings.ContainsAny(clean, ".eE") {
		for _, c := range clean {
			if c < '0' || c > '9' {
				return nil, errNotLiteral
			}
		}
		// Python refuses 0123 but takes 000.
		if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
			return nil, errNotLiteral
		}
		n, err := strconv.ParseInt(clean, 10, 64)
		if err != nil {
			return nil, errNotLiteral
		}
		return int(n), nil
	}
	for _, c := range clean {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return nil, errNotLiteral
		}
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(clean), "e")
	if strings.Count(mant, ".") > 1 || strings.ContainsAny(mant, "+-") || hasExp && (exp == "" || exp == "+" || exp == "-") {
		return nil, errNotLiteral
	}
	if hasExp && (strings.Contains(exp, ".") || strings.ContainsAny(strings.TrimLeft(exp, "+-"), "+-")) {
		return nil, errNotLiteral
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil, errNotLiteral
	}
	return f, nil
}

// strings reads one or more adjacent string literals (Python joins them).
func (p *pyParser) strings() (any, error) {
	var b strings.Builder
	kind := ""
	for {
		c := p.peek()
		if c != '\'' && c != '"' && !isIdentStart(c) {
			break
		}
		start := p.pos
		for p.pos < len(p.src) && isIdentStart(p.src[p.pos]) {
			p.pos++
		}
		prefix := strings.ToLower(p.src[start:p.pos])
		if p.pos >= len(p.src) || p.src[p.pos] != '\'' && p.src[p.pos] != '"' {
			p.pos = start
			break
		}
		raw, bytesLit := strings.Contains(prefix, "r"), strings.Contains(prefix, "b")
		if strings.Trim(prefix, "rbu") != "" || len(prefix) > 2 || strings.Contains(prefix, "u") && len(prefix) > 1 {
			return nil, errNotLiteral // f-strings and unknown prefixes are not literals
		}
		k := "str"
		if bytesLit {
			k = "bytes"
		}
		if kind != "" && kind != k {
			return nil, errNotLiteral // Python cannot join bytes and str
		}
		kind = k
		s, err := p.quoted(raw, bytesLit)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	if kind == "" {
		return nil, errNotLiteral
	}
	return b.String(), nil
}

// quoted reads one single- or double-quoted literal at p.pos.
func (p *pyParser) quoted(raw, bytesLit bool) (string, error) {
	q := p.src[p.pos]
	closing := string(q)
	if strings.HasPrefix(p.src[p.pos:], strings.Repeat(closing, 3)) {
		closing = strings.Repeat(closing, 3)
	}
	p.pos += len(closing)
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case strings.HasPrefix(p.src[p.pos:], closing):
			p.pos += len(closing)
			return b.String(), nil
		case c == '\n' && len(closing) == 1:
			return "", errNotLiteral
		case bytesLit && c >= 0x80:
			return "", errNotLiteral
		case c == '\\' && p.pos+1 < len(p.src):
			if raw {
				b.WriteString(p.src[p.pos : p.pos+2])
				p.pos += 2
				continue
			}
			if err := p.escape(&b, bytesLit); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", errNotLiteral
}

// escape decodes one backslash escape at p.pos.
func (p *pyParser) escape(b *strings.Builder, bytesLit bool) error {
	c := p.src[p.pos+1]
	p.pos += 2
	simple := map[byte]string{'\\': "\\", '\'': "'", '"': "\"", 'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v", '\n': ""}
	if s, ok := simple[c]; ok {
		b.WriteString(s)
		return nil
	}
	hex := func(n int) error {
		if p.pos+n > len(p.src) {
			return errNotLiteral
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return errNotLiteral
		}
		p.pos += n
		b.WriteRune(rune(v))
		return nil
	}
	switch {
	case c >= '0' && c <= '7':
		v := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; i++ {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
		}
		b.WriteRune(rune(v))
		return nil
	case c == 'x':
		return hex(2)
	case c == 'u' && !bytesLit:
		return hex(4)
	case c == 'U' && !bytesLit:
		return hex(8)
	case c == 'N' && !bytesLit:
		return errNotLiteral
	}
	// An unknown escape keeps its backslash.
	b.WriteByte('\\')
	p.pos--
	return nil
}
