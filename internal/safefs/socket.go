package safefs

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// umaskMu serialises the umask changes of ListenUnix: the umask belongs to
// the whole process.
var umaskMu sync.Mutex

// ListenUnix binds a Unix socket at path and gives it mode. The bind runs
// under umask 077, so the socket is never reachable by other users between
// bind and chmod (a bind then chmod leaves it open to all for a moment).
// No process is forked meanwhile (ForkLock), so no child inherits that
// umask; files other goroutines create in that instant get it: a narrower
// mode, never a wider one.
func ListenUnix(path string, mode os.FileMode) (*net.UnixListener, error) {
	umaskMu.Lock()
	syscall.ForkLock.RLock()
	old := syscall.Umask(0o077)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	syscall.ForkLock.RUnlock()
	umaskMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode.Perm()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}
