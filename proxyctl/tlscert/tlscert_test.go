package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfSignedServesTLS12AndUp(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := WriteSelfSigned(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", fi.Mode().Perm())
	}
	cert, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("a client trusting the cert could not connect: %v", err)
	}
	c.Close()
	_, err = tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 was accepted")
	}
}

func TestLoadExplainsMissingFiles(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.pem"), "x")
	if err == nil || !strings.Contains(err.Error(), "self_signed: true") {
		t.Fatalf("err = %v", err)
	}
}

func TestASelfSignedKeyIsPrivateWhateverWasThereBefore(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A world-readable key left there, and a cert that is a symlink.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := WriteSelfSigned(dir, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(keyFile); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v, want a regular 0600 file", fi, err)
	}
	if fi, err := os.Lstat(certFile); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("cert: %v %v, want a regular file, not the symlink", fi, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	if _, err := Load(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
}

func TestSelfSignedRefusesADirectoryOthersMayWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	_, _, err := WriteSelfSigned(dir, []string{"localhost"})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v, want a refusal naming %s", err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "key.pem")); err == nil {
		t.Fatal("a key was written into a directory other users may write")
	}
}
