package fat

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
)

var _ fsys.InfoOpener = (*FS)(nil)

// OpenInfo opens the file info describes without looking its path up
// (fsys.InfoOpener): from the extents an info of Walk already holds, from
// the directory entry an info of Stat or ReadDir holds, or else from the
// 8.3 directory entry at the volume offset its Meta.Inode records, which
// must still describe a file of the same kind and size. name is used in
// errors and as the open file's name.
func (f *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	switch fi := info.(type) {
	case *walkInfo:
		m := &fi.meta
		if fi.f == f && !fi.IsDir() && (m.Size == 0 || len(m.Extents) > 0) {
			return extentfile.New(f.r, "fat", name, fi, m.Extents, m.Size, m.Size), nil
		}
	case *fileInfo:
		if fi.f == f {
			return f.openEntry(name, fi.name, fi.e)
		}
	}
	m := fsys.MetaOf(info)
	if m == nil || name == "." {
		// The root has no entry of its own (its Inode is the offset of
		// its data, where its first entry lies too).
		return f.openFile(name)
	}
	e, err := f.entryAt(int64(m.Inode))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.isDir() != info.IsDir() || (!e.isDir() && int64(e.d.FileSize) != info.Size()) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: directory entry at 0x%x no longer describes this file", m.Inode)}
	}
	e.name = info.Name()
	return f.openEntry(name, e.name, &e)
}

// openFile opens name through a path look-up, as an fsys.File.
func (f *FS) openFile(name string) (fsys.File, error) {
	n, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	return f.openNode(name, n)
}

// openEntry opens the file or directory of entry e (the root if e is
// nil), listed under base name elem.
func (f *FS) openEntry(name, elem string, e *entry) (fsys.File, error) {
	n := &node{name: elem, e: e, dir: f.root}
	if e != nil {
		n.dir = nil
		if e.isDir() {
			if e.cluster < 2 || e.cluster > f.g.clusters+1 {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("fat: directory first cluster %d out of range", e.cluster)}
			}
			d, err := f.readDirData(e.cluster, false)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			n.dir = d
		}
	}
	return f.openNode(name, n)
}

// entryAt reads the 8.3 directory entry at volume offset off, which must
// lie in the fixed root directory (FAT12/16) or the data area, on an
// entry boundary, and be a file or directory entry in use.
func (f *FS) entryAt(off int64) (entry, error) {
	g := f.g
	inRoot := g.kind != "fat32" && off >= g.rootOffset && off+dirEntrySize <= g.rootOffset+g.rootSize && (off-g.rootOffset)%dirEntrySize == 0
	dataEnd := g.dataOffset + int64(g.clusters)*g.clusterSize
	inData := off >= g.dataOffset && off+dirEntrySize <= dataEnd && (off-g.dataOffset)%dirEntrySize == 0
	if !inRoot && !inData || off+dirEntrySize > f.size {
		return entry{}, fmt.Errorf("fat: 0x%x is not the offset of a directory entry", off)
	}
	b := make([]byte, dirEntrySize)
	if _, err := f.r.ReadAt(b, off); err != nil && err != io.EOF {
		return entry{}, fmt.Errorf("fat: reading directory entry at 0x%x: %w", off, err)
	}
	switch {
	case b[0] == 0x00 || b[0] == 0xE5:
		return entry{}, fmt.Errorf("fat: directory entry at 0x%x is free", off)
	case b[11]&attrLongMask == attrLongName:
		return entry{}, fmt.Errorf("fat: directory entry at 0x%x is a long-name entry", off)
	case b[11]&attrVolumeID != 0:
		return entry{}, fmt.Errorf("fat: directory entry at 0x%x is a volume label", off)
	}
	d := parseDirEntry(b)
	if string(d.Name[:]) == ".          " || string(d.Name[:]) == "..         " {
		return entry{}, fmt.Errorf("fat: directory entry at 0x%x is a dot entry", off)
	}
	e := entry{d: d, offset: off, cluster: uint32(d.FstClusLO)}
	if g.kind == "fat32" {
		e.cluster |= uint32(d.FstClusHI) << 16
	}
	e.short = shortName(d.Name, d.NTRes)
	e.name = e.short
	return e, nil
}
