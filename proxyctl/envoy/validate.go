package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"gopkg.in/yaml.v3"
)

// Problems are what validation found wrong, one line each. As an error it
// reads as the problems joined with "; ".
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "; ") }

// Result is the outcome of validating a config: Problems make Envoy
// refuse it (or, for the checks the schema cannot make, misbehave);
// Warnings are worth a look but harmless.
type Result struct {
	Problems Problems
	Warnings []string
	// Bootstrap is the parsed config (nil if it did not parse).
	Bootstrap *bootstrapv3.Bootstrap
}

// Err is Problems as an error, or nil.
func (r *Result) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return r.Problems
}

// validator is what protoc-gen-validate generates on every Envoy message.
type validator interface{ ValidateAll() error }

// ValidateBootstrap checks an Envoy v3 bootstrap (YAML or JSON) against
// Envoy's own schema: it must parse into the Bootstrap message with no
// unknown field or type, pass the generated ValidateAll, and so must every
// typed_config inside it, which ValidateAll does not descend into. Then it
// checks what the schema cannot: each route's cluster exists, the router
// is the last HTTP filter, certificate files exist, the admin endpoint is
// on loopback, and no deprecated field is used (a warning).
func ValidateBootstrap(data []byte) *Result {
	r := &Result{}
	doc, err := yamlDoc(data)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	r.Warnings = append(r.Warnings, stubUncompiled(doc, "")...)
	js, err := json.Marshal(doc)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		r.Problems = append(r.Problems, schemaError(err))
		return r
	}
	r.Bootstrap = b
	r.walk(b.ProtoReflect(), "")
	checkBootstrap(b, r)
	return r
}

// ValidateEDS checks an EDS file as path_config_source reads it: a
// DiscoveryResponse whose resources are valid ClusterLoadAssignments.
func ValidateEDS(data []byte) *Result {
	r := &Result{}
	js, err := yamlToJSON(data)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	resp := &discoveryv3.DiscoveryResponse{}
	if err := protojson.Unmarshal(js, resp); err != nil {
		r.Problems = append(r.Problems, schemaError(err))
		return r
	}
	r.walk(resp.ProtoReflect(), "")
	for i, res := range resp.GetResources() {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := res.UnmarshalTo(cla); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("resources[%d]: want a ClusterLoadAssignment, got %s", i, res.GetTypeUrl()))
		}
	}
	return r
}

// walk validates m and recurses into every message below it, unpacking
// Any payloads, so a bad typed_config anywhere is reported with its path.
func (r *Result) walk(m protoreflect.Message, path string) {
	if v, ok := m.Interface().(validator); ok && path == "" {
		r.addValidation(v.ValidateAll(), path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := joinPath(path, string(fd.Name()))
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s is deprecated in Envoy's API; see its docs for the replacement", p))
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				r.walkMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					r.walkMessage(mv.Message(), fmt.Sprintf("%s[%v]", p, k.Interface()))
				}
				return true
			})
		default:
			r.walkMessage(v.Message(), p)
		}
		return true
	})
}

// walkMessage descends into m; an Any is unpacked and its payload
// validated on its own, since the enclosing ValidateAll stops at it.
func (r *Result) walkMessage(m protoreflect.Message, path string) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: cannot unpack %s: %v", path, a.GetTypeUrl(), err))
			return
		}
		p := path + "<" + string(inner.ProtoReflect().Descriptor().Name()) + ">"
		if v, ok := inner.(validator); ok {
			r.addValidation(v.ValidateAll(), p)
		}
		r.walk(inner.ProtoReflect(), p)
		return
	}
	r.walk(m, path)
}

func (r *Result) addValidation(err error, path string) {
	if err == nil {
		return
	}
	type multi interface{ AllErrors() []error }
	var errs []error
	if m, ok := err.(multi); ok {
		errs = m.AllErrors()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		msg := e.Error()
		if path != "" {
			msg = path + ": " + msg
		}
		r.Problems = append(r.Problems, msg)
	}
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// checkBootstrap makes the checks Envoy's schema cannot express.
func checkBootstrap(b *bootstrapv3.Bootstrap, r *Result) {
	clusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
	}
	dynamicClusters := b.GetDynamicResources().GetCdsConfig() != nil || b.GetDynamicResources().GetCdsResourcesLocator() != ""

	if sa := b.GetAdmin().GetAddress().GetSocketAddress(); sa != nil {
		if ip := net.ParseIP(sa.GetAddress()); ip == nil || !ip.IsLoopback() {
			r.Problems = append(r.Problems, fmt.Sprintf("admin.address: %s is not loopback; the admin API can stop Envoy and dump its config, so bind it to 127.0.0.1", sa.GetAddress()))
		}
	}

	for i, l := range b.GetStaticResources().GetListeners() {
		lp := fmt.Sprintf("static_resources.listeners[%d](%s)", i, l.GetName())
		for j, fc := range l.GetFilterChains() {
			fcp := fmt.Sprintf("%s.filter_chains[%d]", lp, j)
			checkTransportSocket(fc.GetTransportSocket(), fcp+".transport_socket", r)
			for k, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				checkHCM(hcm, fmt.Sprintf("%s.filters[%d]", fcp, k), clusters, dynamicClusters, r)
			}
		}
	}
	for i, c := range b.GetStaticResources().GetClusters() {
		checkTransportSocket(c.GetTransportSocket(), fmt.Sprintf("static_resources.clusters[%d](%s).transport_socket", i, c.GetName()), r)
	}
}

