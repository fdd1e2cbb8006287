package exfat

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
	"github.com/grainvm/grain/fsys/internal/treewalk"
)

var _ fsys.WalkFS = (*FS)(nil)

// maxWalkFAT bounds the FAT a walk keeps in memory (16M clusters, read in
// large pages as its chains reach them); a larger one is read through the
// bounded page cache.
const maxWalkFAT = 64 << 20

// Walk calls fn for root and every file and directory below it (see
// fsys.WalkFS). It reads the FAT once, then reads and parses directories
// on several goroutines ahead of fn; the infos it passes carry their Meta
// complete, extents included. Entries come breadth first, each directory's
// in on-disk order. Entry sets skipped for a bad checksum or layout are
// reported by Warnings, as when listing directory by directory.
func (f *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	n, err := f.resolve("walk", root)
	if err != nil {
		return err
	}
	if err := fn(root, f.infoOf(n)); err != nil || n.dir == nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	w := &walker{f: f, fat: f.fat}
	if size := min(f.g.fatSize, (int64(f.g.clusters)+2)*4); size <= maxWalkFAT && !f.pagedWalk {
		w.fat = walkFAT{extentfile.NewRegion(f.r, "exfat", f.g.fatOffset, size)}
	}
	key := uint64(f.g.bs.FirstClusterOfRootDirectory)
	if n.e != nil {
		key = uint64(n.e.FirstCluster)
	}
	return treewalk.Walk("exfat", root, &walkDir{ext: n.dir.extents}, key, w.read, fn)
}

// walkDir is a directory to list: its data's extents, or the error met
// resolving them.
type walkDir struct {
	ext []fsys.Extent
	err error
}

type walker struct {
	f   *FS
	fat nexter
}

// walkScratch is a worker's reusable buffers.
type walkScratch struct {
	data []byte
	ents []fileEntry
}

// walkInfo is the FileInfo a walk gives: the name and the Meta, made once,
// in slabs of one directory's entries; valid is the ValidDataLength.
type walkInfo struct {
	f     *FS
	name  string
	valid int64
	meta  fsys.Meta
}

func (fi *walkInfo) Name() string       { return fi.name }
func (fi *walkInfo) IsDir() bool        { return fi.meta.Attributes&attrDirectory != 0 }
func (fi *walkInfo) Size() int64        { return fi.meta.Size }
func (fi *walkInfo) ModTime() time.Time { return fi.meta.Modify }
func (fi *walkInfo) Sys() any           { return &fi.meta }
func (fi *walkInfo) String() string     { return fs.FormatFileInfo(fi) }
func (fi *walkInfo) Mode() fs.FileMode {
	if fi.IsDir() {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

// read lists one directory for treewalk, filling the same Meta as
// fileInfo.Sys does.
func (w *walker) read(s *walkScratch, dir string, d *walkDir) ([]treewalk.Entry[*walkDir], error) {
	if d.err != nil {
		return nil, d.err
	}
	f, g := w.f, w.f.g
	var total int64
	for _, x := range d.ext {
		total += x.Length
	}
	if total > maxDirSize {
		return nil, fmt.Errorf("exfat: directory of %d bytes is larger than a directory can be", total)
	}
	data, err := extentfile.ReadData(f.r, f.size, "exfat", d.ext, total, s.data)
	if err != nil {
		return nil, err
	}
	s.data = data
	offsetOf := func(i int) int64 { return extentfile.Physical(d.ext, int64(i)) }
	s.ents = parseDir(s.ents[:0], data, offsetOf, nil, f.warn)
	count := len(s.ents)
	// The entries' paths, laid out in one buffer: one string for the
	// directory, each name a suffix of its path.
	prefix := len(dir) + 1
	if dir == "." {
		prefix = 0
	}
	size := 0
	for i := range s.ents {
		s.ents[i].name = fsys.SafeName(s.ents[i].name)
		size += prefix + len(s.ents[i].name)
	}
	buf := make([]byte, 0, size)
	for i := range s.ents {
		if prefix > 0 {
			buf = append(buf, dir...)
			buf = append(buf, '/')
		}
		buf = append(buf, s.ents[i].name...)
	}
	paths := string(buf)
	infos := make([]walkInfo, count)
	out := make([]treewalk.Entry[*walkDir], count)
	exts := make([]fsys.Extent, 0, count)
	var kvs []fsys.KV
	for i := range s.ents {
		e := &s.ents[i]
		wi := &infos[i]
		wi.f = f
		path := paths[:prefix+len(e.name)]
		paths = paths[len(path):]
		wi.name = path[prefix:]
		wi.valid = int64(e.ValidDataLength)
		m := &wi.meta
		m.Nlink = 1
		m.Inode = uint64(e.offset)
		m.Attributes = uint32(e.FileAttributes & (attrReadOnly | attrHidden | attrSystem | attrDirectory | attrArchive))
		if !e.isDir() {
			m.Size = int64(e.DataLength)
		}
		m.Modify = exfatTime(e.LastModified, e.LastModified10ms, e.LastModUtcOffset)
		m.Access = exfatTime(e.LastAccessed, 0, e.LastAccUtcOffset)
		m.Birth = exfatTime(e.CreateTimestamp, e.Create10ms, e.CreateUtcOffset)
		k0 := len(kvs)
		if e.ValidDataLength < e.DataLength {
			kvs = append(kvs, fsys.KV{Key: "valid data length", Value: fmt.Sprint(e.ValidDataLength)})
		}
		if e.StreamFlags&flagNoFatChain != 0 {
			kvs = append(kvs, fsys.KV{Key: "contiguous", Value: "yes"})
		}
		if len(kvs) > k0 {
			m.Extra = kvs[k0:len(kvs):len(kvs)]
		}
		base := len(exts)
		var n int64
		var err error
		exts, n, err = f.extentsWith(w.fat, e, exts)
		if err != nil {
			m.Extra = append(m.Extra, fsys.KV{Key: "error", Value: err.Error()})
		} else {
			if len(exts) > base {
				m.Extents = exts[base:len(exts):len(exts)]
			}
			m.Allocated = (n + g.clusterSize - 1) / g.clusterSize * g.clusterSize
		}
		o := &out[i]
		o.Path, o.Info = path, wi
		if e.isDir() {
			o.IsDir, o.Sub = true, &walkDir{ext: m.Extents, err: err}
			if len(m.Extents) > 0 {
				o.Key = uint64(e.FirstCluster)
			}
		}
	}
	return out, nil
}
