// Command genapipackages writes the list of Envoy API proto packages that
// go-control-plane's envoy module (the version go.mod names) has, one per
// line, so that the validator can tell an Envoy extension whose schema it
// does not compile in from a type URL that names nothing. go generate in
// proxyctl/envoy runs it:
//
//	go run ./internal/genapipackages api_packages.txt
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/envoyproxy/go-control-plane/envoy"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genapipackages OUTPUT")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "genapipackages:", err)
		os.Exit(1)
	}
}

func run(output string) error {
	version, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module).Output()
	if err != nil {
		return fmt.Errorf("go list -m %s: %w", module, err)
	}
	// -e: a few packages need modules whisgee does not require (OTLP);
	// their names are still listed, which is all this needs.
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{.GoFiles}}", module+"/...").Output()
	if err != nil {
		return fmt.Errorf("go list %s/...: %w", module, err)
	}
	var pkgs []string
	for _, line := range strings.Split(string(out), "\n") {
		path, files, _ := strings.Cut(line, " ")
		if !strings.Contains(files, ".pb.go") {
			continue
		}
		// The Go path mirrors the proto package: envoy/extensions/a/v3 is
		// envoy.extensions.a.v3 (a test checks it against the descriptors
		// compiled in).
		pkgs = append(pkgs, "envoy."+strings.ReplaceAll(strings.TrimPrefix(path, module+"/"), "/", "."))
	}
	sort.Strings(pkgs)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Envoy API proto packages in %s %s (go generate ./proxyctl/envoy)\n", module, strings.TrimSpace(string(version)))
	for _, p := range pkgs {
		fmt.Fprintln(&b, p)
	}
	return os.WriteFile(output, b.Bytes(), 0o644)
}
