package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Select returns the hosts an Ansible host pattern names, in inventory
// order, each once, as `ansible -i INVENTORY PATTERN --list-hosts` lists
// them. A pattern is one or more of, separated by ":" or ",":
//
//	all              every host
//	web              a group (its hosts and its children's), or a host
//	web*, *.example.com, db[0-2]   a shell glob over group and host names
//	~web\d+          a regular expression (RE2 syntax) over the names
//	web[0], web[1:3], web[-1]      a slice of what the name selects
//	a:b              union; a:&b intersection; a:!b exclusion
//
// As in Ansible, unions are applied first, then intersections, then
// exclusions. Where Ansible warns and goes on, Select fails: a part that
// matches no group or host is an error that names it.
func (inv *Inventory) Select(pattern string) ([]Host, error) {
	parts := splitHostPattern(pattern)
	if len(parts) == 0 {
		return nil, fmt.Errorf("empty host pattern; give all, a group, a host, or a pattern such as web:&prod")
	}
	var sel []int
	for _, p := range orderPatterns(parts) {
		if i, ok := inv.byName[p]; ok {
			sel = append(sel, i)
			continue
		}
		that, err := inv.matchOne(p)
		if err != nil {
			return nil, err
		}
		switch p[0] {
		case '!':
			sel = filter(sel, that, false)
		case '&':
			sel = filter(sel, that, true)
		default:
			sel = append(sel, that...)
		}
	}
	seen := map[int]bool{}
	out := []Host{}
	for _, i := range sel {
		if !seen[i] {
			seen[i] = true
			out = append(out, inv.hosts[i])
		}
	}
	return out, nil
}

// filter keeps the items of sel that are (keep) or are not in that.
func filter(sel, that []int, keep bool) []int {
	in := map[int]bool{}
	for _, i := range that {
		in[i] = true
	}
	var out []int
	for _, i := range sel {
		if in[i] == keep {
			out = append(out, i)
		}
	}
	return out
}

// patternList is Ansible's separator of patterns joined by ":": words and
// whole [bracketed] expressions.
var patternList = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

