package xfs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/dirwalk"
)

// The whole-tree walk (fsys.WalkFS), on fsys/internal/dirwalk as in
// fsys/ext4: directories are loaded in parallel, one job per directory, on
// GOMAXPROCS workers; a job parses the directory and reads its entries' inodes sorted by their place
// on the volume, one read per stretch of inode chunks (files made together
// share chunks), instead of one read per inode. The caller's goroutine calls
// fn depth first with each directory's entries in name order, so a
// directory comes before its entries and the paths come out sorted; only a
// bounded number of loaded directories wait ahead of fn.
//
// It lists what fs.WalkDir over the same FS lists, with each entry's Info,
// and stops on the same errors: an unreadable directory or inode, a
// directory that contains one of its ancestors.

const (
	walkBatchBytes = 1 << 20 // largest inode read
	walkBatchGap   = 4 << 10 // unused inode bytes a read may span (about what a read costs)
)

// walkDir is a directory the walk has still to list.
type walkDir = dirwalk.Dir[*inode, walkEntry]

// walkEntry is one listed name; it is the fs.DirEntry WalkDir gives.
type walkEntry struct {
	path  string
	ino   uint64
	ftype uint8    // XFS_DIR3_FT_*, 0 where the volume records none
	info  fileInfo // info.ip is nil while the inode is unread (WalkDir)
	w     *walker
	err   error // a *fs.PathError "lstat" of path
}

// Walked implements dirwalk.Entry.
func (e *walkEntry) Walked() (string, fs.FileInfo, error) {
	if e.err != nil {
		return e.path, nil, e.err
	}
	return e.path, &e.info, nil
}

// Subdir implements dirwalk.Entry.
func (e *walkEntry) Subdir() (*inode, bool) {
	if e.err != nil || e.info.ip == nil {
		return nil, false
	}
	return e.info.ip, e.IsDir()
}

// Name, IsDir, Type, Info and String make a walkEntry an fs.DirEntry,
// typed as ReadDir's entries are: by the entry's ftype where recorded.
func (e *walkEntry) Name() string { return e.info.name }
func (e *walkEntry) IsDir() bool  { return e.Type().IsDir() }

func (e *walkEntry) Type() fs.FileMode {
	if e.typed() {
		return ftypeMode(e.ftype)
	}
	if e.info.ip != nil {
		return e.info.ip.fileMode().Type()
	}
	return fs.ModeIrregular // unreadable inode (the walk stops there)
}

// typed reports whether the entry records its file type.
func (e *walkEntry) typed() bool { return e.w.f.ftype && e.ftype >= 1 && e.ftype <= 7 }

func (e *walkEntry) Info() (fs.FileInfo, error) {
	if e.err != nil {
		return nil, e.err
	}
	if e.info.ip != nil {
		return &e.info, nil
	}
	// Unread: read it now (not into e, which fn may share), and have the
	// workers read the inodes of the directories they load next.
	if !e.w.wantInfo.Load() {
		e.w.wantInfo.Store(true)
	}
	ip, err := e.w.f.inode(e.ino)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.path, Err: err}
	}
	return &fileInfo{name: e.info.name, ip: ip, fs: e.w.f}, nil
}

func (e *walkEntry) String() string { return fs.FormatDirEntry(e) }

// walker is one walk's state. names: WalkDir, whose entries' inodes are
// read only when needed (a directory, an entry without a recorded type)
// until fn asks for an Info (wantInfo); from then on every inode is read,
// in batches.
type walker struct {
	f        *FS
	names    bool
	wantInfo atomic.Bool
}

// Walk calls fn for root and every file and directory below it, a
// directory before its entries (depth first, each directory's entries
// sorted by name). It implements fsys.WalkFS.
func (f *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	return f.walkTree(root, &walker{f: f}, func(p string, info *fileInfo) error { return fn(p, info) },
		func(e *walkEntry) error {
			p, info, err := e.Walked()
			if err != nil {
				return err
			}
			return fn(p, info)
		})
}

// WalkDir calls fn for root and every file and directory below it, in
// Walk's order, with fs.DirEntry values whose name and type come from the
// directories (where the volume records types: ftype): an entry's inode
// is read only when Info asks (and from then on ahead of fn, in batches),
// so listing names reads the inodes of the directories alone. It
// implements fsys.DirWalkFS. It stops where ReadDir fails (an unreadable
// directory, or entry without a recorded type); a typed file's unreadable
// inode is the error of its Info.
func (f *FS) WalkDir(root string, fn func(path string, d fs.DirEntry) error) error {
	return f.walkTree(root, &walker{f: f, names: true}, func(p string, info *fileInfo) error { return fn(p, fs.FileInfoToDirEntry(info)) },
		func(e *walkEntry) error {
			if e.err != nil && (!e.typed() || e.ftype == 2) {
				return e.err
			}
			return fn(e.path, e)
		})
}

