package ext4

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

// The whole-tree walk (fsys.WalkFS).
//
// A directory-by-directory descent costs one read per inode and one per
// directory block, and parses each directory again on every path look-up.
// Walk instead loads directories in parallel (one job per directory, on
// GOMAXPROCS workers): a job reads the directory's blocks a whole run at a
// time, sorts its entries by inode number and reads their inodes in
// batches, one read per stretch of the inode table (files created together
// sit together there), into one slab of entries per directory. The caller's
// goroutine calls fn depth first, each directory's entries in name order,
// so a directory always comes before its entries and the paths come out
// sorted; only a bounded number of loaded directories wait ahead of fn:
// memory follows the directories still to list, not the whole volume.
//
// What it lists, and every error it stops on, are those of fs.WalkDir over
// the same FS: the same sorted, de-duplicated names; the type from the
// directory entry decides whether to descend (as fs.DirEntry.IsDir does),
// a directory whose inode is not one is an error, and so is a directory
// that contains one of its ancestors.

const (
	walkBatchBytes = 1 << 20 // largest inode table read
	// walkBatchGap is the most inode table bytes not asked for that one
	// read may span rather than become two: about what a system call
	// costs in copying. (Wider gaps made a directory of directories read
	// all its grandchildren's inodes too.)
	walkBatchGap = 4 << 10
)

// walkDir is a directory the walk has still to list.
type walkDir = dirwalk.Dir[*inode, walkEntry]

// walkEntry is one listed name: the walk's unit of allocation (one slab
// per directory). It is the fs.DirEntry WalkDir gives.
type walkEntry struct {
	path string // the entry's path; its last element is the name
	ino  uint32
	typ  uint8     // ft*
	node *walkNode // the inode, once read; nil while unread (WalkDir)
	w    *walker   // for an unread inode's Info
	err  error     // reading the inode failed
}

// walkNode is an entry's inode and FileInfo, in a second slab per
// directory holding only the entries whose inodes were read.
type walkNode struct {
	in   inode
	info fileInfo
}

// Walked implements dirwalk.Entry.
func (e *walkEntry) Walked() (string, fs.FileInfo, error) {
	if e.err != nil {
		return e.path, nil, &fs.PathError{Op: "lstat", Path: e.path, Err: e.err}
	}
	return e.path, &e.node.info, nil
}

// Subdir implements dirwalk.Entry.
func (e *walkEntry) Subdir() (*inode, bool) {
	if e.err != nil || e.node == nil || !e.IsDir() {
		return nil, false
	}
	return &e.node.in, true
}

// Name, IsDir, Type, Info and String make a walkEntry an fs.DirEntry.
func (e *walkEntry) Name() string { return e.path[strings.LastIndexByte(e.path, '/')+1:] }

// IsDir is the entry's file type where recorded, as ReadDir's entries.
func (e *walkEntry) IsDir() bool { return e.Type().IsDir() }

func (e *walkEntry) Type() fs.FileMode {
	if m, ok := ftMode(e.typ); ok {
		return m
	}
	if e.node != nil {
		return fileMode(e.node.in.Mode).Type()
	}
	return fs.ModeIrregular // unreadable inode, no recorded type
}

func (e *walkEntry) Info() (fs.FileInfo, error) {
	if e.err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.path, Err: e.err}
	}
	if e.node != nil {
		return &e.node.info, nil
	}
	// Unread: read it now (not into e, which fn may share), and have
	// the workers read the inodes of the directories they load next.
	if !e.w.wantInfo.Load() {
		e.w.wantInfo.Store(true)
	}
	in, err := e.w.f.inode(e.ino)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.path, Err: err}
	}
	return e.w.f.info(in, e.Name()), nil
}

func (e *walkEntry) String() string { return fs.FormatDirEntry(e) }

type walker struct {
	f *FS
	// names: WalkDir, whose entries' inodes are read only when needed
	// (a directory, an entry without a recorded type) until fn asks for
	// an Info (wantInfo); then every inode is read, in batches.
	names    bool
	wantInfo atomic.Bool
	wantMeta atomic.Bool // fn asked for Sys(): build Meta in the workers
}