func checkHCM(hcm *hcmv3.HttpConnectionManager, path string, clusters map[string]bool, dynamic bool, r *Result) {
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 {
		r.Problems = append(r.Problems, path+": no http_filters; the last one must be envoy.filters.http.router")
	}
	for i, f := range filters {
		isRouter := strings.HasSuffix(f.GetTypedConfig().GetTypeUrl(), "envoy.extensions.filters.http.router.v3.Router")
		if isRouter && i != len(filters)-1 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s.http_filters[%d]: the router must be the last HTTP filter; filters after it never run", path, i))
		}
		if !isRouter && i == len(filters)-1 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s.http_filters[%d] (%s): the last HTTP filter must be envoy.filters.http.router", path, i, f.GetName()))
		}
	}
	if hcm.GetRds() != nil {
		r.Warnings = append(r.Warnings, path+": routes come from RDS; their clusters are not checked")
		return
	}
	for i, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for j, rt := range vh.GetRoutes() {
			a := rt.GetRoute()
			if a == nil {
				continue
			}
			rp := fmt.Sprintf("%s.route_config.virtual_hosts[%d](%s).routes[%d]", path, i, vh.GetName(), j)
			names := []string{a.GetCluster()}
			for _, wc := range a.GetWeightedClusters().GetClusters() {
				names = append(names, wc.GetName())
			}
			for _, n := range names {
				if n != "" && !clusters[n] && !dynamic {
					r.Problems = append(r.Problems, fmt.Sprintf("%s: route to cluster %q, which is not defined; add it to static_resources.clusters or fix the name", rp, n))
				}
			}
		}
	}
}

// checkTransportSocket checks the files a TLS context names exist.
func checkTransportSocket(ts *corev3.TransportSocket, path string, r *Result) {
	if ts.GetTypedConfig() == nil {
		return
	}
	var common *tlsv3.CommonTlsContext
	down, up := &tlsv3.DownstreamTlsContext{}, &tlsv3.UpstreamTlsContext{}
	switch {
	case ts.GetTypedConfig().UnmarshalTo(down) == nil:
		common = down.GetCommonTlsContext()
		if len(common.GetTlsCertificates()) == 0 && len(common.GetTlsCertificateSdsSecretConfigs()) == 0 && common.GetTlsCertificateProviderInstance() == nil {
			r.Problems = append(r.Problems, path+": a downstream TLS context without a certificate; add tls_certificates")
		}
	case ts.GetTypedConfig().UnmarshalTo(up) == nil:
		common = up.GetCommonTlsContext()
	default:
		return
	}
	for i, c := range common.GetTlsCertificates() {
		for _, ds := range []struct {
			name string
			src  *corev3.DataSource
		}{{"certificate_chain", c.GetCertificateChain()}, {"private_key", c.GetPrivateKey()}} {
			checkFile(ds.src, fmt.Sprintf("%s.tls_certificates[%d].%s", path, i, ds.name), r)
		}
	}
	if vc := common.GetValidationContext(); vc != nil {
		checkFile(vc.GetTrustedCa(), path+".validation_context.trusted_ca", r)
	}
}

func checkFile(ds *corev3.DataSource, path string, r *Result) {
	name := ds.GetFilename()
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("%s: %s: %v; create it or fix the path", path, name, unwrapPathError(err)))
		return
	}
	f.Close()
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// yamlToJSON converts a YAML (or JSON) document into JSON for protojson.
func yamlToJSON(data []byte) ([]byte, error) {
	doc, err := yamlDoc(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// yamlDoc decodes a YAML (or JSON) document into values encoding/json
// takes.
func yamlDoc(data []byte) (any, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("malformed YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc == nil {
		return nil, errors.New("the file is empty")
	}
	return jsonable(doc, "")
}

// jsonable turns YAML's decoded values into ones encoding/json accepts.
func jsonable(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			c, err := jsonable(x, joinPath(path, k))
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string", path, k)
			}
			c, err := jsonable(x, joinPath(path, ks))
			if err != nil {
				return nil, err
			}
			m[ks] = c
		}
		return m, nil
	case []any:
		for i, x := range t {
			c, err := jsonable(x, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	}
	return v, nil
}

// schemaError rewords protojson's messages, whose positions point into
// the intermediate JSON rather than the user's YAML.
func schemaError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "): "); strings.HasPrefix(msg, "proto:") && i > 0 {
		msg = msg[i+3:]
	}
	msg = strings.ReplaceAll(msg, "\u00a0", " ")
	if strings.Contains(msg, "unable to resolve") {
		// Any API type whisgee knows of was stubbed out before parsing
		// (stubUncompiled), so this names no Envoy type at all.
		return "not a valid Envoy v3 config: " + msg + " (no such type in Envoy's API: a typo in typed_config's @type?)"
	}
	return "not a valid Envoy v3 config: " + msg
}

// The generated code promises ValidateAll on every message.
var _ validator = (*bootstrapv3.Bootstrap)(nil)
