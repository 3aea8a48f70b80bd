package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// badInventories are files Ansible refuses; line is the line at fault.
var badInventories = []struct {
	name, file, text string
	line             int
	want             string // in the error message
}{
	{"unknown section type", "a.ini", "[web]\nh1\n[web:hosts2]\nh2\n", 3, "unknown type"},
	{"section with a space", "a.ini", "[web]\nh1\n\n[web servers]\n", 4, "invalid section"},
	{"host variable without =", "a.ini", "[web]\nh1 ansible_port=22\nh2 stray\n", 3, "key=value"},
	{"vars line without =", "a.ini", "[web]\nh1\n[web:vars]\nx=1\njust-a-word\n", 5, "key=value"},
	{"children of an undeclared group", "a.ini", "[prod:children]\nweb\n\n[db]\nd1\n", 2, "web"},
	{"vars of an undeclared group", "a.ini", "[h]\nx\n[ghost:vars]\na=1\n", 3, "ghost"},
	{"unclosed quote", "a.ini", "[web]\nh1 motd='hello\n", 2, "quotation"},
	{"port sign without port", "a.ini", "[web]\nh1:\n", 2, "port"},
	{"range with unequal widths", "a.ini", "[web]\nweb[01:100]\n", 2, "equal-length"},
	{"range without end", "a.ini", "\n[web]\nweb[1:]\n", 3, "end"},
	{"YAML in an .ini file", "a.ini", "---\nall:\n  hosts:\n", 1, "YAML"},
	{"group loop", "a.ini", "[a:children]\nb\n[b:children]\na\n", 4, "loop"},
	{"YAML syntax", "a.yml", "all:\n\thosts:\n", 2, "cannot start any token"},
	{"YAML host vars not a mapping", "a.yml", "all:\n  hosts:\n    h1: [1, 2]\n", 3, "mapping"},
	{"YAML hosts a list", "a.yml", "web:\n  hosts:\n    - h1\n", 3, "mapping"},
	{"YAML numeric host", "a.yml", "web:\n  hosts:\n    12:\n", 3, "string"},
	{"YAML plugin config", "a.yml", "plugin: aws_ec2\nregions: [eu-west-1]\n", 1, "plugin"},
	{"two YAML documents", "a.yml", "all:\n  hosts:\n---\nsecond: {}\n", 3, "second YAML document"},
}

// writeCase writes a case's inventory into dir, named after the case
// with the extension of its file.
func writeCase(t *testing.T, dir, name, file, text string) string {
	t.Helper()
	path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+filepath.Ext(file))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadInventoryLinesNameTheFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range badInventories {
		t.Run(c.name, func(t *testing.T) {
			path := writeCase(t, dir, c.name, c.file, c.text)
			_, err := Load(path)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Load: %v; want a *ParseError", err)
			}
			if pe.File != path || pe.Line != c.line {
				t.Errorf("error at %s:%d, want %s:%d: %v", pe.File, pe.Line, path, c.line, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q: want it to start with %s: and say %q", err, path, c.want)
			}
		})
	}
}

// ansibleErrorLine is the "FILE:LINE:" Ansible's INI parser puts first.
var ansibleErrorLine = regexp.MustCompile(`:(\d+): `)

func TestAnsibleRefusesTheSameBadInventories(t *testing.T) {
	testenv.Tool(t, "ansible-inventory", "apt-get install ansible")
	env := ansibleEnv(t)
	dir := t.TempDir()
	for _, c := range badInventories {
		t.Run(c.name, func(t *testing.T) {
			path := writeCase(t, dir, c.name, c.file, c.text)
			_, stderr, err := runAnsible(t, env, "ansible-inventory", "-i", path, "--list")
			if err == nil {
				t.Fatalf("ansible-inventory takes this inventory; the case is wrong:\n%s", c.text)
			}
			if filepath.Ext(c.file) != ".ini" {
				return // Ansible's YAML errors do not all carry a line
			}
			// Where Ansible names a line, it is the case's line.
			m := ansibleErrorLine.FindStringSubmatch(strings.ReplaceAll(stderr, "\n", " "))
			if m == nil {
				return
			}
			if n, _ := strconv.Atoi(m[1]); n != c.line {
				t.Errorf("Ansible blames line %d, the case says %d:\n%s", n, c.line, stderr)
			}
		})
	}
}