// walkTree is Walk and WalkDir: fnRoot for root, fn for each entry below.
func (f *FS) walkTree(root string, w *walker, fnRoot func(string, *fileInfo) error, fn func(*walkEntry) error) error {
	ip, err := f.walk("walk", root)
	if err != nil {
		return err
	}
	if err := fnRoot(root, &fileInfo{name: path.Base(root), ip: ip, fs: f}); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	if !ip.isDir() {
		return nil
	}
	top := &walkDir{Path: root, Node: ip}
	if root != "." {
		// Look-ups by path start at the root directory: one below that
		// contains it is a loop for them too.
		top.Parent = &walkDir{Node: &inode{ino: f.sb.Rootino}}
	}
	return dirwalk.WalkEntries(top, fn, dirwalk.Config[*inode, walkEntry]{
		Size:      func(ip *inode) int64 { return ip.size() },
		NewLoader: func() func(*walkDir) ([]walkEntry, error) { return w.loadDir },
	})
}

// loadDir lists directory d with the inodes of its entries (in WalkDir,
// of those it needs).
func (w *walker) loadDir(d *walkDir) ([]walkEntry, error) {
	f := w.f
	if !d.Node.isDir() {
		return nil, fmt.Errorf("%w: inode %d is not a directory", fs.ErrNotExist, d.Node.ino)
	}
	for a := d.Parent; a != nil; a = a.Parent {
		if a.Node.ino == d.Node.ino {
			return nil, fmt.Errorf("%w: directory %d contains itself", ErrFormat, d.Node.ino)
		}
	}
	idx, err := f.parseDirIndex(d.Node)
	if err != nil {
		return nil, err
	}
	es := make([]walkEntry, len(idx.names))
	n := 0
	for _, name := range idx.names {
		n += len(name)
		if d.Path != "." {
			n += len(d.Path) + 1
		}
	}
	var pb strings.Builder // its String does not copy
	pb.Grow(n)
	for _, name := range idx.names {
		if d.Path != "." {
			pb.WriteString(d.Path)
			pb.WriteByte('/')
		}
		pb.WriteString(name)
	}
	paths := pb.String()
	type slot struct {
		i   int32
		off int64
	}
	order := make([]slot, 0, len(es))
	readAll := !w.names || w.wantInfo.Load()
	off := 0
	for i, name := range idx.names {
		l := len(name)
		if d.Path != "." {
			l += len(d.Path) + 1
		}
		e := &es[i]
		e.path = paths[off : off+l]
		de := idx.byName[name]
		e.ino, e.ftype, e.w = de.ino, de.ftype, w
		e.info = fileInfo{name: paths[off+l-len(name) : off+l], fs: f}
		off += l
		if !readAll && e.typed() && e.ftype != 2 {
			continue // named and typed by the directory: not needed
		}
		pos, err := f.inodeLocation(e.ino)
		if err != nil {
			e.err = &fs.PathError{Op: "lstat", Path: e.path, Err: err}
			continue
		}
		order = append(order, slot{int32(i), pos})
	}
	slices.SortFunc(order, func(a, b slot) int { return cmp.Compare(a.off, b.off) })

	isz := int64(f.sb.Inodesize)
	for i := 0; i < len(order); {
		start := order[i].off
		j, end := i+1, start+isz
		for ; j < len(order); j++ {
			pos := order[j].off
			if pos-end > walkBatchGap || pos+isz-start > walkBatchBytes {
				break
			}
			end = max(end, pos+isz)
		}
		// A fresh buffer per read: parsed inodes keep slices of it (their
		// forks), as the cache's inodes keep their own.
		buf := make([]byte, end-start)
		if err := f.readAt(buf, start, fmt.Sprintf("inode %d", es[order[i].i].ino)); err != nil {
			buf = nil // read each alone, for its own error
		}
		for _, s := range order[i:j] {
			e := &es[s.i]
			var ip *inode
			var err error
			if buf != nil {
				ip, err = f.parseInode(e.ino, buf[s.off-start:s.off-start+isz:s.off-start+isz])
			} else {
				ip, err = f.inode(e.ino)
			}
			if err != nil {
				e.err = &fs.PathError{Op: "lstat", Path: e.path, Err: err}
				continue
			}
			e.info.ip = ip
		}
		i = j
	}
	return es, nil
}

// OpenInfo opens the file info describes (from this volume's Walk, Stat,
// Lstat or ReadDir) from its inode, without a path look-up. It implements
// fsys.InfoOpener.
func (f *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	var ip *inode
	if fi, ok := info.(*fileInfo); ok && fi.fs == f {
		ip = fi.ip
	} else {
		m := fsys.MetaOf(info)
		if m == nil || m.Inode == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("xfs: file info does not come from an XFS volume")}
		}
		got, err := f.inode(m.Inode)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if got.gen != m.Generation {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("xfs: inode %d no longer holds this file (generation %d, was %d): %w", m.Inode, got.gen, m.Generation, fs.ErrNotExist)}
		}
		ip = got
	}
	fi := &fileInfo{name: path.Base(name), ip: ip, fs: f}
	if ip.isDir() {
		return &dir{fs: f, ip: ip, info: fi}, nil
	}
	fl, err := f.newFile(ip, fi)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return fl, nil
}

var (
	_ fsys.WalkFS     = (*FS)(nil)
	_ fsys.DirWalkFS  = (*FS)(nil)
	_ fsys.InfoOpener = (*FS)(nil)
)
