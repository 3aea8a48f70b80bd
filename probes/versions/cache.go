package versions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// cacheEntry is what is kept between runs for one repository.
type cacheEntry struct {
	Latest    string    `json:"latest"`
	ETag      string    `json:"etag"`
	FetchedAt time.Time `json:"fetched_at"`
}

// cache is one JSON file per repository; a nil path means no cache.
type cache struct{ path string }

// newCache places the cache under dir, or the user's cache directory.
func newCache(dir, repo string) *cache {
	if dir == "off" {
		return &cache{}
	}
	if dir == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			dir = filepath.Join(x, "whisgee")
		} else if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "whisgee")
		} else {
			return &cache{}
		}
	}
	name := "releases-" + strings.ReplaceAll(repo, "/", "_") + ".json"
	return &cache{path: filepath.Join(dir, name)}
}

func (c *cache) load() (*cacheEntry, error) {
	if c.path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil || e.Latest == "" {
		// A damaged cache is as good as none: the next answer rewrites it.
		return nil, err
	}
	return &e, nil
}

// store writes the entry atomically, so two whisgee processes never leave
// half a file.
func (c *cache) store(e *cacheEntry) error {
	if c.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".releases-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}
