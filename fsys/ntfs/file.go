package ntfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/grainvm/grain/fsys"
)

// file is an open NTFS file, directory or stream.
type file struct {
	v    *FS
	path string
	fi   *fileInfo
	r    io.ReaderAt // nil: no content

	mu      sync.Mutex
	pos     int64
	dir     []fs.DirEntry
	dirRead bool
	closed  bool
}

var _ fsys.File = (*file)(nil)

func (v *FS) newFile(path string, fi *fileInfo, s *stream) *file {
	f := &file{v: v, path: path, fi: fi}
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

func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.path, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

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

func (f *file) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrClosed}
	}
	if len(p) == 0 && !f.fi.IsDir() {
		return 0, nil
	}
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 && n == len(p) {
		err = nil
	}
	return n, err
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.fi.size + offset
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.path, Err: fmt.Errorf("invalid whence %d", whence)}
	}
	if abs < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.path, Err: fs.ErrInvalid}
	}
	f.pos = abs
	return abs, nil
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
