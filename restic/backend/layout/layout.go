// Package layout names the files of a restic repository in restic's
// "default" layout, with slash-separated paths, as the SFTP, REST and S3
// backends use it: config, keys/ID, locks/ID, snapshots/ID, index/ID and
// data/XX/ID where XX are the first two hex digits of the pack's ID.
package layout

import (
	"fmt"
	"path"
	"strings"

	"github.com/grainvm/grain/restic"
)

// Types lists the file types that live in folders.
var types = [...]restic.FileType{restic.KeyFile, restic.LockFile, restic.SnapshotFile, restic.IndexFile, restic.PackFile}

// Types returns the file types stored in folders (all but the config).
func Types() []restic.FileType { return types[:] }

// CheckName refuses names that would leave their folder or that restic
// never writes (empty, with a slash or backslash, "." or "..", control
// characters, a pack name shorter than two characters).
func CheckName(h restic.Handle) error {
	if h.Type == restic.ConfigFile {
		return nil
	}
	if h.Type.Dir() == "" {
		return fmt.Errorf("unknown file type %v", h.Type)
	}
	n := h.Name
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, `/\`) {
		return fmt.Errorf("invalid file name %q", n)
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x20 || n[i] == 0x7f {
			return fmt.Errorf("invalid file name %q", n)
		}
	}
	if h.Type == restic.PackFile && len(n) < 2 {
		return fmt.Errorf("invalid pack name %q", n)
	}
	return nil
}

// Filename is the path of h below prefix (prefix may be empty).
func Filename(prefix string, h restic.Handle) (string, error) {
	if err := CheckName(h); err != nil {
		return "", err
	}
	switch h.Type {
	case restic.ConfigFile:
		return join(prefix, "config"), nil
	case restic.PackFile:
		return join(prefix, "data", h.Name[:2], h.Name), nil
	}
	return join(prefix, h.Type.Dir(), h.Name), nil
}

// Dir is the folder of file type t below prefix; for packs it is the data
// folder holding the XX subfolders.
func Dir(prefix string, t restic.FileType) string {
	if t == restic.ConfigFile {
		return prefix
	}
	return join(prefix, t.Dir())
}

// Dirs lists every folder of a new repository below prefix, parents first:
// prefix itself (when not empty), the type folders and data/00 … data/ff.
func Dirs(prefix string) []string {
	var dirs []string
	if prefix != "" {
		dirs = append(dirs, prefix)
	}
	for _, t := range types {
		dirs = append(dirs, Dir(prefix, t))
	}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, join(prefix, "data", fmt.Sprintf("%02x", i)))
	}
	return dirs
}

// IsTemp reports whether a listed name is an unfinished upload of restic's
// or grain's backends, which List skips.
func IsTemp(name string) bool {
	return strings.Contains(name, "-tmp-") || strings.Contains(name, "-restic-temp-")
}

func join(prefix string, elem ...string) string {
	if prefix == "" {
		return path.Join(elem...)
	}
	return path.Join(append([]string{prefix}, elem...)...)
}
