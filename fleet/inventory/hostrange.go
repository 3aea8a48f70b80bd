package inventory

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The host address grammar of ansible/parsing/utils/addresses.py, in RE2:
// a hostname, IPv4 or IPv6 address in which [x:y] ranges may stand for
// parts, with an optional port.
const (
	numericRange  = `\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexRange      = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	alnumRange    = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	ipv6Component = `(?:[0-9a-f]{1,4}|` + hexRange + `)`
	ipv4Component = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|` + numericRange + `)`
	// Python's \w is Unicode-aware; a label may not end with - or _
	// (Ansible says so with a look-behind, which RE2 lacks).
	labelStart = `(?:[\p{L}\p{N}_]|` + alnumRange + `)`
	labelEnd   = `(?:[\p{L}\p{N}]|` + alnumRange + `)`
	label      = `(?:` + labelStart + `(?:(?:[\p{L}\p{N}_-]|` + alnumRange + `)*` + labelEnd + `)?)`
)

// Python's "$" also matches before a final newline; pyEnd is that in RE2.
const pyEnd = `\n?$`

// Each is anchored as Ansible's is under re.match: at the start always, at
// the end only where Ansible writes "$". Its IPv6 expression has "^" and
// "$" outside the alternation, so only the first alternative is anchored
// (at the start, as all are) and only the last at the end: "1::garbage"
// passes as an IPv6 address there, and so it does here.
var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)` + pyEnd)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)` + pyEnd)
	ipv4Address       = regexp.MustCompile(`(?i)^(?:` + ipv4Component + `\.){3}` + ipv4Component + pyEnd)
	ipv6Address       = regexp.MustCompile(`(?i)^(?:` + strings.ReplaceAll(strings.Join([]string{
		`(?:C:){7}C`, `(?:C:){1,6}:`, `(?:C:)(?::C){1,6}`, `(?:C:){2}(?::C){1,5}`,
		`(?:C:){3}(?::C){1,4}`, `(?:C:){4}(?::C){1,3}`, `(?:C:){5}(?::C){1,2}`,
		`(?:C:){6}(?::C)`, `:(?::C){1,6}`, `C?::`,
		`(?:0:){6}(?:C\.){3}C`, `::(?:ffff:)?(?:C\.){3}C`, `(?:0:){5}ffff:(?:C\.){3}C` + pyEnd,
	}, "|"), "C", ipv6Component) + `)`)
	hostnamePattern = regexp.MustCompile(`(?i)^` + label + `(?:\.` + label + `)*` + pyEnd)
)

// parseAddress splits "host", "host:port" or "[host]:port", where host may
// hold [x:y] ranges; ok is false when the text is none of those (Ansible
// then takes it as a host name as it is).
func parseAddress(s string) (host string, port int, ok bool) {
	port = -1
	for _, re := range []*regexp.Regexp{bracketedHostPort, hostPort} {
		if m := re.FindStringSubmatch(s); m != nil {
			p, err := strconv.Atoi(m[2])
			if err != nil {
				return "", 0, false
			}
			s, port = m[1], p
		}
	}
	if ipv4Address.MatchString(s) || ipv6Address.MatchString(s) || hostnamePattern.MatchString(s) {
		return s, port, true
	}
	return "", 0, false
}

// maxHosts bounds how many hosts one inventory may hold, and maxNames how
// many names its host lines may expand to in all (a host named twice
// counts twice), so that a range like h[0:999999999] is an error rather
// than all of the machine's memory.
const (
	maxHosts = 100000
	maxNames = 10 * maxHosts
)

var (
	errTooManyHosts = fmt.Errorf("more than %d hosts", maxHosts)
	errTooManyNames = fmt.Errorf("host ranges expand to more than %d names", maxNames)
)

// expandHostPattern is Ansible's _expand_hostpattern: the host names a
// pattern such as web[01:50].example.com:2222 stands for, and its port
// (-1 when none is given). budget is the names still allowed (maxNames).
func expandHostPattern(pattern string, budget *int) ([]string, int, error) {
	host, port, ok := parseAddress(pattern)
	if !ok {
		host, port = pattern, -1
	}
	if !strings.Contains(host, "[") {
		if *budget--; *budget < 0 {
			return nil, 0, errTooManyNames
		}
		return []string{host}, port, nil
	}
	var out []string
	if err := expandRange(host, &out, budget); err != nil {
		return nil, 0, err
	}
	return out, port, nil
}

