package daemon

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/internal/safefs"
)

// claimDirs makes sure the directories this stack keeps fixed-name files
// in (run_dir; Envoy's config_dir) are this user's
// alone, and locks each for the daemon's life, before anything is written
// there: a second daemon pointed at one of them refuses at once, naming
// the stack that holds it, instead of replacing that stack's worker
// sockets and runner. The lock file records this stack's control socket.
func claimDirs(cfg *config.Config) (release func(), err error) {
	var locks []*safefs.DirLock
	release = func() {
		for i := len(locks) - 1; i >= 0; i-- {
			locks[i].Release()
		}
	}
	for _, d := range stackDirs(cfg) {
		if err := safefs.EnsureDir(d.path, safefs.Private); err != nil {
			release()
			return nil, fmt.Errorf("%s: %w", d.key, err)
		}
		l, err := safefs.Lock(d.path, cfg.Control.Socket)
		if err != nil {
			release()
			return nil, inUse(cfg, d.key, err)
		}
		locks = append(locks, l)
	}
	return release, nil
}

type stackDir struct{ key, path string }

// stackDirs lists run_dir, then the other directories whose fixed file
// names two stacks would fight over: Envoy's config_dir (its EDS file
// routes the traffic), locked even inside run_dir, since another stack's
// config could name that very directory.
func stackDirs(cfg *config.Config) []stackDir {
	dirs := []stackDir{{"run_dir", cfg.RunDir}}
	if cfg.Proxy.Engine == "envoy" && filepath.Clean(cfg.Proxy.Envoy.ConfigDir) != filepath.Clean(cfg.RunDir) {
		dirs = append(dirs, stackDir{"proxy.envoy.config_dir", cfg.Proxy.Envoy.ConfigDir})
	}
	return dirs
}

// inUse words a lock held by another daemon.
func inUse(cfg *config.Config, key string, err error) error {
	var busy *safefs.BusyError
	if !errors.As(err, &busy) {
		return fmt.Errorf("%s: %w", key, err)
	}
	if busy.Holder == cfg.Control.Socket {
		return fmt.Errorf("another whisgee daemon is running on %s; stop it first (whisgee ctl --socket %s status shows it) or set control.socket to another path", busy.Holder, busy.Holder)
	}
	holder := "another whisgee daemon"
	if busy.Holder != "" {
		holder = "the stack with control socket " + busy.Holder
	}
	return fmt.Errorf("%s %s is in use by %s; give this stack its own %s (or put its control.socket in another directory), or stop that stack first", key, busy.Dir, holder, key)
}
