package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
)

var _ fsys.InfoOpener = (*FS)(nil)

// errSetSpans says an entry set runs on past the end of its cluster: the
// next part lies wherever the directory's chain goes, so the set cannot be
// read from its offset alone.
var errSetSpans = errors.New("exfat: entry set continues in the next cluster")

// OpenInfo opens the file info describes without looking its path up
// (fsys.InfoOpener): from the extents an info of Walk already holds, from
// the entry set an info of Stat or ReadDir holds, or else from the entry
// set at the volume offset its Meta.Inode records, which must have a good
// SetChecksum and still describe a file of the same kind and size. An
// entry set that crosses into another cluster is found by path instead.
func (f *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	switch fi := info.(type) {
	case *walkInfo:
		m := &fi.meta
		if fi.f == f && !fi.IsDir() && (m.Size == 0 || len(m.Extents) > 0) {
			return extentfile.New(f.r, "exfat", name, fi, m.Extents, m.Size, fi.valid), nil
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
	e, err := f.entrySetAt(int64(m.Inode))
	if err == errSetSpans {
		return f.openFile(name)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.isDir() != info.IsDir() || (!e.isDir() && int64(e.DataLength) != info.Size()) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("exfat: entry set at 0x%x no longer describes this file", m.Inode)}
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

// openEntry opens the file or directory of entry e (the root if e is nil),
// listed under base name elem.
func (f *FS) openEntry(name, elem string, e *fileEntry) (fsys.File, error) {
	n := &node{name: elem, e: e, dir: f.root}
	if e != nil {
		n.dir = nil
		if e.isDir() {
			d, err := f.subdir(e)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			n.dir = d
		}
	}
	return f.openNode(name, n)
}

// entrySetAt reads the entry set whose File entry is at volume offset off
// in the cluster heap.
func (f *FS) entrySetAt(off int64) (fileEntry, error) {
	g := f.g
	heapEnd := g.heapOffset + int64(g.clusters)*g.clusterSize
	if off < g.heapOffset || off+entrySize > min(heapEnd, f.size) || (off-g.heapOffset)%entrySize != 0 {
		return fileEntry{}, fmt.Errorf("exfat: 0x%x is not the offset of a directory entry", off)
	}
	var b [19 * entrySize]byte // a File entry and at most 18 secondaries
	if _, err := f.r.ReadAt(b[:entrySize], off); err != nil && err != io.EOF {
		return fileEntry{}, fmt.Errorf("exfat: reading entry at 0x%x: %w", off, err)
	}
	n := int(b[1])
	if b[0] != typeFile || n < 2 || n > 18 {
		return fileEntry{}, fmt.Errorf("exfat: entry at 0x%x is not a File entry (type 0x%02x, %d secondaries)", off, b[0], n)
	}
	size := int64(n+1) * entrySize
	if (off-g.heapOffset)%g.clusterSize+size > g.clusterSize {
		return fileEntry{}, errSetSpans
	}
	if off+size > f.size {
		return fileEntry{}, fmt.Errorf("exfat: entry set at 0x%x beyond end of volume", off)
	}
	set := b[:size]
	if _, err := f.r.ReadAt(set[entrySize:], off+entrySize); err != nil && err != io.EOF {
		return fileEntry{}, fmt.Errorf("exfat: reading entry set at 0x%x: %w", off, err)
	}
	if setChecksum(set) != binary.LittleEndian.Uint16(set[2:]) {
		return fileEntry{}, fmt.Errorf("exfat: entry set at 0x%x: SetChecksum mismatch", off)
	}
	e, err := parseSet(set)
	if err != nil {
		return fileEntry{}, fmt.Errorf("exfat: entry set at 0x%x: %v", off, err)
	}
	e.offset = off
	return e, nil
}
