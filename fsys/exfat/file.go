package exfat

import (
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
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
	if d := n.dir; d != nil {
		return extentfile.NewDir("exfat", name, fi, len(d.entries), func(i int) fs.DirEntry {
			return fs.FileInfoToDirEntry(f.infoOf(&node{name: d.entries[i].name, e: &d.entries[i]}))
		}), nil
	}
	ext, _, err := f.extentsOf(n.e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return extentfile.New(f.r, "exfat", name, fi, ext, fi.Size(), int64(n.e.ValidDataLength)), nil
}