func TestUnknownHostPatternIsAnErrorThatNamesIt(t *testing.T) {
	inv, err := Parse("fleet.ini", []byte("[web]\nweb1\nweb2\n[db]\ndb1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for pattern, part := range map[string]string{
		"nope":          "nope",
		"web:nope":      "nope",
		"web:!ghost":    "ghost",
		"web:&mising":   "mising",
		"xyz*":          "xyz*",
		"~^zz":          "~^zz",
		"localhost":     "implicit localhost",
		"web,,db,dbx":   "dbx",
		"web:&db:!web1": "",
	} {
		hosts, err := inv.Select(pattern)
		if part == "" {
			if err != nil || len(hosts) != 0 {
				t.Errorf("Select(%q) = %v, %v; want no host and no error (the parts exist)", pattern, hostNames(hosts), err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), part) || !strings.Contains(err.Error(), "fleet.ini") {
			t.Errorf("Select(%q) = %v, %v; want an error naming %q and the inventory", pattern, hostNames(hosts), err, part)
		}
	}
	if _, err := inv.Select(" , "); err == nil || !strings.Contains(err.Error(), "empty host pattern") {
		t.Errorf("an empty pattern: %v", err)
	}
	if _, err := inv.Select("~web(("); err == nil || !strings.Contains(err.Error(), "regular expression") {
		t.Errorf("a broken regex: %v", err)
	}
}

func TestConnectionVariablesThatCannotWorkAreErrors(t *testing.T) {
	for text, want := range map[string]string{
		"h1 ansible_port=abc\n":                      `ansible_port "abc" is not a port number`,
		"h1 ansible_port=70000\n":                    "not a port number",
		"h1 ansible_host='{{ inventory_hostname }}'": "Jinja template",
		"h1 ansible_ssh_common_args='-o \"x'\n":      "quotation",
	} {
		_, err := Parse("t.ini", []byte(text))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "h1") {
			t.Errorf("%q: %v; want an error about h1 saying %q", text, err, want)
		}
	}
}

func TestHostRangesExpandAsAnsibleDoes(t *testing.T) {
	for pattern, want := range map[string]string{
		"web[01:03].example.com": "web01.example.com web02.example.com web03.example.com",
		"db-[a:c]":               "db-a db-b db-c",
		"h[1:7:3]":               "h1 h4 h7",
		"n[08:10]":               "n08 n09 n10",
		"r[1:2]-[a:b]":           "r1-a r1-b r2-a r2-b",
		"[x:z]ray":               "xray yray zray",
		"h[y:B]":                 "hy hz hA hB",
		"10.0.[1:2].5":           "10.0.1.5 10.0.2.5",
		"plain":                  "plain",
	} {
		budget := maxNames
		names, _, err := expandHostPattern(pattern, &budget)
		if err != nil || strings.Join(names, " ") != want {
			t.Errorf("%s: %q, %v; want %s", pattern, names, err, want)
		}
	}
	budget := maxNames
	if _, _, err := expandHostPattern("h[0:999999999]", &budget); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a billion hosts: %v; want the names limit", err)
	}
	budget = maxNames
	if _, _, err := expandHostPattern("h[0:9999]-[0:999]", &budget); err == nil {
		t.Error("ten million hosts through two ranges: no error")
	}
	// The same host named again and again is one host.
	var many strings.Builder
	for i := 0; i < 3*maxHosts/2; i++ {
		many.WriteString("web1\n")
	}
	if inv, err := Parse("many.ini", []byte(many.String())); err != nil || len(inv.Hosts()) != 1 {
		t.Errorf("150000 lines naming web1: %v", err)
	}
	if _, err := Parse("big.ini", []byte("h[0:60000]\ng[0:60000]\n")); err == nil || !strings.Contains(err.Error(), "more than 100000 hosts") || !strings.Contains(err.Error(), "big.ini:2:") {
		t.Errorf("120002 distinct hosts: %v; want the host limit at line 2", err)
	}
}

func TestHostPortAndSSHVariablesFillTheHost(t *testing.T) {
	inv, err := Parse("t.ini", []byte(`
web1.example.com:2222 ansible_user=deploy ansible_ssh_private_key_file=~/.ssh/web
[db]
db1 ansible_host=10.0.0.5 ansible_ssh_host=10.0.0.6 ansible_ssh_common_args='-o ProxyJump=bastion -o "Ciphers aes256-ctr"' ansible_ssh_extra_args=-4
`))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := inv.Host("web1.example.com")
	if w.Address != "web1.example.com" || w.Port != 2222 || w.User != "deploy" || w.IdentityFile != "~/.ssh/web" || len(w.SSHArgs) != 0 {
		t.Errorf("web1: %+v", w)
	}
	if strings.Join(w.Groups, ",") != "ungrouped" {
		t.Errorf("web1 groups %q, want ungrouped", w.Groups)
	}
	d, _ := inv.Host("db1")
	// ansible_ssh_host is read after ansible_host, so it wins in Ansible.
	if d.Address != "10.0.0.6" || d.Port != 0 || d.User != "" {
		t.Errorf("db1: %+v", d)
	}
	if got := strings.Join(d.SSHArgs, "|"); got != "-o|ProxyJump=bastion|-o|Ciphers aes256-ctr|-4" {
		t.Errorf("db1 ssh args %q", got)
	}
}