// Walk calls fn for root and every file and directory below it, a
// directory before its entries (depth first, each directory's entries
// sorted by name: the order of fs.WalkDir). It implements fsys.WalkFS.
func (f *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	in, err := f.resolve("walk", root, true)
	if err != nil {
		return err
	}
	info := f.info(in, path.Base(root))
	return f.walkTree(root, in, &walker{f: f}, func(e *walkEntry) error {
		p, info, err := e.Walked()
		if err != nil {
			return err
		}
		return fn(p, info)
	}, func() error { return fn(root, info) })
}

// WalkDir calls fn for root and every file and directory below it, in
// Walk's order, with fs.DirEntry values whose name and type come from the
// directories: an entry's inode is read only when Info asks (and from
// then on ahead of fn, in batches), so listing names reads the inodes of
// the directories alone. It implements fsys.DirWalkFS. It stops on the
// errors Walk stops on for directories; a file's unreadable inode is the
// error of its Info.
func (f *FS) WalkDir(root string, fn func(path string, d fs.DirEntry) error) error {
	in, err := f.resolve("walk", root, true)
	if err != nil {
		return err
	}
	w := &walker{f: f, names: true}
	return f.walkTree(root, in, w, func(e *walkEntry) error {
		if e.err != nil && e.typ == ftDir {
			return &fs.PathError{Op: "lstat", Path: e.path, Err: e.err}
		}
		return fn(e.path, e)
	}, func() error { return fn(root, fs.FileInfoToDirEntry(f.info(in, path.Base(root)))) })
}

// walkTree is Walk and WalkDir from root's inode in: fnRoot for the root
// itself, then each entry below.
func (f *FS) walkTree(root string, in *inode, w *walker, fn func(*walkEntry) error, fnRoot func() error) error {
	if err := fnRoot(); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	if !in.isDir() {
		return nil
	}
	top := &walkDir{Path: root, Node: in}
	if root != "." {
		// The descent's look-ups start at the volume root: a directory
		// below that contains the root is a loop for them too.
		top.Parent = &walkDir{Node: &inode{Ino: rootIno}}
	}
	return dirwalk.WalkEntries(top, fn, dirwalk.Config[*inode, walkEntry]{
		Size:      func(in *inode) int64 { return in.Size },
		NewLoader: w.newLoader,
	})
}

// newLoader returns one worker's loader, with its own scratch buffers.
func (w *walker) newLoader() func(*walkDir) ([]walkEntry, error) {
	var dirBuf dirScratch
	var inoBuf []byte
	var order []int32
	csum := make([]byte, 8+int(w.f.sb.InodeSize))
	return func(d *walkDir) ([]walkEntry, error) {
		return w.load(d, &dirBuf, &inoBuf, &order, csum)
	}
}

