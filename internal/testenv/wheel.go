package testenv

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteWheel writes NAME-VERSION-py3-none-any.whl with one module into
// dir: a real wheel (pip installs it like any other) of a tiny pure-Python
// package, for pip tests offline (--no-index --find-links dir).
func WriteWheel(t testing.TB, dir, name, version string) {
	t.Helper()
	mod := strings.ReplaceAll(name, "-", "_")
	info := fmt.Sprintf("%s-%s.dist-info", mod, version)
	files := []struct{ path, body string }{
		{mod + "/__init__.py", fmt.Sprintf("__version__ = %q\n", version)},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: whisgee test fixture\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: whisgee-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.body))
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.path, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, _ := zw.Create(info + "/RECORD")
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", mod, version)), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// HermeticPip keeps this machine's pip settings (find-links, index) out
// of the test: only --find-links WHEELHOUSE may feed pip.
func HermeticPip(t testing.TB) {
	for _, k := range []string{"PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
}
