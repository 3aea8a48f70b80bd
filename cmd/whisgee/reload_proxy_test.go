package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whisgee/whisgee/proxyctl/tlscert"
)

// servedSerial handshakes with addr and returns the serial number of the
// certificate presented ("" when no handshake).
func servedSerial(addr string) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) // compared with the files below
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// rotateCert writes a fresh certificate over dir's cert.pem and key.pem,
// as an operator rotating it would, and returns its serial number.
func rotateCert(t *testing.T, dir string) string {
	t.Helper()
	certFile, _, err := tlscert.WriteSelfSigned(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(certFile)
	block, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

func TestCtlReloadAndSIGHUPMoveTheListenerAndRotateTheCertificate(t *testing.T) {
	py := python(t)
	certDir := filepath.Join(shortDir(t), "tls")
	first := rotateCert(t, certDir)
	dir, cfgPath, listen, admin := writeStack(t, helloApp, fmt.Sprintf("app: {module: app:application, python: %s}\nworkers: {count: 1, server: wsgiref}\n", py))
	httpsAddr := freePort(t)
	orig, _ := os.ReadFile(cfgPath)
	withTLS := strings.Replace(string(orig), "  admin: "+admin+"\n", fmt.Sprintf("  admin: %s\n  tls: {listen: %s, cert: %s/cert.pem, key: %s/key.pem}\n", admin, httpsAddr, certDir, certDir), 1)
	os.WriteFile(cfgPath, []byte(withTLS), 0o644)
	s := startUp(t, dir, cfgPath, listen, admin, 1)
	if got := servedSerial(httpsAddr); got != first {
		t.Fatalf("serial %q served at start, want %s", got, first)
	}

	// ctl reload: a new certificate and a new plain address.
	second := rotateCert(t, certDir)
	moved := freePort(t)
	os.WriteFile(cfgPath, []byte(strings.Replace(withTLS, "listen: "+listen, "listen: "+moved, 1)), 0o644)
	if out := s.mustCtl("reload"); !strings.Contains(out, "proxy reloaded, serving "+moved+", https "+httpsAddr) {
		t.Fatalf("ctl reload said:\n%s", out)
	}
	if code, body := getBody(t, "http://"+moved+"/"); code != 200 || !strings.HasPrefix(body, "hello from ") {
		t.Fatalf("GET through the moved listener: %d %q", code, body)
	}
	if st := s.statusJSON(); st.Daemon.Listen != moved {
		t.Fatalf("status --json says listen %q, want %s", st.Daemon.Listen, moved)
	}
	if got := servedSerial(httpsAddr); got != second {
		t.Fatalf("serial %q after ctl reload, want %s", got, second)
	}

	// SIGHUP: the same through the signal operators send.
	third := rotateCert(t, certDir)
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(httpsAddr) != third {
		if time.Now().After(deadline) {
			t.Fatalf("no new certificate 10s after SIGHUP; output:\n%s", s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
