package ntfs

import (
	"errors"
	"io"
	"io/fs"

	"github.com/grainvm/grain/fsys"
)

// file is an open NTFS file, directory or stream.
type file struct {
	cursor
	v  *FS
	fi *fileInfo
	r  io.ReaderAt // nil: no content

	dir     []fs.DirEntry // guarded by cursor.mu
	dirRead bool
}

var _ fsys.File = (*file)(nil)

func (v *FS) newFile(path string, fi *fileInfo, s *stream) *file {
	f := &file{cursor: cursor{path: path}, v: v, fi: fi}
	switch {
	case s != nil:
		f.r = s
	case fi.wof != nil:
		f.r = fi.wof
	case fi.mode.Type() == 0 && fi.data != nil:
		f.r = fi.data
	}
	return f
}

func (f *file) Stat() (fs.FileInfo, error) { return f.fi, nil }

// ReadAt reads content at off; safe for concurrent use.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if f.fi.IsDir() {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: errors.New("is a directory")}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrInvalid}
	}
	if off >= f.fi.size {
		return 0, io.EOF
	}
	if f.fi.readErr != nil {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: f.fi.readErr}
	}
	if f.r == nil {
		return 0, io.EOF
	}
	n, err := f.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: f.path, Err: err}
	}
	return n, err
}

func (f *file) Read(p []byte) (int, error) { return f.read(p, f.ReadAt, !f.fi.IsDir()) }

func (f *file) Seek(offset int64, whence int) (int64, error) {
	return f.seek(offset, whence, f.fi.size)
}

// ReadDir reads directory entries, n at a time (n <= 0: all that remain).
func (f *file) ReadDir(n int) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.path, Err: errors.New("not a directory")}
	}
	if !f.dirRead {
		list, err := f.v.dirEntries(f.fi.ino)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: f.path, Err: err}
		}
		f.dir, f.dirRead = list, true
	}
	if n <= 0 {
		out := f.dir
		f.dir = nil
		return out, nil
	}
	if len(f.dir) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(f.dir))
	out := f.dir[:n:n]
	f.dir = f.dir[n:]
	return out, nil
}
