// Package tlscert makes self-signed certificates for demos and tests, and
// loads operators' certificates with errors that say what to fix. Both
// proxy engines use it: the built-in proxy for tls.self_signed, the Envoy
// renderer for `whisgee envoy render --out DIR --self-signed`.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/whisgee/whisgee/internal/safefs"
)

// SelfSigned returns a PEM certificate and key (ECDSA P-256) for hosts (DNS
// names or IP addresses), valid from an hour ago for validFor (if zero, 90
// days).
func SelfSigned(hosts []string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if validFor == 0 {
		validFor = 90 * 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"whisgee self-signed"}, CommonName: firstOr(hosts, "localhost")},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM, nil
}

// WriteSelfSigned writes dir/cert.pem (0644) and dir/key.pem (0600) for
// hosts and returns their paths. dir is made 0700 if missing and refused if
// another user could change it; each file is new (written aside and
// renamed), so the key is 0600 whatever was there before, and a symlink
// there is replaced, not written through.
func WriteSelfSigned(dir string, hosts []string) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := SelfSigned(hosts, 0)
	if err != nil {
		return "", "", err
	}
	if err := safefs.EnsureDir(dir, safefs.Private); err != nil {
		return "", "", err
	}
	if keyFile, err = safefs.WriteFile(dir, "key.pem", keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if certFile, err = safefs.WriteFile(dir, "cert.pem", certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// Load reads a certificate and key pair, explaining what is wrong in one line.
func Load(certFile, keyFile string) (tls.Certificate, error) {
	for _, f := range []string{certFile, keyFile} {
		if _, err := os.Stat(f); err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS file %s: %w; set proxy.tls.cert/key to existing PEM files, or self_signed: true", f, err)
		}
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS pair %s + %s: %v; both must be PEM and belong together", certFile, keyFile, err)
	}
	return c, nil
}

// ServerConfig is the TLS configuration whisgee serves with: TLS 1.2 and
// up, and for 1.2 only AEAD suites with forward secrecy.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"http/1.1"},
	}
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}
