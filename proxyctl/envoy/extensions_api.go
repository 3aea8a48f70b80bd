package envoy

import (
	_ "embed"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	_ "google.golang.org/protobuf/types/known/emptypb" // the stub below
)

//go:generate go run ./internal/genapipackages api_packages.txt

// apiPackagesText lists every proto package of Envoy's API that
// go-control-plane has, including extensions whose schema is not compiled
// into whisgee (see extensions.go).
//
//go:embed api_packages.txt
var apiPackagesText string

var apiPackages = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(apiPackagesText, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}()

// stubURL is what an unchecked typed_config is replaced with.
const stubURL = "type.googleapis.com/google.protobuf.Empty"

// stubUncompiled walks a decoded config and replaces each typed_config
// (an object with "@type") whose type is in Envoy's API but not compiled
// into whisgee by an empty stub, returning a warning for each: linking
// every extension's schema would add some 17 MB to the binary, so only
// those in extensions.go are checked field by field, and the rest are
// left to `envoy --mode validate` rather than reported as unknown. A type
// in no Envoy package, or missing from a package compiled in, is left
// alone, so parsing reports it.
func stubUncompiled(v any, path string) []string {
	var warnings []string
	switch t := v.(type) {
	case map[string]any:
		if url, ok := t["@type"].(string); ok {
			if _, err := protoregistry.GlobalTypes.FindMessageByURL(url); err != nil {
				name := url[strings.LastIndexByte(url, '/')+1:]
				// A package that is compiled in has all its messages, so a
				// name missing from it is a typo, as is a package Envoy lacks.
				pkg, _, _ := cutLast(name, ".")
				compiled := protoregistry.GlobalFiles.NumFilesByPackage(protoreflect.FullName(pkg)) > 0
				if apiPackages[pkg] && !compiled {
					for k := range t {
						delete(t, k)
					}
					t["@type"] = stubURL
					return []string{fmt.Sprintf("%s: %s is not checked (whisgee compiles in the schemas of common extensions only); envoy --mode validate checks it", path, name)}
				}
			}
		}
		for k, x := range t {
			warnings = append(warnings, stubUncompiled(x, joinPath(path, k))...)
		}
	case []any:
		for i, x := range t {
			warnings = append(warnings, stubUncompiled(x, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return warnings
}

// cutLast splits s around its last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
