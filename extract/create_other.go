//go:build !linux

package extract

import (
	"io/fs"
	"os"
	"time"
)

// openDirFile: folders are used through their roots here.
func openDirFile(r *os.Root) (*os.File, int, error) { return nil, -1, nil }

// createIn makes the new file name in the folder d, never replacing one.
func createIn(d *openDir, name string, perm fs.FileMode) (*os.File, error) {
	return d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

// chtimesIn sets the times of name in the folder d (a zero time is left
// as it is).
func chtimesIn(d *openDir, name string, atime, mtime time.Time) error {
	return d.root.Chtimes(name, atime, mtime)
}
