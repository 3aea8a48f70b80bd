package safefs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Root is an image root (`whisgee install --root DIR`) that whisgee writes
// into. Names are paths on the image ("/etc/yum.repos.d/x.repo"), resolved
// as if DIR were "/": a symlink in the image, absolute or relative, and
// "..", never lead outside DIR, as they would not on the booted image. A
// hostile image cannot redirect a write onto the machine that builds it.
//
// Resolution uses openat2(RESOLVE_IN_ROOT), or, on kernels without it
// (before 5.6, or where seccomp refuses it), an equivalent walk one
// component at a time that never follows a symlink out of the root.
type Root struct {
	dir  string
	fd   int
	walk bool
}

// OpenRoot opens dir as an image root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open root", Path: dir, Err: err}
	}
	r := &Root{dir: dir, fd: fd}
	if fd2, err := r.openat2(".", unix.O_PATH|unix.O_DIRECTORY); err == nil {
		unix.Close(fd2)
	} else {
		r.walk = true
	}
	return r, nil
}

// Dir is the root's directory on this machine.
func (r *Root) Dir() string { return r.dir }

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// open resolves name inside the root and opens it with flags. Without
// O_NOFOLLOW a symlink as the last component is followed (inside the root).
func (r *Root) open(name string, flags int) (int, error) {
	if !r.walk {
		fd, err := r.openat2(name, flags)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fd, r.pathErr("open", name, err)
		}
		r.walk = true
	}
	fd, err := r.walkOpen(rel(name), flags)
	return fd, r.pathErr("open", name, err)
}

func (r *Root) openat2(name string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(r.fd, rel(name), &how)
		// EAGAIN: a rename raced the lookup; the kernel asks for a retry.
		if err != unix.EAGAIN || try == 10 {
			return fd, err
		}
	}
}

// maxLinks is the symlinks one lookup may follow, as the kernel's 40.
const maxLinks = 40

// walkOpen resolves name like RESOLVE_IN_ROOT: one component at a time
// with O_NOFOLLOW, a symlink read and its target resolved from the root
// (absolute) or the current directory (relative), ".." never above root.
func (r *Root) walkOpen(name string, flags int) (int, error) {
	top, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	stack := []int{top}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	todo := split(name)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		cur := stack[len(stack)-1]
		if c == ".." {
			if len(stack) > 1 {
				unix.Close(cur)
				stack = stack[:len(stack)-1]
			}
			continue
		}
		last := len(todo) == 0
		if last && flags&unix.O_NOFOLLOW != 0 {
			return unix.Openat(cur, c, flags|unix.O_CLOEXEC, 0)
		}
		target, isLink, err := readLink(cur, c)
		if err != nil {
			return -1, err
		}
		if isLink {
			if links++; links > maxLinks {
				return -1, unix.ELOOP
			}
			if strings.HasPrefix(target, "/") {
				for _, fd := range stack[1:] {
					unix.Close(fd)
				}
				stack = stack[:1]
			}
			todo = append(split(target), todo...)
			continue
		}
		if last {
			return unix.Openat(cur, c, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		fd, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		stack = append(stack, fd)
	}
	return unix.Openat(stack[len(stack)-1], ".", flags|unix.O_CLOEXEC, 0)
}

// readLink reports whether dirfd/name is a symlink and where it points.
func readLink(dirfd int, name string) (string, bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", false, nil
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", false, err
		}
		if n < len(buf) {
			return string(buf[:n]), true, nil
		}
		if len(buf) >= 1<<16 {
			return "", false, unix.ENAMETOOLONG
		}
		buf = make([]byte, 2*len(buf))
	}
}

// MkdirAll makes the directory name and its missing parents (mode) inside
// the root.
func (r *Root) MkdirAll(name string, mode os.FileMode) error {
	fd, err := r.mkdirAll(name, mode)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// mkdirAll is MkdirAll returning an O_PATH descriptor of the directory,
// which the caller closes.
func (r *Root) mkdirAll(name string, mode os.FileMode) (int, error) {
	const dirFlags = unix.O_PATH | unix.O_DIRECTORY
	if fd, err := r.open(name, dirFlags); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(path.Clean("/" + name))
	if base == "" {
		return -1, r.pathErr("mkdir", name, unix.ENOENT)
	}
	pfd, err := r.mkdirAll(parent, mode)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, uint32(mode.Perm())); err != nil && err != unix.EEXIST {
		return -1, r.pathErr("mkdir", name, err)
	}
	// An EEXIST here that open cannot enter is a dangling symlink or a
	// file: the open below says which.
	return r.open(name, dirFlags)
}

