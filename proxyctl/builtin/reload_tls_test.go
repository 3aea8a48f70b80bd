package builtin

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/testenv"
	"github.com/whisgee/whisgee/proxyctl/tlscert"
)

// tlsClient is one TLS connection to the proxy, kept open across reloads.
type tlsClient struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
}

// dialTLS handshakes with addr. The certificate is not verified here:
// the tests compare it with the files they wrote.
func dialTLS(t *testing.T, addr string) *tlsClient {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &tlsClient{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// serial is the serial number of the certificate the proxy presented.
func (c *tlsClient) serial() string {
	return c.conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// get sends a keep-alive GET on the connection and returns its status.
func (c *tlsClient) get(path string) int {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// fileSerial is the serial number of the PEM certificate in file.
func fileSerial(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

// tlsProxy starts a proxy with an HTTPS listener on a certificate the
// test owns in certDir.
func tlsProxy(t *testing.T) (p *Proxy, cfg *config.Config, certFile string) {
	dir := sockDir(t)
	w0 := startGoUpstream(t, dir, 0, echoHandler("w0"))
	certDir := t.TempDir()
	certFile, keyFile, err := tlscert.WriteSelfSigned(certDir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg = testConfig(t, "")
	cfg.Proxy.TLS = config.TLS{Listen: "127.0.0.1:0", Cert: certFile, Key: keyFile}
	cfg.Proxy.MaxBodyBytes = 1 << 20
	return startProxy(t, cfg, Options{}, w0.backend), cfg, certFile
}

func TestReloadRotatesTheCertificate(t *testing.T) {
	p, cfg, certFile := tlsProxy(t)
	addr := p.Addr("https")
	before := dialTLS(t, addr)
	if code := before.get("/"); code != 200 || before.serial() != fileSerial(t, certFile) {
		t.Fatalf("before the rotation: %d, serial %s", code, before.serial())
	}
	oldSerial := before.serial()

	// The operator replaces the files in place, then reloads.
	if _, _, err := tlscert.WriteSelfSigned(filepath.Dir(certFile), []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	newSerial := fileSerial(t, certFile)
	if newSerial == oldSerial {
		t.Fatal("the test's new certificate has the old serial")
	}
	if err := p.Reload(context.Background(), reloaded(cfg)); err != nil {
		t.Fatal(err)
	}
	after := dialTLS(t, addr)
	if got := after.serial(); got != newSerial {
		t.Fatalf("a handshake after the reload got serial %s, want the new %s (old %s)", got, newSerial, oldSerial)
	}
	if code := after.get("/"); code != 200 {
		t.Fatalf("new connection: %d", code)
	}
	// The connection opened before the reload carries on.
	if code := before.get("/again"); code != 200 {
		t.Fatalf("connection from before the rotation: %d", code)
	}
}

func TestReloadRefusesABadCertificateAndChangesNothing(t *testing.T) {
	p, cfg, certFile := tlsProxy(t)
	oldHTTP := p.Addr("http")
	bad := filepath.Join(t.TempDir(), "broken.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o644)

	next := reloaded(cfg)
	next.Proxy.TLS.Cert = bad
	next.Proxy.Listen = testenv.FreeAddr(t)
	next.Proxy.MaxBodyBytes = 10 << 10
	oneLine(t, p.Reload(context.Background(), next), bad, "PEM")

	missing := reloaded(cfg)
	missing.Proxy.TLS.Key = filepath.Join(t.TempDir(), "gone.key")
	oneLine(t, p.Reload(context.Background(), missing), missing.Proxy.TLS.Key, "set proxy.tls.cert/key")

	if p.Addr("http") != oldHTTP || !refused(next.Proxy.Listen) {
		t.Fatalf("http on %s after a refused reload, want %s only", p.Addr("http"), oldHTTP)
	}
	if got := dialTLS(t, p.Addr("https")).serial(); got != fileSerial(t, certFile) {
		t.Fatalf("certificate changed by a refused reload: %s", got)
	}
	resp, err := client().Post("http://"+oldHTTP+"/upload", "application/octet-stream", io.LimitReader(zeros{}, 100<<10))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a 100KiB upload after a refused reload that lowered the limit: %d (half applied?)", resp.StatusCode)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
