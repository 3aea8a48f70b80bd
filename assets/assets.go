// Package assets holds the files whisgee ships inside its binary: the
// Python worker runner, the demo WSGI app, the Envoy release key, and
// templates for the engines' configs. WriteFile puts one where a process can read it.
package assets

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/whisgee/whisgee/internal/safefs"
)

//go:embed runner/whisgee_runner.py demo/demoapp.py envoy/releases.asc
var files embed.FS

// Runner is the source of the Python worker runner (whisgee_runner.py).
func Runner() []byte { return mustRead("runner/whisgee_runner.py") }

// DemoApp is the source of the demo WSGI app (demoapp.py; callable
// demoapp:application).
func DemoApp() []byte { return mustRead("demo/demoapp.py") }

// EnvoyReleaseKey is the Envoy maintainers' armored OpenPGP public key
// (fingerprint 0AFC E836 BA4D 1D35 763C 8523 D8CD C375 0181 F31F), from
// releases.asc at the root of the envoyproxy/envoy repository. It signs
// each release's checksums.txt.asc.
func EnvoyReleaseKey() []byte { return mustRead("envoy/releases.asc") }

// File returns an embedded file by its path under assets/.
func File(name string) ([]byte, error) { return files.ReadFile(name) }

func mustRead(name string) []byte { return mustReadFrom(files, name) }

// WriteFile writes data to dir/name with the given mode unless a regular
// file there already holds exactly data, and returns its path. dir is made
// (0755) if missing and refused if another user could change it; the file
// is written aside and renamed (safefs.WriteFile), never through a symlink.
func WriteFile(dir, name string, data []byte, mode os.FileMode) (string, error) {
	if err := safefs.EnsureDir(dir, safefs.Policy{Mode: 0o755}); err != nil {
		return "", fmt.Errorf("assets: %w", err)
	}
	path := filepath.Join(dir, name)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == mode.Perm() {
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			return path, nil
		}
	}
	if _, err := safefs.WriteFile(dir, name, data, mode); err != nil {
		return "", fmt.Errorf("assets: %w", err)
	}
	return path, nil
}