// WriteFile writes data to name inside the root with exactly mode: a new
// file under a random name in name's directory (created, with missing
// parents 0755, if need be), renamed over name. A symlink at name is
// replaced, not followed.
func (r *Root) WriteFile(name string, data []byte, mode os.FileMode) error {
	return r.WriteFrom(name, bytes.NewReader(data), mode)
}

// WriteFrom is WriteFile with the content read from src.
func (r *Root) WriteFrom(name string, src io.Reader, mode os.FileMode) error {
	dir, base := path.Split(path.Clean("/" + name))
	if base == "" {
		return r.pathErr("write", name, unix.EISDIR)
	}
	dfd, err := r.mkdirAll(dir, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := "." + base + "." + randomSuffix()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return r.pathErr("write", name, err)
	}
	f := os.NewFile(uintptr(fd), r.hostName(name))
	_, err = io.Copy(f, src)
	if err == nil {
		err = f.Chmod(mode.Perm())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return r.pathErr("write", name, err)
	}
	return nil
}

// ReadFile reads the regular file name inside the root (a FIFO or device
// an image put there is refused rather than read).
func (r *Root) ReadFile(name string) ([]byte, error) {
	fd, err := r.open(name, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), r.hostName(name))
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, r.pathErr("read", name, unix.EINVAL)
	}
	return io.ReadAll(f)
}

// Stat is os.Stat of name inside the root.
func (r *Root) Stat(name string) (os.FileInfo, error) {
	fd, err := r.open(name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), r.hostName(name))
	defer f.Close()
	return f.Stat()
}

// ReadDir lists the names in the directory name inside the root.
func (r *Root) ReadDir(name string) ([]string, error) {
	fd, err := r.open(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), r.hostName(name))
	defer f.Close()
	return f.Readdirnames(-1)
}

// Rename moves from to to, both inside the root; like rename(2) it acts on
// the last components themselves, never on what a symlink there names.
func (r *Root) Rename(from, to string) error {
	fdir, fbase := path.Split(path.Clean("/" + from))
	tdir, tbase := path.Split(path.Clean("/" + to))
	if fbase == "" || tbase == "" {
		return r.pathErr("rename", from, unix.EBUSY)
	}
	ffd, err := r.open(fdir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	tfd, err := r.open(tdir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := unix.Renameat(ffd, fbase, tfd, tbase); err != nil {
		return r.pathErr("rename", from, err)
	}
	return nil
}

// Resolve is where the existing file or directory name is on this
// machine, every symlink resolved inside the root: for tools that take a
// path. whisgee's own writes go through descriptors.
func (r *Root) Resolve(name string) (string, error) {
	fd, err := r.open(name, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	return os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
}

// HostPath is where name would be on this machine: its directory resolved
// inside the root (the longest existing part; the components still
// missing have no symlinks to follow), then its last component, which must
// not be a symlink. For `sudo install -D` and `sudo mv`, when this user
// may not write the root itself.
func (r *Root) HostPath(name string) (string, error) {
	clean := path.Clean("/" + name)
	if clean == "/" {
		return r.Resolve(clean)
	}
	dir, err := r.hostDir(path.Dir(clean))
	if err != nil {
		return "", err
	}
	p := path.Join(dir, path.Base(clean))
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return "", r.pathErr("resolve", clean, unix.ELOOP)
	}
	return p, nil
}

func (r *Root) hostDir(clean string) (string, error) {
	var missing []string
	for dir := clean; ; dir = path.Dir(dir) {
		real, err := r.Resolve(dir)
		if err == nil {
			if len(missing) > 0 {
				// Missing for the resolver but present here: a symlink
				// pointing nowhere inside the root, which a tool would follow.
				if _, err := os.Lstat(path.Join(real, missing[0])); err == nil {
					return "", r.pathErr("resolve", path.Join(dir, missing[0]), unix.ENOENT)
				}
			}
			return path.Join(append([]string{real}, missing...)...), nil
		}
		if !errors.Is(err, unix.ENOENT) || dir == "/" {
			return "", err
		}
		missing = append([]string{path.Base(dir)}, missing...)
	}
}

func (r *Root) hostName(name string) string { return path.Join(r.dir, rel(name)) }

func (r *Root) pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: r.hostName(name), Err: err}
}

// rel is name relative to the root: "/etc/x" and "etc/x" are "etc/x".
func rel(name string) string {
	if r := strings.TrimLeft(path.Clean("/"+name), "/"); r != "" {
		return r
	}
	return "."
}

func split(name string) []string {
	var out []string
	for _, c := range strings.Split(name, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}
