package fat

import (
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
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
	if d := n.dir; d != nil {
		return extentfile.NewDir("fat", name, fi, len(d.entries), func(i int) fs.DirEntry {
			return fs.FileInfoToDirEntry(f.infoOf(&node{name: d.entries[i].name, e: &d.entries[i]}))
		}), nil
	}
	ext, _, err := f.extentsOf(n.e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return extentfile.New(f.r, "fat", name, fi, ext, fi.Size(), fi.Size()), nil
}
