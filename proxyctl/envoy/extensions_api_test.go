package envoy

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// An extension whose schema is not compiled in is a warning (it exists in
// Envoy's API), a type URL that names no Envoy type is a problem, and a
// compiled-in one is still checked rule by rule.
func TestValidateTellsUncompiledExtensionsFromTypos(t *testing.T) {
	good, _ := renderedBootstrap(t)
	router := "          - name: envoy.filters.http.router\n"
	add := func(typeURL, body string) string {
		f := "          - name: extra\n            typed_config:\n              \"@type\": " + typeURL + "\n" + body
		if !strings.Contains(good, router) {
			t.Fatalf("no router filter to add before in:\n%s", good)
		}
		return strings.Replace(good, router, f+router, 1)
	}

	// The Wasm filter is in Envoy's API but not in extensions.go.
	if _, err := protoregistry.GlobalTypes.FindMessageByName("envoy.extensions.filters.http.wasm.v3.Wasm"); err == nil {
		t.Fatal("the test wants an extension that is not compiled in; wasm now is: pick another")
	}
	r := ValidateBootstrap([]byte(add("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "              config: {name: x}\n")))
	if err := r.Err(); err != nil {
		t.Fatalf("an Envoy extension outside the compiled-in list is a problem: %v", err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "envoy.extensions.filters.http.wasm.v3.Wasm is not checked") ||
		!strings.Contains(r.Warnings[0], "http_filters[0].typed_config") {
		t.Fatalf("warnings %q, want one naming the wasm filter and its place", r.Warnings)
	}

	typo := ValidateBootstrap([]byte(add("type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzz", "")))
	if err := typo.Err(); err == nil || !strings.Contains(err.Error(), "ExtAuthzz") {
		t.Fatalf("a misspelled message in a compiled-in package: %v", err)
	}
	bogus := ValidateBootstrap([]byte(add("type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope", "")))
	if err := bogus.Err(); err == nil || !strings.Contains(err.Error(), "no such type in Envoy's API") {
		t.Fatalf("a package Envoy does not have: %v", err)
	}

	// A compiled-in extension from the common list: its rules apply.
	bad := ValidateBootstrap([]byte(add("type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
		"              status_on_error: {code: 42}\n")))
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "ExtAuthz>") {
		t.Fatalf("ext_authz with an invalid status code: %v", err)
	}
}

// api_packages.txt is derived from go-control-plane's Go paths; every
// Envoy type compiled in must sit in a package it lists, which checks the
// derivation against the real descriptors.
func TestAPIPackagesCoverEveryCompiledInType(t *testing.T) {
	n := 0
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if !strings.HasPrefix(string(d.FullName()), "envoy.") {
			return true
		}
		n++
		if pkg := string(d.ParentFile().Package()); !apiPackages[pkg] {
			t.Errorf("%s: package %s is not in api_packages.txt (go generate ./proxyctl/envoy)", d.FullName(), pkg)
		}
		return true
	})
	if n < 500 {
		t.Fatalf("only %d Envoy types compiled in", n)
	}
}
