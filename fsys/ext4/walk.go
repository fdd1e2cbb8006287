package ext4

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/grainvm/grain/fsys"
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
	walkAhead      = 8        // loaded directories per worker waiting for fn
	walkAheadBytes = 16 << 20 // directory bytes loaded ahead of fn, at most
	walkBatchBytes = 1 << 20  // largest inode table read
	// walkBatchGap is the most inode table bytes not asked for that one
	// read may span rather than become two: about what a system call
	// costs in copying. (Wider gaps made a directory of directories read
	// all its grandchildren's inodes too.)
	walkBatchGap = 4 << 10
)

// walkDir is a directory the walk has still to list.
type walkDir struct {
	path   string
	in     *inode
	parent *walkDir // for the loop check; nil above the walk's root

	ahead   int64         // size counted in inflightBytes
	done    chan struct{} // closed when entries/err are set
	entries []walkEntry
	err     error
	kids    []*walkDir // the subdirectories among entries, in order
}

// walkEntry is one listed name with its inode: the walk's unit of
// allocation (one slab per directory).
type walkEntry struct {
	path string // the entry's path; info.name is its last element
	ino  uint32
	typ  uint8 // ft*
	in   inode
	info fileInfo
	err  error
}

type walker struct {
	f        *FS
	jobs     chan *walkDir
	stop     chan struct{}
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
	if err := fn(root, f.info(in, path.Base(root))); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	if !in.isDir() {
		return nil
	}
	top := &walkDir{path: root, in: in}
	if root != "." {
		// The descent's look-ups start at the volume root: a directory
		// below that contains the root is a loop for them too.
		top.parent = &walkDir{in: &inode{Ino: rootIno}}
	}
	err = f.walk(top, fn)
	if err == fs.SkipAll {
		return nil
	}
	return err
}

func (f *FS) walk(top *walkDir, fn func(string, fs.FileInfo) error) error {
	nw := max(1, runtime.GOMAXPROCS(0))
	w := &walker{f: f, jobs: make(chan *walkDir, nw*walkAhead+1), stop: make(chan struct{})}
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work()
		}()
	}
	defer func() {
		close(w.stop)
		close(w.jobs)
		wg.Wait()
	}()

	// Depth first, each directory's entries in name order, so that the
	// paths come out in sorted order (a caller that sorts them pays
	// little). The directories to list next (the remaining subdirectories
	// of each directory on the stack, nearest first) are handed to the
	// workers ahead of time, at most limit of them loaded and waiting.
	limit := cap(w.jobs) - 1
	inflight := 0
	var inflightBytes int64 // the directories' sizes: a bound on their entries
	dispatch := func(d *walkDir) {
		if d.done == nil {
			d.done = make(chan struct{})
			w.jobs <- d
			inflight++
			d.ahead = d.in.Size
			inflightBytes += d.ahead
		}
	}
	// wait takes d's listing from its worker and makes its subdirectories.
	wait := func(d *walkDir) error {
		dispatch(d)
		<-d.done
		inflight--
		inflightBytes -= d.ahead
		if d.err != nil {
			return &fs.PathError{Op: "readdir", Path: d.path, Err: d.err}
		}
		for i := range d.entries {
			if e := &d.entries[i]; e.err == nil && e.isDir() {
				d.kids = append(d.kids, &walkDir{path: e.path, in: &e.in, parent: d})
			}
		}
		return nil
	}
	// drop discards subdirectory d unlisted (SkipDir).
	drop := func(d *walkDir) {
		if d.done != nil {
			<-d.done
			inflight--
			inflightBytes -= d.ahead
		}
		d.entries = nil
	}
	type frame struct {
		d       *walkDir
		next    int // next entry
		nextKid int // next subdirectory
	}
	prefetch := func(stack []frame) {
		seen := 0
		for k := len(stack) - 1; k >= 0 && seen < limit; k-- {
			fr := &stack[k]
			for _, d := range fr.d.kids[fr.nextKid:] {
				if seen++; seen > limit || inflight >= limit || inflightBytes >= walkAheadBytes {
					return
				}
				dispatch(d)
			}
		}
	}

	if err := wait(top); err != nil {
		return err
	}
	stack := []frame{{d: top}}
	for len(stack) > 0 {
		fr := &stack[len(stack)-1]
		d := fr.d
		if fr.next >= len(d.entries) {
			for _, k := range d.kids[fr.nextKid:] {
				drop(k)
			}
			d.entries, d.kids = nil, nil
			stack = stack[:len(stack)-1]
			continue
		}
		e := &d.entries[fr.next]
		fr.next++
		if e.err != nil {
			return &fs.PathError{Op: "lstat", Path: e.path, Err: e.err}
		}
		var kid *walkDir
		if e.isDir() {
			kid = d.kids[fr.nextKid]
			fr.nextKid++
		}
		err := fn(e.path, &e.info)
		if err == fs.SkipDir {
			if kid != nil {
				drop(kid)
			} else {
				fr.next = len(d.entries) // as fs.WalkDir: skip the rest
			}
			continue
		}
		if err != nil {
			return err
		}
		if kid != nil {
			prefetch(stack)
			if err := wait(kid); err != nil {
				return err
			}
			stack = append(stack, frame{d: kid})
			prefetch(stack)
		}
	}
	return nil
}

