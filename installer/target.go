package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whisgee/whisgee/internal/safefs"
)

// The target of a plan is this machine, or with --root an image root. In
// an image root every path is resolved by safefs.Root: a symlink in the
// image (etc/yum.repos.d -> /etc/yum.repos.d, or ../../../etc) resolves
// inside the image, as it will once the image boots, and never redirects
// a write onto the machine that builds it. The methods below take paths
// on the target ("/etc/whisgee/whisgee.yaml"), not o.under(path).

// openRoot opens the image root; Root must be set.
func (o *Options) openRoot() (*safefs.Root, error) {
	root, err := safefs.OpenRoot(o.Root)
	if err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}
	return root, nil
}

// inRoot runs f on the opened image root; Root must be set.
func inRoot[T any](o *Options, f func(*safefs.Root) (T, error)) (T, error) {
	root, err := o.openRoot()
	if err != nil {
		var zero T
		return zero, err
	}
	defer root.Close()
	return f(root)
}

// readTarget reads path on the target.
func (o *Options) readTarget(path string) ([]byte, error) {
	if o.Root == "" {
		return os.ReadFile(path)
	}
	return inRoot(o, func(root *safefs.Root) ([]byte, error) { return root.ReadFile(path) })
}

// statTarget is os.Stat of path on the target.
func (o *Options) statTarget(path string) (os.FileInfo, error) {
	if o.Root == "" {
		return os.Stat(path)
	}
	return inRoot(o, func(root *safefs.Root) (os.FileInfo, error) { return root.Stat(path) })
}

// existsOnTarget reports whether path exists on the target.
func (o *Options) existsOnTarget(path string) bool {
	_, err := o.statTarget(path)
	return err == nil
}

// hostPath is where path on the target is on this machine, resolved
// inside the image root: for running what is there (envoy --version).
func (o *Options) hostPath(path string) (string, error) {
	if o.Root == "" {
		return path, nil
	}
	return inRoot(o, func(root *safefs.Root) (string, error) { return root.Resolve(path) })
}

// listTarget lists the names in the directory path on the target.
func (o *Options) listTarget(path string) ([]string, error) {
	if o.Root == "" {
		d, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.Readdirnames(-1)
	}
	return inRoot(o, func(root *safefs.Root) ([]string, error) { return root.ReadDir(path) })
}

// writeTarget writes data at path on the target unless it already holds
// exactly data (Runner.WriteFile, resolved inside the image root).
func (o *Options) writeTarget(ctx context.Context, r *Runner, path string, data []byte, mode os.FileMode, out io.Writer) error {
	if o.Root == "" {
		return r.WriteFile(ctx, path, data, mode, out)
	}
	if old, err := o.readTarget(path); err == nil && bytes.Equal(old, data) {
		fmt.Fprintf(out, "%s is up to date\n", o.under(path))
		return nil
	}
	return r.staged(filepath.Base(path), data, mode, func(src string) error { return o.installTarget(ctx, r, src, path, mode, out) })
}

// installTarget moves the file src to path on the target with mode
// (Runner.InstallFile, resolved inside the image root). Where this user
// may not write the root, `sudo -n install` gets the path resolved inside
// it.
func (o *Options) installTarget(ctx context.Context, r *Runner, src, path string, mode os.FileMode, out io.Writer) error {
	if o.Root == "" {
		return r.InstallFile(ctx, src, path, mode, out)
	}
	root, err := o.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	err = root.WriteFrom(path, in, mode)
	if err == nil {
		fmt.Fprintf(out, "wrote %s\n", o.under(path))
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) || r.IsRoot() {
		return err
	}
	host, herr := root.HostPath(path)
	if herr != nil {
		return fmt.Errorf("%w (and resolving it inside %s: %v)", err, o.Root, herr)
	}
	return r.sudoInstall(ctx, src, host, mode, out)
}

// renameOnTarget moves from to to on the target (Runner.Rename, resolved
// inside the image root).
func (o *Options) renameOnTarget(ctx context.Context, r *Runner, from, to string, out io.Writer) error {
	if o.Root == "" {
		return r.Rename(ctx, from, to, out)
	}
	root, err := o.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	err = root.Rename(from, to)
	if err == nil {
		fmt.Fprintf(out, "moved %s to %s\n", o.under(from), o.under(to))
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) || r.IsRoot() {
		return err
	}
	hf, err1 := root.HostPath(from)
	ht, err2 := root.HostPath(to)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return r.sudoRename(ctx, hf, ht, out)
}
