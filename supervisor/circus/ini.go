package circus

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// iniFile is a circus.ini read the way circus reads it (its
// StrictConfigParser): option names keep their case, the first value of a
// repeated option wins, indented lines continue a value, '#' and ';' start
// comment lines, and " ;" starts a comment after a value.
type iniFile struct {
	name     string
	sections []*iniSection
}

type iniSection struct {
	name    string
	line    int
	options []iniOption
}

type iniOption struct {
	key, value string
	line       int
}

// IniError is a problem at one line of a circus.ini.
type IniError struct {
	File string
	Line int
	Msg  string
}

func (e *IniError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var (
	sectionRE = regexp.MustCompile(`^\[(?P<header>[^]]+)\]`)
	optionRE  = regexp.MustCompile(`^(.*?)\s*([=:])\s*(.*)$`)
)

func parseINI(data []byte, name string) (*iniFile, error) {
	f := &iniFile{name: name}
	var cur *iniSection
	var curOpt *iniOption
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for lineno := 1; sc.Scan(); lineno++ {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if fields := strings.Fields(line); (line[0] == 'r' || line[0] == 'R') && strings.EqualFold(fields[0], "rem") {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && cur != nil && curOpt != nil {
			curOpt.value += "\n" + trimmed
			continue
		}
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			cur = f.section(m[1])
			if cur == nil {
				cur = &iniSection{name: m[1], line: lineno}
				f.sections = append(f.sections, cur)
			}
			curOpt = nil
			continue
		}
		if cur == nil {
			return nil, &IniError{File: name, Line: lineno, Msg: fmt.Sprintf("%q comes before any [section]; start the file with [circus] or [watcher:NAME]", trimmed)}
		}
		m := optionRE.FindStringSubmatch(line)
		if m == nil || strings.TrimSpace(m[1]) == "" {
			return nil, &IniError{File: name, Line: lineno, Msg: fmt.Sprintf("cannot read %q; want KEY = VALUE", trimmed)}
		}
		key, value := strings.TrimSpace(m[1]), m[3]
		if i := strings.Index(value, ";"); i > 0 && (value[i-1] == ' ' || value[i-1] == '\t') {
			value = value[:i]
		}
		value = strings.TrimSpace(value)
		if value == `""` {
			value = ""
		}
		if cur.get(key) != nil {
			curOpt = nil // circus keeps the first value and ignores repeats
			continue
		}
		cur.options = append(cur.options, iniOption{key: key, value: value, line: lineno})
		curOpt = &cur.options[len(cur.options)-1]
	}
	if err := sc.Err(); err != nil {
		return nil, &IniError{File: name, Msg: err.Error()}
	}
	return f, nil
}

func (f *iniFile) section(name string) *iniSection {
	for _, s := range f.sections {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (s *iniSection) get(key string) *iniOption {
	if s == nil {
		return nil
	}
	for i := range s.options {
		if s.options[i].key == key {
			return &s.options[i]
		}
	}
	return nil
}
