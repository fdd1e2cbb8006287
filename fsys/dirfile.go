package fsys

import (
	"errors"
	"io"
	"io/fs"
)

// NewDirFile returns an open directory that lists entries: a directory
// made up by the layer above the drivers (the volumes of an image, a
// folder of a backup snapshot).
func NewDirFile(info fs.FileInfo, entries []fs.DirEntry) fs.ReadDirFile {
	return &dirFile{info: info, entries: entries}
}

type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

// ReadDir is fs.ReadDirFile's: n > 0 lists at most n entries, io.EOF at
// the end; n <= 0 lists all that are left.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
