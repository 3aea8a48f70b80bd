package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxFileSize bounds an inventory or vars file: an inventory is text an
// operator writes, and reading a stray multi-gigabyte file is a mistake.
const maxFileSize = 64 << 20

// Load reads the inventory file at path, INI or YAML, and the
// group_vars/ and host_vars/ directories beside it, as
// `ansible-inventory -i path` does. A .yml, .yaml or .json file is YAML;
// a file without an extension is YAML if it reads as a YAML inventory,
// else INI; any other file is INI. An error in a file names the file and
// the line.
func Load(path string) (*Inventory, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("inventory %s: no such file; give an Ansible inventory (INI or YAML) with -i", path)
		}
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("inventory %s is a directory; give one inventory file (directories of inventories are not read yet)", path)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	b, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := b.loadVarsDirs(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return b.finish(path)
}

// Parse reads an inventory from data; name is its file name, for the
// format (as Load chooses it) and for errors. It reads no group_vars/ or
// host_vars/.
func Parse(name string, data []byte) (*Inventory, error) {
	b, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	return b.finish(name)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("inventory: %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("inventory: %s is larger than %d MB; is it an inventory?", path, maxFileSize>>20)
	}
	return data, nil
}

// parse tries the formats as Ansible's enabled plugins do: yaml first
// (it takes .yml, .yaml, .json and files without extension), then ini
// (any file). So a .yml file of bare host names reads as INI, as in
// Ansible. When both fail, the error given is that of the format the file
// looks meant for.
func parse(name string, data []byte) (*builder, error) {
	ext := strings.ToLower(filepath.Ext(name))
	yamlLike := ext == ".yml" || ext == ".yaml" || ext == ".json"
	var yamlErr error
	if yamlLike || ext == "" {
		b := newBuilder(name)
		if yamlErr = b.parseYAML(data); yamlErr == nil {
			return b, nil
		}
	}
	b := newBuilder(name)
	iniErr := b.parseINI(data)
	if iniErr == nil {
		return b, nil
	}
	if yamlErr != nil && (yamlLike || looksLikeYAML(name, data)) {
		return nil, yamlErr
	}
	return nil, iniErr
}

// looksLikeYAML is true when data is a YAML mapping.
func looksLikeYAML(name string, data []byte) bool {
	doc, err := decodeYAML(name, data)
	return err == nil && doc.isMap
}