// load lists directory d with the inodes of its entries (in WalkDir, of
// those it needs).
func (w *walker) load(d *walkDir, dirBuf *dirScratch, inoBuf *[]byte, orderBuf *[]int32, csum []byte) ([]walkEntry, error) {
	f := w.f
	if d.Node.isSymlink() {
		// Listed as a directory, but a link: the descent's ReadDir
		// follows it, so does the walk.
		in, err := f.resolve("readdir", d.Path, true)
		if pe, ok := err.(*fs.PathError); ok {
			return nil, pe.Err
		} else if err != nil {
			return nil, err
		}
		d.Node = in
	}
	if !d.Node.isDir() {
		return nil, fmt.Errorf("ext4: inode %d is not a directory: %w", d.Node.Ino, fs.ErrNotExist)
	}
	for a := d.Parent; a != nil; a = a.Parent {
		if a.Node.Ino == d.Node.Ino {
			return nil, fmt.Errorf("ext4: directory inode %d contains itself (loop): %w", d.Node.Ino, ErrFormat)
		}
	}
	dl, err := f.parseDir(d.Node, dirBuf)
	if err != nil {
		return nil, err
	}
	es := make([]walkEntry, len(dl.entries))
	// The entries' paths: substrings of one string per directory.
	n := 0
	for _, de := range dl.entries {
		n += len(de.Safe)
		if d.Path != "." {
			n += len(d.Path) + 1
		}
	}
	var pb strings.Builder // its String does not copy
	pb.Grow(n)
	readAll := !w.names || w.wantInfo.Load()
	order := (*orderBuf)[:0]
	for i, de := range dl.entries {
		if d.Path != "." {
			pb.WriteString(d.Path)
			pb.WriteByte('/')
		}
		pb.WriteString(de.Safe)
		es[i].ino, es[i].typ, es[i].w = de.Inode, de.Type, w
		if _, known := ftMode(de.Type); readAll || !known || de.Type == ftDir {
			order = append(order, int32(i))
		}
	}
	*orderBuf = order
	paths := pb.String()
	off := 0
	for i, de := range dl.entries {
		l := len(de.Safe)
		if d.Path != "." {
			l += len(d.Path) + 1
		}
		es[i].path = paths[off : off+l]
		off += l
	}
	if len(order) == 0 {
		return es, nil
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(es[a].ino, es[b].ino) })
	nodes := make([]walkNode, len(order))
	nextNode := 0

	isz := int64(f.sb.InodeSize)
	meta := w.wantMeta.Load()
	var arena *metaArena
	var metas []fsys.Meta
	for i := 0; i < len(order); {
		// A batch: inodes whose table slots lie close together.
		first := &es[order[i]]
		start, err := f.inodePos(first.ino)
		if err != nil {
			first.err = err
			i++
			continue
		}
		j, end := i+1, start+isz
		for ; j < len(order); j++ {
			pos, err := f.inodePos(es[order[j]].ino)
			if err != nil || pos < end-isz || pos-end > walkBatchGap || pos+isz-start > walkBatchBytes {
				break
			}
			end = pos + isz
		}
		n := int(end - start)
		if cap(*inoBuf) < n {
			*inoBuf = make([]byte, max(n, 64<<10))
		}
		buf := (*inoBuf)[:n]
		if err := f.readAt(buf, start); err != nil {
			buf = nil // read each one alone, for its own error
		}
		for _, k := range order[i:j] {
			e := &es[k]
			var b []byte
			if buf != nil {
				pos, _ := f.inodePos(e.ino)
				b = buf[pos-start : pos-start+isz]
			} else if pos, err := f.inodePos(e.ino); err != nil {
				e.err = err
				continue
			} else {
				b = make([]byte, isz)
				if err := f.readAt(b, pos); err != nil {
					e.err = fmt.Errorf("ext4: inode %d: %w", e.ino, err)
					continue
				}
			}
			nd := &nodes[nextNode]
			nextNode++
			if err := f.parseInodeInto(&nd.in, e.ino, b, csum); err != nil {
				e.err = err
				continue
			}
			e.node = nd
			nd.info.fs, nd.info.in, nd.info.want = f, &nd.in, &w.wantMeta
			nd.info.name = e.Name()
			if meta {
				// Not yet seen by any other goroutine: fill in the Meta
				// and mark it made.
				if arena == nil {
					arena = &metaArena{exts: make([]fsys.Extent, 0, len(order)), kvs: make([]fsys.KV, 0, len(order)+8)}
					metas = make([]fsys.Meta, len(order))
				}
				nd.info.meta = &metas[nextNode-1]
				f.fillMeta(nd.info.meta, &nd.in, arena)
				nd.info.once.Do(func() {})
			}
		}
		i = j
	}
	return es, nil
}

// OpenInfo opens the file info describes (from this volume's Walk, Stat,
// Lstat or ReadDir) from its inode, without a path look-up. It implements
// fsys.InfoOpener. A symbolic link is followed by path, as Open does.
func (f *FS) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	var in *inode
	if fi, ok := info.(*fileInfo); ok && fi.fs == f {
		in = fi.in
	} else {
		m := fsys.MetaOf(info)
		if m == nil || m.Inode == 0 || m.Inode > uint64(f.sb.InodesCount) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("ext4: file info does not come from an ext4 volume")}
		}
		got, err := f.inode(uint32(m.Inode))
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if got.Generation != m.Generation || got.Mode == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ext4: inode %d no longer holds this file (generation %d, was %d): %w", m.Inode, got.Generation, m.Generation, fs.ErrNotExist)}
		}
		in = got
	}
	if in.isSymlink() {
		f2, err := f.Open(name)
		if err != nil {
			return nil, err
		}
		return f2.(fsys.File), nil
	}
	return f.newFile(in, path.Base(name)), nil
}
