package xfs

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

	"github.com/grainvm/grain/fsys"
)

// The whole-tree walk (fsys.WalkFS), as in fsys/ext4: directories are
// loaded in parallel, one job per directory, on GOMAXPROCS workers; a job
// parses the directory and reads its entries' inodes sorted by their place
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
	walkAhead      = 8        // directories per worker loaded ahead of fn
	walkAheadBytes = 16 << 20 // directory bytes loaded ahead of fn, at most
	walkBatchBytes = 1 << 20  // largest inode read
	walkBatchGap   = 4 << 10  // unused inode bytes a read may span (about what a read costs)
)

type walkDir struct {
	path   string
	ip     *inode
	parent *walkDir // for the loop check

	ahead   int64 // size counted in inflightBytes
	done    chan struct{}
	entries []walkEntry
	err     error
	kids    []*walkDir
}

type walkEntry struct {
	path string
	ino  uint64
	info fileInfo
	err  error
}

type walker struct {
	f    *FS
	jobs chan *walkDir
	stop chan struct{}
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
	top := &walkDir{path: root, ip: ip}
	if root != "." {
		// Look-ups by path start at the root directory: one below that
		// contains it is a loop for them too.
		top.parent = &walkDir{ip: &inode{ino: f.sb.Rootino}}
	}
	err = f.walkTree(top, fn)
	if err == fs.SkipAll {
		return nil
	}
	return err
}

func (f *FS) walkTree(top *walkDir, fn func(string, fs.FileInfo) error) error {
	nw := max(1, runtime.GOMAXPROCS(0))
	w := &walker{f: f, jobs: make(chan *walkDir, nw*walkAhead+1), stop: make(chan struct{})}
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range w.jobs {
				select {
				case <-w.stop:
				default:
					d.entries, d.err = w.load(d)
				}
				close(d.done)
			}
		}()
	}
	defer func() {
		close(w.stop)
		close(w.jobs)
		wg.Wait()
	}()

	limit := cap(w.jobs) - 1
	inflight := 0
	var inflightBytes int64 // the directories' sizes: a bound on their entries
	dispatch := func(d *walkDir) {
		if d.done == nil {
			d.done = make(chan struct{})
			w.jobs <- d
			inflight++
			d.ahead = d.ip.size()
			inflightBytes += d.ahead
		}
	}
	wait := func(d *walkDir) error {
		dispatch(d)
		<-d.done
		inflight--
		inflightBytes -= d.ahead
		if d.err != nil {
			return &fs.PathError{Op: "readdir", Path: d.path, Err: d.err}
		}
		for i := range d.entries {
			if e := &d.entries[i]; e.err == nil && e.info.ip.isDir() {
				d.kids = append(d.kids, &walkDir{path: e.path, ip: e.info.ip, parent: d})
			}
		}
		return nil
	}
	drop := func(d *walkDir) {
		if d.done != nil {
			<-d.done
			inflight--
			inflightBytes -= d.ahead
		}
		d.entries = nil
	}
	type frame struct {
		d             *walkDir
		next, nextKid int
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
			return e.err
		}
		var kid *walkDir
		if e.info.ip.isDir() {
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

// load lists directory d with the inodes of its entries.
func (w *walker) load(d *walkDir) ([]walkEntry, error) {
	f := w.f
	for a := d.parent; a != nil; a = a.parent {
		if a.ip.ino == d.ip.ino {
			return nil, fmt.Errorf("%w: directory %d contains itself", ErrFormat, d.ip.ino)
		}
	}
	idx, err := f.parseDirIndex(d.ip)
	if err != nil {
		return nil, err
	}
	es := make([]walkEntry, len(idx.names))
	n := 0
	for _, name := range idx.names {
		n += len(name)
		if d.path != "." {
			n += len(d.path) + 1
		}
	}
	var pb strings.Builder // its String does not copy
	pb.Grow(n)
	for _, name := range idx.names {
		if d.path != "." {
			pb.WriteString(d.path)
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
		if d.path != "." {
			l += len(d.path) + 1
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