// asciiLetters is Python's string.ascii_letters: alphabetic ranges index
// into it, so [a:C] runs a..z then A..C, as in Ansible.
const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandRange is Ansible's expand_hostname_range: it expands the first
// [begin:end(:step)] of line, then the rest of each result.
func expandRange(line string, out *[]string, budget *int) error {
	parts := strings.Split(strings.Replace(strings.Replace(line, "[", "|", 1), "]", "|", 1), "|")
	if len(parts) != 3 {
		return fmt.Errorf("host range in %q: want one [begin:end] with no | around it", line)
	}
	head, nrange, tail := parts[0], parts[1], parts[2]
	bounds := strings.Split(nrange, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return errors.New("host range must be begin:end or begin:end:step")
	}
	beg, end, step := bounds[0], bounds[1], 1
	if len(bounds) == 3 {
		var ok bool
		if step, ok = pyInt(bounds[2]); !ok {
			return fmt.Errorf("host range step %q is not a number", bounds[2])
		}
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return errors.New("host range must specify end value")
	}
	fill := func(s string) string { return s }
	if beg[0] == '0' && len(beg) > 1 {
		if len(beg) != len(end) {
			return errors.New("host range must specify equal-length begin and end formats")
		}
		fill = func(s string) string { return zfill(s, len(beg)) }
	}
	seq, err := rangeItems(beg, end, step)
	if err != nil {
		return err
	}
	for _, item := range seq {
		name := head + fill(item) + tail
		if strings.Contains(name, "[") {
			if err := expandRange(name, out, budget); err != nil {
				return err
			}
			continue
		}
		if *budget--; *budget < 0 {
			return errTooManyNames
		}
		*out = append(*out, name)
	}
	return nil
}

// rangeItems lists what a range runs through: letters when both ends are
// found in asciiLetters, else integers as Python's range() gives them.
func rangeItems(beg, end string, step int) ([]string, error) {
	ib, ie := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if ib >= 0 && ie >= 0 {
		if ib > ie {
			return nil, errors.New("host range must have begin <= end")
		}
		if step == 0 {
			return nil, errors.New("host range step must not be zero")
		}
		var seq []string
		for _, i := range pySlice(ib, ie+1, step, len(asciiLetters)) {
			seq = append(seq, asciiLetters[i:i+1])
		}
		return seq, nil
	}
	b, ok1 := pyInt(beg)
	e, ok2 := pyInt(end)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("host range [%s:%s] is neither numbers nor letters", beg, end)
	}
	if step == 0 {
		return nil, errors.New("host range step must not be zero")
	}
	n := 0
	if step > 0 && e+1 > b {
		n = (e + 1 - b + step - 1) / step
	} else if step < 0 && e+1 < b {
		n = (b - (e + 1) - step - 1) / -step
	}
	if n > maxNames {
		return nil, errTooManyNames
	}
	seq := make([]string, 0, n)
	for i := 0; i < n; i++ {
		seq = append(seq, strconv.Itoa(b+i*step))
	}
	return seq, nil
}

// pySlice is the indices seq[start:stop:step] takes from a sequence of
// length n, as Python clamps them (start and stop are non-negative here).
func pySlice(start, stop, step, n int) []int {
	var idx []int
	if step > 0 {
		for i := start; i < min(stop, n); i += step {
			idx = append(idx, i)
		}
		return idx
	}
	for i := min(start, n-1); i > stop; i += step {
		idx = append(idx, i)
	}
	return idx
}

// pyInt parses s as Python's int() does: surrounding blanks, a sign, and
// underscores between digits.
func pyInt(s string) (int, bool) {
	s = strings.TrimSpace(s)
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' || strings.Contains(digits, "__") {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-len(digits)] + strings.ReplaceAll(digits, "_", ""))
	if err != nil || n > 1<<40 || n < -(1<<40) {
		return 0, false
	}
	return n, true
}

// zfill is Python's str.zfill: zeros after the sign up to width.
func zfill(s string, width int) string {
	if len(s) >= width {
		return s
	}
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	return sign + strings.Repeat("0", width-len(s)-len(sign)) + s
}
