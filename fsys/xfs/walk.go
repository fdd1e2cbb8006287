package xfs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

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

type walkEntry struct {
	path string
	ino  uint64
	info fileInfo
	err  error // a *fs.PathError "lstat" of path
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
	if e.err != nil {
		return nil, false
	}
	return e.info.ip, e.info.ip.isDir()
}

// Walk calls fn for root and every file and directory below it, a
// directory before its entries (depth first, each directory's entries
// sorted by name). It implements fsys.WalkFS.
func (f *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	ip, err := f.walk("walk", root)
	if err != nil {
		return err
	}
	name := path.Base(root)
	if err := fn(root, &fileInfo{name: name, ip: ip, fs: f}); err != nil {
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
	return dirwalk.Walk(top, fn, dirwalk.Config[*inode, walkEntry]{
		Size:      func(ip *inode) int64 { return ip.size() },
		NewLoader: func() func(*walkDir) ([]walkEntry, error) { return f.loadDir },
	})
}

// loadDir lists directory d with the inodes of its entries.
func (f *FS) loadDir(d *walkDir) ([]walkEntry, error) {
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
	off := 0
	for i, name := range idx.names {
		l := len(name)
		if d.Path != "." {
			l += len(d.Path) + 1
		}
		e := &es[i]
		e.path = paths[off : off+l]
		e.ino = idx.byName[name].ino
		e.info = fileInfo{name: paths[off+l-len(name) : off+l], fs: f}
		off += l
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
	_ fsys.InfoOpener = (*FS)(nil)
)
