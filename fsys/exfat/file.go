package exfat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/grainvm/grain/fsys"
)

// fileInfo is the fs.FileInfo of an exFAT file or directory. Sys returns a
// *fsys.Meta whose extents are resolved on first use.
type fileInfo struct {
	f    *FS
	name string
	e    *fileEntry // nil for the root

	once sync.Once
	meta *fsys.Meta
}

func (f *FS) infoOf(n *node) *fileInfo {
	return &fileInfo{f: f, name: n.name, e: n.e}
}

func (fi *fileInfo) Name() string { return fi.name }
func (fi *fileInfo) IsDir() bool  { return fi.e == nil || fi.e.isDir() }
func (fi *fileInfo) Size() int64 {
	if fi.IsDir() {
		return 0
	}
	return int64(fi.e.DataLength)
}
func (fi *fileInfo) Mode() fs.FileMode {
	if fi.IsDir() {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (fi *fileInfo) ModTime() time.Time {
	if fi.e == nil {
		return time.Time{}
	}
	return exfatTime(fi.e.LastModified, fi.e.LastModified10ms, fi.e.LastModUtcOffset)
}
func (fi *fileInfo) String() string { return fs.FormatFileInfo(fi) }

// Sys returns the *fsys.Meta of the file.
func (fi *fileInfo) Sys() any {
	fi.once.Do(func() {
		m := &fsys.Meta{Nlink: 1, Attributes: attrDirectory}
		fi.meta = m
		f := fi.f
		if fi.e == nil {
			m.Extents = f.root.extents
			m.Inode = uint64(f.root.extents[0].Physical)
			for _, x := range m.Extents {
				m.Allocated += x.Length
			}
			return
		}
		e := fi.e
		m.Inode = uint64(e.offset)
		m.Attributes = uint32(e.FileAttributes & (attrReadOnly | attrHidden | attrSystem | attrDirectory | attrArchive))
		m.Size = fi.Size()
		m.Modify = fi.ModTime()
		m.Access = exfatTime(e.LastAccessed, 0, e.LastAccUtcOffset)
		m.Birth = exfatTime(e.CreateTimestamp, e.Create10ms, e.CreateUtcOffset)
		if e.ValidDataLength < e.DataLength {
			m.Extra = append(m.Extra, fsys.KV{Key: "valid data length", Value: fmt.Sprint(e.ValidDataLength)})
		}
		if e.StreamFlags&flagNoFatChain != 0 {
			m.Extra = append(m.Extra, fsys.KV{Key: "contiguous", Value: "yes"})
		}
		ext, n, err := f.extentsOf(e)
		if err != nil {
			m.Extra = append(m.Extra, fsys.KV{Key: "error", Value: err.Error()})
			return
		}
		m.Extents = ext
		m.Allocated = (n + f.g.clusterSize - 1) / f.g.clusterSize * f.g.clusterSize
	})
	return fi.meta
}

func (f *FS) openNode(name string, n *node) (fsys.File, error) {
	fi := f.infoOf(n)
	h := &file{f: f, name: name, info: fi}
	if n.dir != nil {
		h.dir = n.dir
		return h, nil
	}
	ext, _, err := f.extentsOf(n.e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	h.ext = ext
	h.size = fi.Size()
	h.valid = int64(n.e.ValidDataLength)
	return h, nil
}

// file is an open file or directory. ReadAt is safe for concurrent use;
// Read, Seek and ReadDir share a position under a mutex.
type file struct {
	f     *FS
	name  string
	info  *fileInfo
	ext   []fsys.Extent
	size  int64
	valid int64 // ValidDataLength: bytes past it read as zeros
	dir   *dirData

	mu     sync.Mutex
	pos    int64
	dirPos int
	closed bool
}

var errClosed = errors.New("exfat: file closed")

func (h *file) Stat() (fs.FileInfo, error) { return h.info, nil }

func (h *file) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}

// ReadAt reads the file's data at off; bytes at or past ValidDataLength
// read as zeros.
func (h *file) ReadAt(p []byte, off int64) (int, error) {
	if h.dir != nil {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: errors.New("exfat: is a directory")}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fs.ErrInvalid}
	}
	if off >= h.size {
		return 0, io.EOF
	}
	want := p
	if rest := h.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	data := want
	if off+int64(len(data)) > h.valid {
		z := max(h.valid-off, 0)
		clear(data[z:])
		data = data[:z]
	}
	n := 0
	i := sort.Search(len(h.ext), func(i int) bool { return h.ext[i].Logical+h.ext[i].Length > off })
	for n < len(data) && i < len(h.ext) {
		x := h.ext[i]
		in := off + int64(n) - x.Logical
		k := min(int64(len(data)-n), x.Length-in)
		m, err := h.f.r.ReadAt(data[n:n+int(k)], x.Physical+in)
		n += m
		if m < int(k) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("exfat: data at 0x%x: %w", x.Physical+in, err)}
		}
		i++
	}
	if n < len(data) {
		return n, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("exfat: no extent for offset %d", off+int64(n))}
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

func (h *file) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fs.ErrClosed}
	}
	n, err := h.ReadAt(p, h.pos)
	h.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (h *file) Seek(offset int64, whence int) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += h.pos
	case io.SeekEnd:
		offset += h.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: h.name, Err: fs.ErrInvalid}
	}
	h.pos = offset
	return offset, nil
}

// ReadDir lists a directory in on-disk order, as fs.ReadDirFile says.
func (h *file) ReadDir(n int) ([]fs.DirEntry, error) {
	if h.dir == nil {
		return nil, &fs.PathError{Op: "readdir", Path: h.name, Err: errors.New("exfat: not a directory")}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, &fs.PathError{Op: "readdir", Path: h.name, Err: fs.ErrClosed}
	}
	all := h.dir.entries[h.dirPos:]
	if n > 0 && len(all) == 0 {
		return nil, io.EOF
	}
	if n > 0 && len(all) > n {
		all = all[:n]
	}
	h.dirPos += len(all)
	out := make([]fs.DirEntry, len(all))
	for i := range all {
		out[i] = dirEntryInfo{h.f.infoOf(&node{name: all[i].name, e: &all[i]})}
	}
	return out, nil
}