// splitHostPattern is Ansible's split_host_pattern: commas separate if
// there are any; else the whole text is one pattern if it reads as a host
// address (IPv6, a [x:y] range, host:port), else colons separate.
func splitHostPattern(pattern string) []string {
	var parts []string
	switch {
	case strings.Contains(pattern, ","):
		parts = strings.Split(pattern, ",")
	default:
		if _, _, ok := parseAddress(pattern); ok {
			parts = []string{pattern}
		} else {
			parts = patternList.FindAllString(pattern, -1)
		}
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// orderPatterns puts unions first, then intersections (&), then
// exclusions (!); with no union, the base is all.
func orderPatterns(parts []string) []string {
	var regular, and, not []string
	for _, p := range parts {
		switch p[0] {
		case '!':
			not = append(not, p)
		case '&':
			and = append(and, p)
		default:
			regular = append(regular, p)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	return append(append(regular, and...), not...)
}

// subscripted is a pattern with an index or slice: web[0], web[1:3].
var subscripted = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// matchOne is the hosts one pattern (without its & or !) names.
func (inv *Inventory) matchOne(p string) ([]int, error) {
	if p[0] == '&' || p[0] == '!' {
		if p = p[1:]; p == "" {
			return nil, fmt.Errorf("a & or ! in the host pattern names nothing after it")
		}
	}
	expr, idx, start, end, sliced := p, 0, 0, 0, false
	if p[0] != '~' {
		if m := subscripted.FindStringSubmatch(p); m != nil {
			expr = m[1]
			if m[2] != "" {
				var err error
				if idx, err = strconv.Atoi(m[2]); err != nil {
					return nil, fmt.Errorf("host pattern %q: index out of range", p)
				}
			} else {
				sliced = true
				start, _ = strconv.Atoi(m[3])
				end = -1
				if m[5] != "" {
					end, _ = strconv.Atoi(m[5])
				}
				if end == 0 { // Ansible reads [x:0] as the index x
					sliced, idx = false, start
				}
			}
		}
	}
	hosts, err := inv.enumerate(expr, p)
	if err != nil || len(hosts) == 0 || expr == p {
		return hosts, err
	}
	if !sliced {
		if idx < 0 {
			idx += len(hosts)
		}
		if idx < 0 || idx >= len(hosts) {
			return nil, fmt.Errorf("host pattern %q: %s selects %d hosts, so index %s is out of range", p, expr, len(hosts), strings.TrimPrefix(strings.TrimSuffix(p[len(expr):], "]"), "["))
		}
		return hosts[idx : idx+1], nil
	}
	if end == -1 {
		end = len(hosts) - 1
	}
	if start >= len(hosts) || end < start {
		return []int{}, nil
	}
	return hosts[start:min(end+1, len(hosts))], nil
}

// enumerate is Ansible's _enumerate_matches: the hosts of every group
// whose name matches, then, when no group matched or the pattern is a
// glob or regex, the hosts whose name matches.
func (inv *Inventory) enumerate(expr, whole string) ([]int, error) {
	re, err := compileHostPattern(expr)
	if err != nil {
		return nil, fmt.Errorf("host pattern %q: %v", whole, err)
	}
	var out []int
	groupMatched := false
	for _, g := range inv.groups {
		if re.MatchString(g.Name) {
			groupMatched = true
			// Like Ansible, a host in two matching groups is in the list
			// twice (an index counts it twice); the list is bounded.
			if out = append(out, inv.groupHosts(g.Name)...); len(out) > maxPairs {
				return nil, fmt.Errorf("host pattern %q: selects more than %d hosts with repeats; narrow it", whole, maxPairs)
			}
		}
	}
	if !groupMatched || expr[0] == '~' || strings.ContainsAny(expr, ".?*[") {
		for i, h := range inv.hosts {
			if re.MatchString(h.Name) {
				out = append(out, i)
			}
		}
	}
	if len(out) == 0 && !groupMatched && expr != "all" {
		hint := ""
		if expr == "localhost" || expr == "127.0.0.1" || expr == "::1" {
			hint = " (whisgee does not invent the implicit localhost Ansible does; list it in the inventory)"
		}
		return nil, fmt.Errorf("host pattern %q matches no group or host in %s%s", whole, inv.path, hint)
	}
	return out, nil
}

// compileHostPattern turns ~regex into a regexp anchored at the start (as
// Python's re.match), and anything else into a shell glob over the whole
// name (as Python's fnmatch.translate).
func compileHostPattern(expr string) (*regexp.Regexp, error) {
	if expr[0] == '~' {
		re, err := regexp.Compile(`^(?:` + expr[1:] + `)`)
		if err != nil {
			return nil, fmt.Errorf("not a regular expression (RE2 syntax): %v", err)
		}
		return re, nil
	}
	return regexp.Compile(`(?s)^(?:` + globToRegexp(expr) + `)$`)
}

// globToRegexp is fnmatch.translate: * any run, ? one character,
// [abc] [a-z] [!a-z] a set; a [ without its ] is itself.
func globToRegexp(glob string) string {
	var b strings.Builder
	rs := []rune(glob)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			if i == 0 || rs[i-1] != '*' { // a run of * is one
				b.WriteString(".*")
			}
		case '?':
			b.WriteString(".")
		case '[':
			class, next, ok := globClass(rs, i+1)
			if !ok {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString(class)
			i = next
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// globClass reads a [set] whose content starts at rs[i]: the RE2 class
// and the index of its closing ], or ok false when it has none.
func globClass(rs []rune, i int) (string, int, bool) {
	j := i
	if j < len(rs) && rs[j] == '!' {
		j++
	}
	if j < len(rs) && rs[j] == ']' {
		j++
	}
	for j < len(rs) && rs[j] != ']' {
		j++
	}
	if j >= len(rs) {
		return "", 0, false
	}
	content := rs[i:j]
	negate := len(content) > 0 && content[0] == '!'
	if negate {
		content = content[1:]
	}
	var set strings.Builder
	for k := 0; k < len(content); k++ {
		lo, hi := content[k], content[k]
		if k+2 < len(content) && content[k+1] == '-' {
			hi = content[k+2]
			k += 2
		}
		if lo > hi {
			continue // an empty range, as Python drops it
		}
		fmt.Fprintf(&set, `\x{%x}-\x{%x}`, lo, hi)
	}
	switch {
	case set.Len() == 0 && !negate:
		return `[^\x00-\x{10FFFF}]`, j, true // matches nothing
	case set.Len() == 0:
		return `.`, j, true
	case negate:
		return "[^" + set.String() + "]", j, true
	}
	return "[" + set.String() + "]", j, true
}
