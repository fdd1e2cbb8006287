package fat

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
	"github.com/grainvm/grain/fsys/internal/treewalk"
)

var _ fsys.WalkFS = (*FS)(nil)

// maxWalkFAT bounds the FAT a walk keeps in memory (read in large pages as
// its chains reach them); a larger FAT (a FAT32 volume of more than 16M
// clusters) is read through the bounded page cache instead.
const maxWalkFAT = 64 << 20

// Walk calls fn for root and every file and directory below it (see
// fsys.WalkFS). It reads the FAT once (the parts it needs, in large
// pages), and reads and parses directories
// on several goroutines ahead of fn, each directory's clusters in as few
// reads as its chain allows; the infos it passes carry their Meta
// complete, extents included. Entries come breadth first, each directory's
// in on-disk order.
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
	if f.fat.size <= maxWalkFAT && !f.pagedWalk {
		w.fat = &walkFAT{kind: f.g.kind, r: extentfile.NewRegion(f.r, "fat", f.fat.offset, f.fat.size)}
	}
	start := &walkDir{ext: n.dir.extents}
	var key uint64
	if n.e != nil {
		key = uint64(n.e.cluster)
	} else if f.g.kind == "fat32" {
		key = uint64(f.g.bs.RootClus)
	}
	return treewalk.Walk("fat", root, start, key, w.read, fn)
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

// walkScratch is a worker's reusable buffers: the directory's raw data,
// its parsed entries and their names, all copied out before reuse.
type walkScratch struct {
	data  []byte
	ents  []entry
	names []byte
	// The last time decoded for each field: files of one directory
	// often share them, and time.Date is the dearest part of an entry.
	modify, access, birth timeMemo
}

// timeMemo remembers one fatTime result.
type timeMemo struct {
	key uint64
	t   time.Time
}

func (m *timeMemo) fatTime(date, tm uint16, tenth uint8) time.Time {
	key := 1<<40 | uint64(date)<<24 | uint64(tm)<<8 | uint64(tenth)
	if m.key != key {
		m.key, m.t = key, fatTime(date, tm, tenth)
	}
	return m.t
}

