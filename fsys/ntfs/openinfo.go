package ntfs

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"

	"github.com/grainvm/grain/fsys"
)

var _ fsys.InfoOpener = (*FS)(nil)

// OpenInfo opens the file info describes (a FileInfo this volume's Walk,
// Stat, Lstat or ReadDir returned) straight from the MFT record its Meta
// names, without looking name up: bulk readers open every file of a walk
// this way. The record's sequence number must still be the one listed
// (Meta.Generation): a record deleted or reused since is an error wrapping
// fs.ErrNotExist, never another file's content. name is used for errors
// and as the opened file's name.
//
// An info this volume's own Walk made for an ordinary file whose extents
// map all its content (see wrPlain) is opened from those extents without
// reading its record again: the Walk read that record from this volume,
// which does not change while it is open (as the record cache already
// assumes).
func (v *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	if x, ok := info.(*walkInfo); ok && x.v == v && x.plain {
		return v.openPlain(name, x), nil
	}
	m := fsys.MetaOf(info)
	if m == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ntfs: file information without grain metadata: %w", fs.ErrInvalid)}
	}
	num := m.Inode
	if num >= v.records {
		return nil, &fs.PathError{Op: "open", Path: name, Err: formatErr(recordWhere(num), "beyond the $MFT's %d records", v.records)}
	}
	rec, err := v.recordForOpen(num)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !rec.inUse() || rec.Base != 0 || uint32(rec.Seq) != m.Generation {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ntfs: MFT record %d: no longer the file listed (sequence %d, in use %v; listed with sequence %d): %w",
			num, rec.Seq, rec.inUse(), m.Generation, fs.ErrNotExist)}
	}
	ino, err := v.inodeOf(rec, num)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	base := path.Base(name)
	if name == "." || name == "" {
		base = "."
	}
	return v.newFile(name, v.makeInfo(ino, base), nil), nil
}

// recordForOpen returns record num from the cache, or reads it alone:
// OpenInfo's callers go through records in no useful order (by data
// position), so reading and parsing the neighbours as record does would
// be wasted, and caching them would evict what directory look-ups use.
func (v *FS) recordForOpen(num uint64) (*record, error) {
	if r, ok := v.recCache.Get(num); ok {
		return r, nil
	}
	b := make([]byte, v.recSize)
	if _, err := v.mft.ReadAt(b, int64(num)*v.recSize); err != nil && err != io.EOF {
		return nil, fmt.Errorf("ntfs: MFT record %d: %w", num, err)
	}
	return parseRecord(b, num, v.clusters)
}

// plainFile is a regular file opened from the extents its walkInfo
// lists, which map every byte of its content: it reads them as readPlain
// reads the runs they came from.
type plainFile struct {
	cursor
	v    *FS
	info *walkInfo
}

var _ fsys.File = (*plainFile)(nil)

func (v *FS) openPlain(name string, x *walkInfo) *plainFile {
	base := path.Base(name)
	if name == "." || name == "" {
		base = "."
	}
	if base != x.name {
		cp := *x
		cp.name = base
		cp.m.Extra = append([]fsys.KV(nil), x.m.Extra...)
		x = &cp
	}
	return &plainFile{cursor: cursor{path: name}, v: v, info: x}
}

func (f *plainFile) Stat() (fs.FileInfo, error) { return f.info, nil }

// ReadAt reads content at off; safe for concurrent use.
func (f *plainFile) ReadAt(p []byte, off int64) (int, error) {
	size := f.info.m.Size
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrInvalid}
	}
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > size-off {
		p = p[:size-off]
	}
	ext := f.info.m.Extents
	for n := 0; n < len(p); {
		o := off + int64(n)
		i := sort.Search(len(ext), func(i int) bool { return ext[i].Logical+ext[i].Length > o })
		if i == len(ext) || ext[i].Logical > o {
			err := formatErr(recordWhere(f.info.m.Inode), "offset %d of $DATA not mapped", o)
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		e := ext[i]
		k := int(min(int64(len(p)-n), e.Logical+e.Length-o))
		if err := f.v.readVolume(p[n:n+k], e.Physical+o-e.Logical); err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: fmt.Errorf("%w (%s $DATA)", err, recordWhere(f.info.m.Inode))}
		}
		n += k
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

func (f *plainFile) Read(p []byte) (int, error) { return f.read(p, f.ReadAt, true) }

func (f *plainFile) Seek(offset int64, whence int) (int64, error) {
	return f.seek(offset, whence, f.info.m.Size)
}