// isDir is fs.DirEntry.IsDir: the entry's file type where recorded.
func (e *walkEntry) isDir() bool {
	if m, ok := ftMode(e.typ); ok {
		return m.IsDir()
	}
	return e.in.isDir()
}

func (w *walker) work() {
	var dirBuf dirScratch
	var inoBuf []byte
	var order []int32
	csum := make([]byte, 8+int(w.f.sb.InodeSize))
	for d := range w.jobs {
		select {
		case <-w.stop:
			close(d.done)
			continue
		default:
		}
		d.entries, d.err = w.load(d, &dirBuf, &inoBuf, &order, csum)
		close(d.done)
	}
}

// load lists directory d with the inodes of its entries.
func (w *walker) load(d *walkDir, dirBuf *dirScratch, inoBuf *[]byte, orderBuf *[]int32, csum []byte) ([]walkEntry, error) {
	f := w.f
	if d.in.isSymlink() {
		// Listed as a directory, but a link: the descent's ReadDir
		// follows it, so does the walk.
		in, err := f.resolve("readdir", d.path, true)
		if pe, ok := err.(*fs.PathError); ok {
			return nil, pe.Err
		} else if err != nil {
			return nil, err
		}
		d.in = in
	}
	if !d.in.isDir() {
		return nil, fmt.Errorf("ext4: inode %d is not a directory: %w", d.in.Ino, fs.ErrNotExist)
	}
	for a := d.parent; a != nil; a = a.parent {
		if a.in.Ino == d.in.Ino {
			return nil, fmt.Errorf("ext4: directory inode %d contains itself (loop): %w", d.in.Ino, ErrFormat)
		}
	}
	dl, err := f.parseDir(d.in, dirBuf)
	if err != nil {
		return nil, err
	}
	es := make([]walkEntry, len(dl.entries))
	// The entries' paths: substrings of one string per directory.
	n := 0
	for _, de := range dl.entries {
		n += len(de.Safe)
		if d.path != "." {
			n += len(d.path) + 1
		}
	}
	var pb strings.Builder // its String does not copy
	pb.Grow(n)
	order := (*orderBuf)[:0]
	for i, de := range dl.entries {
		if d.path != "." {
			pb.WriteString(d.path)
			pb.WriteByte('/')
		}
		pb.WriteString(de.Safe)
		es[i].ino, es[i].typ = de.Inode, de.Type
		order = append(order, int32(i))
	}
	*orderBuf = order
	paths := pb.String()
	off := 0
	for i, de := range dl.entries {
		l := len(de.Safe)
		if d.path != "." {
			l += len(d.path) + 1
		}
		es[i].path = paths[off : off+l]
		es[i].info.name = paths[off+l-len(de.Safe) : off+l]
		off += l
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(es[a].ino, es[b].ino) })

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
			if err := f.parseInodeInto(&e.in, e.ino, b, csum); err != nil {
				e.err = err
				continue
			}
			e.info.fs, e.info.in, e.info.want = f, &e.in, &w.wantMeta
			if meta {
				// Not yet seen by any other goroutine: fill in the Meta
				// and mark it made.
				if arena == nil {
					arena = &metaArena{exts: make([]fsys.Extent, 0, len(es)), kvs: make([]fsys.KV, 0, len(es)+8)}
					metas = make([]fsys.Meta, len(es))
				}
				e.info.meta = &metas[k]
				f.fillMeta(e.info.meta, &e.in, arena)
				e.info.once.Do(func() {})
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