// walkInfo is the FileInfo a walk gives: the name and the Meta, made
// once, in slabs of one directory's entries.
type walkInfo struct {
	f    *FS
	name string
	meta fsys.Meta
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

// read lists one directory for treewalk: it reads the data, parses the
// entries and resolves every entry's cluster chain through the in-memory
// FAT, filling the same Meta as fileInfo.Sys does. The entries' paths,
// names and short names are cut from one string per directory.
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
		return nil, fmt.Errorf("fat: directory at 0x%x: %d bytes is larger than a directory can be", d.ext[0].Physical, total)
	}
	data, err := extentfile.ReadData(f.r, f.size, "fat", d.ext, total, s.data)
	if err != nil {
		return nil, err
	}
	s.data = data
	offsetOf := func(i int) int64 { return extentfile.Physical(d.ext, int64(i)) }
	s.ents, s.names, _, _ = parseDir(s.ents[:0], s.names[:0], data, offsetOf, g.kind == "fat32")
	ents := s.ents[:0]
	for _, e := range s.ents {
		if !e.dotEntry {
			ents = append(ents, e)
		}
	}
	// Lay out "dir/name" for every entry, then its short name where it
	// differs, in one buffer: one string allocation for the directory.
	prefix := len(dir) + 1
	if dir == "." {
		prefix = 0
	}
	size := 0
	for i := range ents {
		e := &ents[i]
		size += prefix + int(e.nameAt.n)
		if e.shortAt != e.nameAt {
			size += int(e.shortAt.n)
		}
	}
	buf := make([]byte, 0, size)
	paths := make([]span, len(ents))
	shorts := make([]span, len(ents))
	for i := range ents {
		e := &ents[i]
		start := len(buf)
		if prefix > 0 {
			buf = append(buf, dir...)
			buf = append(buf, '/')
		}
		buf = append(buf, e.nameAt.in(s.names)...)
		paths[i] = span{int32(start), int32(len(buf) - start)}
		shorts[i] = span{int32(start + prefix), e.nameAt.n}
		if e.shortAt != e.nameAt {
			start = len(buf)
			buf = append(buf, e.shortAt.in(s.names)...)
			shorts[i] = span{int32(start), int32(len(buf) - start)}
		}
	}
	str := string(buf)

	// One allocation each for the infos, the extents (most files have one)
	// and the short-name facts, shared by the directory's entries.
	infos := make([]walkInfo, len(ents))
	out := make([]treewalk.Entry[*walkDir], len(ents))
	exts := make([]fsys.Extent, 0, len(ents))
	var kvs []fsys.KV
	for i := range ents {
		e := &ents[i]
		o := &out[i]
		wi := &infos[i]
		wi.f = f
		o.Path = paths[i].of(str)
		wi.name = o.Path[prefix:]
		if safe := fsys.SafeName(wi.name); safe != wi.name {
			wi.name, o.Path = safe, treewalk.Join(dir, safe)
		}
		m := &wi.meta
		m.Nlink = 1
		m.Inode = uint64(e.offset)
		m.Attributes = uint32(e.d.Attr & (attrReadOnly | attrHidden | attrSystem | attrDirectory | attrArchive))
		if !e.isDir() {
			m.Size = int64(e.d.FileSize)
		}
		m.Modify = s.modify.fatTime(e.d.WrtDate, e.d.WrtTime, 0xFF)
		m.Access = s.access.fatTime(e.d.LstAccDate, 0, 0xFF)
		m.Birth = s.birth.fatTime(e.d.CrtDate, e.d.CrtTime, e.d.CrtTimeTenth)
		if short := shorts[i].of(str); short != wi.name {
			if kvs == nil {
				kvs = make([]fsys.KV, 0, len(ents)-i)
			}
			kvs = append(kvs, fsys.KV{Key: "short name", Value: short})
			m.Extra = kvs[len(kvs)-1 : len(kvs) : len(kvs)]
		}
		var err error
		base := len(exts)
		var nc int64
		exts, nc, err = w.extents(exts, e)
		if err != nil {
			m.Extra = append(m.Extra, fsys.KV{Key: "error", Value: err.Error()})
		} else if len(exts) > base {
			m.Extents = exts[base:len(exts):len(exts)]
			m.Allocated = nc * g.clusterSize
		}
		o.Info = wi
		if e.isDir() {
			o.IsDir, o.Key = true, uint64(e.cluster)
			o.Sub = &walkDir{ext: m.Extents, err: err}
			if err == nil && len(m.Extents) == 0 {
				o.Sub.err = fmt.Errorf("fat: directory at cluster %d has no clusters", e.cluster)
			}
		}
	}
	return out, nil
}

// extents is extentsOf through the walk's FAT, appending to dst.
func (w *walker) extents(dst []fsys.Extent, e *entry) ([]fsys.Extent, int64, error) {
	g := w.f.g
	if e.isDir() {
		if e.cluster < 2 || e.cluster > g.clusters+1 {
			return dst, 0, fmt.Errorf("fat: directory first cluster %d out of range", e.cluster)
		}
		return chain(g, w.fat, e.cluster, -1, maxDirSize/g.clusterSize, dst)
	}
	want := (int64(e.d.FileSize) + g.clusterSize - 1) / g.clusterSize
	if want == 0 {
		return dst, 0, nil
	}
	if e.cluster < 2 || e.cluster > g.clusters+1 {
		return dst, 0, fmt.Errorf("fat: first cluster %d out of range for a file of %d bytes", e.cluster, e.d.FileSize)
	}
	base := len(dst)
	all, n, err := chain(g, w.fat, e.cluster, want, -1, dst)
	if err == nil && len(all) > base {
		// The last extent ends at the file size; Allocated keeps whole clusters.
		all[len(all)-1].Length = int64(e.d.FileSize) - all[len(all)-1].Logical
	}
	return all, n, err
}
