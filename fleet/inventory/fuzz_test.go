package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds any bytes to both parsers and any pattern to Select:
// an inventory is operator input, but nothing it holds may panic whisgee
// or run away with its memory.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"basic.ini", "nested.ini", "basic.yml", "web.json", "noext-yaml", "hostlist.yml", "withvars/hosts"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "web:&prod:!web0*")
	}
	for _, c := range badInventories {
		f.Add([]byte(c.text), "~(a|b)[0]")
	}
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]\n"), "all")
	f.Add([]byte("h[0:9]-[a:z]-[0:9] x=[[[[[[1]]]]]]\n"), "h*[5:]")
	f.Fuzz(func(t *testing.T, data []byte, pattern string) {
		for _, name := range []string{"f.ini", "f.yml", "f"} {
			inv, err := Parse(name, data)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("an error with no message")
				}
				continue
			}
			checkInvariants(t, inv)
			for _, p := range []string{"all", pattern, "ungrouped:!" + pattern} {
				hosts, err := inv.Select(p)
				if err == nil && len(hosts) > len(inv.Hosts()) {
					t.Fatalf("Select(%q) gave %d hosts of %d", p, len(hosts), len(inv.Hosts()))
				}
			}
		}
	})
}

// checkInvariants holds what any parsed inventory must satisfy.
func checkInvariants(t *testing.T, inv *Inventory) {
	t.Helper()
	groups := map[string]bool{}
	for _, g := range inv.Groups() {
		groups[g.Name] = true
	}
	if !groups["all"] || !groups["ungrouped"] {
		t.Fatal("all or ungrouped missing")
	}
	all, err := inv.Select("all")
	if err != nil || len(all) != len(inv.Hosts()) {
		t.Fatalf("Select(all) = %d hosts, %v; the inventory has %d", len(all), err, len(inv.Hosts()))
	}
	for _, h := range inv.Hosts() {
		if h.Name == "" || h.Address == "" || h.Port < 0 || h.Port > 65535 {
			t.Fatalf("host %+v", h)
		}
		for _, g := range h.Groups {
			if !groups[g] || g == "all" {
				t.Fatalf("host %s in group %q", h.Name, g)
			}
		}
		if strings.Contains(h.Address, "{{") && h.Address != h.Name {
			t.Fatalf("host %s: a template passed as an address", h.Name)
		}
	}
}

func FuzzSelect(f *testing.F) {
	inv, err := Load(filepath.Join("testdata", "nested.ini"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range commonPatterns {
		f.Add(p)
	}
	f.Add("web[")
	f.Add("[a-")
	f.Add("~[")
	f.Add("web[99999999999999999999]")
	f.Fuzz(func(t *testing.T, pattern string) {
		hosts, err := inv.Select(pattern)
		if err == nil && len(hosts) > len(inv.Hosts()) {
			t.Fatalf("Select(%q) gave %d hosts of %d", pattern, len(hosts), len(inv.Hosts()))
		}
	})
}
