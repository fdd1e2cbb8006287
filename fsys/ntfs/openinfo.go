package ntfs

import (
	"fmt"
	"io"
	"io/fs"
	"path"

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
func (v *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
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
