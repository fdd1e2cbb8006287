// Package extentfile is the open file the FAT and exFAT drivers share: a
// file whose data is a list of extents of the volume (fsys.Extent, in file
// order), or a directory listed from its parsed entries.
//
// ReadAt is safe for concurrent use; Read, Seek and ReadDir share one
// position under a mutex. Bytes at or past the valid length (exFAT's
// ValidDataLength; the size for FAT) read as zeros without touching the
// volume.
package extentfile

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"sync"

	"github.com/grainvm/grain/fsys"
)

// File is an open file or directory.
type File struct {
	r     io.ReaderAt
	pkg   string // driver name for errors: "fat", "exfat"
	name  string
	info  fs.FileInfo
	ext   []fsys.Extent
	size  int64
	valid int64

	isDir    bool
	dirLen   int
	dirEntry func(i int) fs.DirEntry

	mu     sync.Mutex
	pos    int64
	dirPos int
	closed bool
}

var _ fsys.File = (*File)(nil)

// New opens a regular file of size bytes whose data lies in ext on r;
// bytes at valid and after read as zeros. name is the path opened, info
// what Stat returns, pkg the driver's name for errors.
func New(r io.ReaderAt, pkg, name string, info fs.FileInfo, ext []fsys.Extent, size, valid int64) *File {
	return &File{r: r, pkg: pkg, name: name, info: info, ext: ext, size: size, valid: min(valid, size)}
}

// NewDir opens a directory of n entries; entry(i) makes the i-th, in
// on-disk order, when ReadDir reaches it.
func NewDir(pkg, name string, info fs.FileInfo, n int, entry func(i int) fs.DirEntry) *File {
	return &File{pkg: pkg, name: name, info: info, isDir: true, dirLen: n, dirEntry: entry}
}

// Stat returns the info the file was opened with.
func (h *File) Stat() (fs.FileInfo, error) { return h.info, nil }

// Close marks the file closed; a second Close fails.
func (h *File) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}

// ReadAt reads the file's data at off.
func (h *File) ReadAt(p []byte, off int64) (int, error) {
	if h.isDir {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("%s: is a directory", h.pkg)}
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
		if in < 0 { // a hole between extents: there are none on FAT or exFAT
			break
		}
		k := min(int64(len(data)-n), x.Length-in)
		m, err := h.r.ReadAt(data[n:n+int(k)], x.Physical+in)
		n += m
		if m < int(k) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("%s: data at 0x%x: %w", h.pkg, x.Physical+in, err)}
		}
		i++
	}
	if n < len(data) {
		return n, &fs.PathError{Op: "read", Path: h.name, Err: fmt.Errorf("%s: no extent for offset %d", h.pkg, off+int64(n))}
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// Read reads at the file position and advances it.
func (h *File) Read(p []byte) (int, error) {
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

// Seek sets the position for the next Read.
func (h *File) Seek(offset int64, whence int) (int64, error) {
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
func (h *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if !h.isDir {
		return nil, &fs.PathError{Op: "readdir", Path: h.name, Err: fmt.Errorf("%s: not a directory", h.pkg)}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, &fs.PathError{Op: "readdir", Path: h.name, Err: fs.ErrClosed}
	}
	k := h.dirLen - h.dirPos
	if n > 0 && k == 0 {
		return nil, io.EOF
	}
	if n > 0 && k > n {
		k = n
	}
	out := make([]fs.DirEntry, k)
	for i := range out {
		out[i] = h.dirEntry(h.dirPos + i)
	}
	h.dirPos += k
	return out, nil
}

// Overlap reports whether extents share a byte of the volume: a cluster
// chain that uses a cluster twice (a loop).
func Overlap(ext []fsys.Extent) bool {
	if len(ext) < 2 {
		return false
	}
	s := slices.Clone(ext)
	slices.SortFunc(s, func(a, b fsys.Extent) int {
		switch {
		case a.Physical < b.Physical:
			return -1
		case a.Physical > b.Physical:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i-1].Physical+s[i-1].Length > s[i].Physical {
			return true
		}
	}
	return false
}

// ReadData reads the first n bytes of the data ext maps (file order, no
// holes) from r, a volume of size bytes, into buf, which is grown when too
// small; bytes ext does not reach are left zero. The caller bounds n (a
// directory's or table's limit) before calling. pkg names the driver in
// errors.
func ReadData(r io.ReaderAt, size int64, pkg string, ext []fsys.Extent, n int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	b := buf[:n]
	end := int64(0)
	for _, x := range ext {
		if x.Logical >= n {
			break
		}
		k := min(x.Length, n-x.Logical)
		if x.Physical < 0 || x.Physical+k > size {
			return nil, fmt.Errorf("%s: data at 0x%x beyond end of volume", pkg, x.Physical)
		}
		if x.Logical < end {
			return nil, fmt.Errorf("%s: extents out of order at 0x%x", pkg, x.Physical)
		}
		clear(b[end:x.Logical])
		if _, err := r.ReadAt(b[x.Logical:x.Logical+k], x.Physical); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: reading at 0x%x: %w", pkg, x.Physical, err)
		}
		end = x.Logical + k
	}
	clear(b[end:])
	return b, nil
}

// Physical is the volume offset of byte off of the data ext maps, -1 when
// ext does not reach it.
func Physical(ext []fsys.Extent, off int64) int64 {
	for _, x := range ext {
		if off >= x.Logical && off < x.Logical+x.Length {
			return x.Physical + off - x.Logical
		}
	}
	return -1
}

// Within reports whether volume offset off lies in one of the extents of
// any of lists: the drivers' check that a directory does not contain one
// of its own ancestors.
func Within(lists [][]fsys.Extent, off int64) bool {
	for _, ext := range lists {
		for _, x := range ext {
			if off >= x.Physical && off < x.Physical+x.Length {
				return true
			}
		}
	}
	return false
}

// Append adds the length bytes at volume offset off to ext as the data at
// file offset logical, growing the last extent when it ends at off and is
// not before ext[base] (the start of the chain being built).
func Append(ext []fsys.Extent, base int, logical, off, length int64) []fsys.Extent {
	if k := len(ext) - 1; k >= base && ext[k].Physical+ext[k].Length == off {
		ext[k].Length += length
		return ext
	}
	return append(ext, fsys.Extent{Logical: logical, Physical: off, Length: length})
}

// FinishChain rejects a cluster chain (ext[base:], n clusters from
// cluster first) that uses a cluster twice (a loop), found as overlapping
// extents: it returns ext[:base] and an error naming pkg, or ext and n.
func FinishChain(pkg string, ext []fsys.Extent, base int, n int64, first uint32) ([]fsys.Extent, int64, error) {
	if Overlap(ext[base:]) {
		return ext[:base], 0, fmt.Errorf("%s: cluster chain from %d uses a cluster twice (a loop)", pkg, first)
	}
	return ext, n, nil
}
