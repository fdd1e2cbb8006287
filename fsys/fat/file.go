package fat

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

// fileInfo is the fs.FileInfo of a FAT file or directory. Sys returns a
// *fsys.Meta whose extents are resolved on first use.
type fileInfo struct {
	f    *FS
	name string
	e    *entry // nil for the root

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
	return int64(fi.e.d.FileSize)
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
	return fatTime(fi.e.d.WrtDate, fi.e.d.WrtTime, 0xFF)
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
		d := &fi.e.d
		m.Inode = uint64(fi.e.offset)
		m.Attributes = uint32(d.Attr & (attrReadOnly | attrHidden | attrSystem | attrDirectory | attrArchive))
		m.Size = fi.Size()
		m.Modify = fi.ModTime()
		m.Access = fatTime(d.LstAccDate, 0, 0xFF)
		m.Birth = fatTime(d.CrtDate, d.CrtTime, d.CrtTimeTenth)
		if fi.e.short != fi.e.name {
			m.Extra = append(m.Extra, fsys.KV{Key: "short name", Value: fi.e.short})
		}
		ext, n, err := f.extentsOf(fi.e)
		if err != nil {
			m.Extra = append(m.Extra, fsys.KV{Key: "error", Value: err.Error()})
			return
		}
		m.Extents = ext
		m.Allocated = n * f.g.clusterSize
	})
	return fi.meta
}

// extentsOf resolves the cluster chain of an entry: the clusters its size
// needs for a file, the whole chain for a directory.
func (f *FS) extentsOf(e *entry) ([]fsys.Extent, int64, error) {
	g := f.g
	if e.isDir() {
		if e.cluster < 2 || e.cluster > g.clusters+1 {
			return nil, 0, fmt.Errorf("fat: directory first cluster %d out of range", e.cluster)
		}
		return f.fat.chain(e.cluster, -1, maxDirSize/g.clusterSize)
	}
	want := (int64(e.d.FileSize) + g.clusterSize - 1) / g.clusterSize
	if want == 0 {
		return nil, 0, nil
	}
	if e.cluster < 2 || e.cluster > g.clusters+1 {
		return nil, 0, fmt.Errorf("fat: first cluster %d out of range for a file of %d bytes", e.cluster, e.d.FileSize)
	}
	ext, n, err := f.fat.chain(e.cluster, want, -1)
	if err != nil {
		return nil, 0, err
	}
	// The last extent ends at the file size; Allocated keeps whole clusters.
	if k := len(ext) - 1; k >= 0 {
		ext[k].Length = int64(e.d.FileSize) - ext[k].Logical
	}
	return ext, n, nil
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
	return h, nil
}

// file is an open file or directory. ReadAt is safe for concurrent use;
// Read, Seek and ReadDir share a position under a mutex.
type file struct {
	f    *FS
	name string
	info *fileInfo
	ext  []fsys.Extent
	size int64
	dir  *dirData

	mu     sync.Mutex
	pos    int64
	dirPos int
	closed bool
}

var errClosed = errors.New("fat: file closed")

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

// ReadAt reads the file's data at off.
func (h *file) ReadAt(p []byte, off int64) (int, error) {
	if h.dir != nil {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: errors.New("fat: is a directory")}
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
	n := 0
	i := sort.Search(len(h.ext), func(i int) bool { return h.ext[i].Logical+h.ext[i].Length > off })
	for n < len(want) && i < len(h.ext) {
		x := h.ext[i]
		in := off + int64(n) - x.Logical
		k := min(int64(len(want)-n), x.Length-in)
		m, err := h.f.r.ReadAt(want[n:n+int(k)], x.Physical+in)
		n += m
		if m < int(k) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("fat: data at 0x%x: %w", x.Physical+in, err)}
		}
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
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
		return nil, &fs.PathError{Op: "readdir", Path: h.name, Err: errors.New("fat: not a directory")}
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
