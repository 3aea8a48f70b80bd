package envoy

import (
	"path/filepath"
	"strings"
	"testing"
)

// renderedBootstrap renders tlsYAML into a temp dir and returns the
// bootstrap text and the dir.
func renderedBootstrap(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := Render(loadConfig(t, dir, tlsYAML), RenderOptions{Dir: filepath.Join(dir, "envoy")})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(""); err != nil {
		t.Fatal(err)
	}
	return string(f.Bootstrap), f.Dir
}

func TestValidateCatchesWhatEnvoyWouldRefuse(t *testing.T) {
	good, dir := renderedBootstrap(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown field", "codec_type: AUTO", "codec_type: AUTO\n          codec_typo: 1", `unknown field "codec_typo"`},
		{"bad enum", "codec_type: AUTO", "codec_type: HTTP9", `HTTP9`},
		{"schema rule in Any payload", "          stat_prefix: ingress_http", "          stat_prefix: \"\"", "HttpConnectionManager>: invalid HttpConnectionManager.StatPrefix"},
		{"schema rule in a filter's Any payload", "max_request_bytes: 16777216", "max_request_bytes: 0", "Buffer>: invalid Buffer.MaxRequestBytes"},
		{"schema rule at top level", "connect_timeout: 1s", "connect_timeout: -1s", "invalid Cluster.ConnectTimeout"},
		{"unknown extension", "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope", "unable to resolve"},
		{"route to missing cluster", "cluster: wsgi", "cluster: wsgj", `route to cluster "wsgj", which is not defined`},
		{"admin on every interface", `address: "127.0.0.1", port_value: 9901`, `address: "0.0.0.0", port_value: 9901`, "admin.address: 0.0.0.0 is not loopback"},
		{"missing certificate", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "nope.pem"), "nope.pem: no such file or directory"},
		{"malformed yaml", "node:\n", "node:\n\t", "malformed YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the rendered config has no %q to break", tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			err := ValidateBootstrap([]byte(bad)).Err()
			if err == nil {
				t.Fatalf("no problem found")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("problems %q\n do not mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateRouterMustBeLastAndWarnsOnDeprecated(t *testing.T) {
	good, _ := renderedBootstrap(t)
	router := "              \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n"
	cors := "          - name: envoy.filters.http.cors\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors\n"
	bad := strings.Replace(good, router, router+cors, 1)
	err := ValidateBootstrap([]byte(bad)).Err()
	if err == nil || !strings.Contains(err.Error(), "the router must be the last HTTP filter") {
		t.Fatalf("err = %v", err)
	}
	dep := strings.Replace(good, "connect_timeout: 1s", "connect_timeout: 1s\n    max_requests_per_connection: 100", 1)
	r := ValidateBootstrap([]byte(dep))
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "clusters[0].max_requests_per_connection is deprecated") {
		t.Fatalf("warnings = %q", r.Warnings)
	}
}
