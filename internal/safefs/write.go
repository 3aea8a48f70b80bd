package safefs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to dir/name with exactly mode and returns the
// path. It writes a new file under a random name, opened with
// O_EXCL|O_NOFOLLOW (nothing planted there can be followed or reused),
// and renames it over name: readers see the old file or the new one, and
// whatever was at name before (a file of another mode, a symlink) is
// replaced, never written through. dir must be one EnsureDir accepted.
func WriteFile(dir, name string, data []byte, mode os.FileMode) (string, error) {
	return WriteFrom(dir, name, bytes.NewReader(data), mode)
}

// WriteFrom is WriteFile with the content read from r.
func WriteFrom(dir, name string, r io.Reader, mode os.FileMode) (string, error) {
	path := filepath.Join(dir, name)
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("%s: want a file name, not a path", path)
	}
	tmp, f, err := createTemp(dir, name)
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		return "", fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return path, nil
}

// createTemp opens a new file ".name.RANDOM" in dir, private until chmod.
func createTemp(dir, name string) (string, *os.File, error) {
	var err error
	for try := 0; try < 10; try++ {
		tmp := filepath.Join(dir, "."+name+"."+randomSuffix())
		var f *os.File
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err == nil {
			return tmp, f, nil
		}
		if !os.IsExist(err) {
			break
		}
	}
	return "", nil, fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
