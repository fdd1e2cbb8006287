// Package extract copies files out of a grain image tree (guest.Image, or
// any Source) to a host folder, a tar stream or a zip file, fast and safely.
//
// Fast: the selection is listed once (with a driver's whole-tree walk where
// it has one), on a goroutine of its own, in batches of a few thousand
// files; each batch's folders are made first, then its regular files are
// read in the order of their first extent on the volume by a pool of
// workers, in large pieces, so the disk streams instead of seeking. Files
// are opened from the FileInfo the walk gave (fsys.InfoOpener), without a
// path look-up. Archives are written by one goroutine while workers open
// and read the next files ahead into a bounded pool. For tar, the workers
// also format each file's header (tarheader.go: archive/tar's bytes,
// without its per-header maps and fmt) into the file's first piece, with
// the padding after its content, so that the writer only writes bytes;
// to a file or pipe it writes the pieces from their own buffers with
// writev (vecWriter) rather than copying them into an output buffer.
//
// Small: only the batch being copied (and the next, being listed) holds
// its files' metadata; folders, symbolic links and hard links are kept to
// the end as small records.
//
// Safe: nothing is written outside the destination. Names come from the
// file systems already made valid (fsys.SafeName), and a path that is not
// a clean relative one is refused before any write; names the host cannot
// hold are escaped (see HostName); all writes go through an os.Root (the
// destination's, or one opened through it for a folder), so no path can
// climb out; directories that turn out to be symbolic links are refused;
// symbolic links are made last, so no write ever passes through one made
// by the copy; existing files are kept unless Overwrite. Sources are only
// read.
package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grainvm/grain/fsys"
)

// Source is a read-only tree to copy from; *guest.Image is one.
type Source interface {
	fs.FS
	fs.StatFS
	fs.ReadLinkFS
	// Walk calls fn for root and every entry below it, a directory
	// before its entries.
	Walk(root string, fn func(p string, info fs.FileInfo) error) error
}

// StreamSource is a Source with named data streams (NTFS).
type StreamSource interface {
	OpenStream(name, stream string) (fsys.File, error)
}

// Options select and shape what is copied.
type Options struct {
	// Recursive copies directories with everything below them.
	Recursive bool
	// Include and Exclude are globs (path.Match) tried on each entry's
	// name and on its path relative to the selection; an excluded
	// directory is skipped whole. With Include set, only matching files
	// are copied (directories are still descended).
	Include, Exclude []string
	// Newer keeps only files modified after it (directories are kept).
	Newer time.Time
	// Dereference copies the content symbolic links point to, resolved
	// inside the image, instead of the links.
	Dereference bool
	// Overwrite replaces existing files in the destination.
	Overwrite bool
	// Streams copies NTFS named data streams: as extended attributes
	// "user.grain.stream.NAME" on Linux (cp) and as PAX records (tar).
	Streams bool
	// Atime sets access times as well as modification times.
	Atime bool
	// Owners sets uid and gid from Unix file systems (needs root).
	Owners bool
	// Workers copying (Copy) or reading ahead (Tar, Zip) in parallel
	// (default 4).
	Workers int
	// Planned, if set, is called before anything is copied, with the
	// number of files and their bytes (for a progress bar's total). The
	// count is a listing pass of its own: leave Planned nil when no total
	// is needed.
	Planned func(files int, bytes int64)
	// Progress, if set, is called with the bytes copied as they are.
	Progress func(n int64)
	// Report, if set, is called for every entry that failed or was
	// renamed, one call at a time; the copy goes on.
	Report func(p string, err error)
}

// Summary counts what a copy did.
type Summary struct {
	Files, Dirs, Symlinks, HardLinks int
	Bytes                            int64
	Failed                           int
	Renamed                          int
}

// ErrFailed is returned (wrapped) when some entries could not be copied.
var ErrFailed = errors.New("some entries could not be copied")

// item is one entry to copy. Regular files keep the FileInfo the walk
// gave (to open them without a path look-up) only until their batch is
// written; folders and links, kept to the end, hold a trimmed copy of
// their metadata, so that what stays in memory is small.
type item struct {
	src   string // path in the source
	rel   string // path below the destination (slash-separated, host-safe)
	size  int64
	mtime time.Time
	dir   bool
	// info is the walk's FileInfo of a regular file (after dereferencing,
	// of the target), dropped once the file is written.
	info fs.FileInfo
	meta *fsys.Meta
	phys int64  // where the data starts on the volume
	link string // symlink target, when copied as a link
	// hard link: the first item with the same file ID
	linkTo *item
	err    error
	// bigStreams are named streams written as entries of their own (tar)
	bigStreams []string
}

// noPhysical sorts files whose data has no known place last.
const noPhysical = 1<<63 - 1

func physical(m *fsys.Meta) int64 {
	if m != nil && len(m.Extents) > 0 {
		return m.Extents[0].Physical
	}
	return noPhysical
}

// trimmed is a copy of m without what only reading the content needs
// (extents, driver facts), so that keeping it does not keep the walk's
// memory.
func trimmed(m *fsys.Meta) *fsys.Meta {
	if m == nil {
		return nil
	}
	c := *m
	c.Extents, c.Extra = nil, nil
	return &c
}

// release drops what only writing the file needed, once it is written;
// a hard link's first name is kept to the end, but only for its names
// and error.
func (it *item) release() {
	it.info, it.meta, it.bigStreams = nil, nil, nil
}

// volumeOf is the first element of a source path: the volume in a guest
// tree, so that disk order is kept per volume.
func volumeOf(p string) string {
	v, _, _ := strings.Cut(p, "/")
	return v
}

// plan is what is kept of the selection to the end: folders (in walk
// order, each after its parent), symbolic links and second names of hard
// links. Files pass through in batches.
type plan struct {
	dirs, links, hardlinks []*item
	entries                int // all entries seen, for the summary
}

// batch is a part of the selection, handed on as soon as it is listed:
// the folders first seen since the previous batch (walk order), then up
// to batchFiles files in disk order per volume.
type batch struct {
	dirs, files []*item
}

// batchFiles bounds the files listed ahead of the copy: their metadata
// is what the copy holds in memory (a few hundred bytes each), and the
// disk order is kept within each batch. Walks list a folder's files
// together, and file systems place them near each other, so batches of
// this size still read mostly forward.
const batchFiles = 16384

func matchAny(globs []string, name, rel string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
	}
	return false
}

// walkPlan lists the selection, handing each batch to each as soon as it
// is full (and the last one at the end); entries that cannot be copied
// go to failed as they are found. Each source path lands in the
// destination under its own base name ("p3/Users/alice" → "alice/…"), as
// cp -r does. An error from each stops the walk and is returned.
func walkPlan(src Source, paths []string, opts *Options, size int, each func(*batch) error, failed func(*item), quit <-chan struct{}) (*plan, error) {
	p := &plan{}
	seenID := map[string]*item{}
	cur := &batch{}
	flush := func() error {
		if len(cur.dirs) == 0 && len(cur.files) == 0 {
			return nil
		}
		// Disk order per volume: the reads then stream.
		sort.SliceStable(cur.files, func(i, j int) bool {
			a, b := cur.files[i], cur.files[j]
			if va, vb := volumeOf(a.src), volumeOf(b.src); va != vb {
				return va < vb
			}
			return a.phys < b.phys
		})
		b := cur
		cur = &batch{}
		return each(b)
	}
	for _, sp := range paths {
		info, err := src.Lstat(sp)
		if err != nil {
			return nil, err
		}
		base := path.Base(sp)
		if sp == "." {
			base = "image"
		}
		if info.IsDir() && !opts.Recursive {
			return nil, fmt.Errorf("%s is a directory (use -r)", "/"+sp)
		}
		add := func(q string, info fs.FileInfo) error {
			rel := base
			switch {
			case base == sp && len(q) > len(sp) && q[len(sp)] == '/' && q[:len(sp)] == sp:
				rel = q // base/rest is q itself: no new string
			case q != sp:
				rel = base + "/" + strings.TrimPrefix(q, sp+"/")
			}
			if sp == "." && q != "." {
				rel = base + "/" + q
			}
			select {
			case <-quit:
				return errStopped
			default:
			}
			p.entries++
			name := info.Name()
			if q != sp && matchAny(opts.Exclude, name, rel) {
				p.entries--
				if info.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			meta := fsys.MetaOf(info)
			it := &item{src: q, rel: rel, size: info.Size(), mtime: info.ModTime(), dir: info.IsDir()}
			fail := func(err error) error {
				it.err, it.meta = err, nil
				failed(it)
				return nil
			}
			// A walk gives clean relative paths; anything else (a hostile
			// or broken driver) is refused here, before any write.
			if !fs.ValidPath(rel) {
				fail(fmt.Errorf("%s: not a valid path below the destination", "/"+q))
				if it.dir {
					return fs.SkipDir
				}
				return nil
			}
			switch {
			case it.dir:
				it.meta = trimmed(meta)
				p.dirs = append(p.dirs, it)
				cur.dirs = append(cur.dirs, it)
				return nil
			case len(opts.Include) > 0 && !matchAny(opts.Include, name, rel):
				p.entries--
				return nil
			case !opts.Newer.IsZero() && !info.ModTime().After(opts.Newer):
				p.entries--
				return nil
			case info.Mode()&fs.ModeSymlink != 0:
				if opts.Dereference {
					target, tinfo, err := resolve(src, q)
					if err != nil {
						return fail(err)
					}
					if tinfo.IsDir() {
						return fail(fmt.Errorf("link to directory %s not followed", "/"+target))
					}
					it.src, it.info, it.meta = target, tinfo, fsys.MetaOf(tinfo)
					it.size, it.mtime, it.phys = tinfo.Size(), tinfo.ModTime(), physical(it.meta)
					return addFile(cur, it, size, flush)
				}
				t, err := src.ReadLink(q)
				if err != nil {
					return fail(err)
				}
				it.link, it.meta = t, trimmed(meta)
				p.links = append(p.links, it)
				return nil
			case info.Mode().IsRegular():
				it.info, it.meta, it.phys = info, meta, physical(meta)
				if m := meta; m != nil && m.Nlink > 1 && m.Inode != 0 {
					id := fmt.Sprintf("%s/%d", volumeOf(q), m.Inode)
					if first, ok := seenID[id]; ok {
						it.linkTo, it.info, it.meta = first, nil, trimmed(meta)
						p.hardlinks = append(p.hardlinks, it)
						return nil
					}
					seenID[id] = it
				}
				return addFile(cur, it, size, flush)
			default:
				return fail(fmt.Errorf("%s: special file (%s) not copied", "/"+q, info.Mode().Type()))
			}
		}
		if info.IsDir() {
			err = src.Walk(sp, func(q string, info fs.FileInfo) error { return add(q, info) })
		} else {
			err = add(sp, info)
		}
		if err != nil && err != fs.SkipDir {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return p, nil
}

func addFile(cur *batch, it *item, size int, flush func() error) error {
	cur.files = append(cur.files, it)
	if len(cur.files) >= size {
		return flush()
	}
	return nil
}

// planned counts the files and bytes of the selection in a listing pass
// of its own (for a progress bar's total), when opts.Planned wants them.
func planned(src Source, paths []string, opts *Options) error {
	if opts.Planned == nil {
		return nil
	}
	files, bytes := 0, int64(0)
	_, err := walkPlan(src, paths, opts, batchFiles, func(b *batch) error {
		for _, f := range b.files {
			files++
			bytes += f.size
		}
		return nil
	}, func(*item) {}, nil)
	if err != nil {
		return err
	}
	opts.Planned(files, bytes)
	return nil
}

// streamPlan runs walkPlan on a goroutine of its own, so that the next
// batch is listed while the current one is copied; batches come out of
// the returned channel. wait returns the plan (or the walk's error) once
// the channel is closed; stop ends the walk early and waits for it.
func streamPlan(src Source, paths []string, opts *Options, failed func(*item)) (batches <-chan *batch, wait func() (*plan, error), stop func()) {
	ch := make(chan *batch, 1)
	done := make(chan struct{})
	quit := make(chan struct{})
	var p *plan
	var err error
	go func() {
		defer close(done)
		defer close(ch)
		p, err = walkPlan(src, paths, opts, batchFiles, func(b *batch) error {
			select {
			case ch <- b:
				return nil
			case <-quit:
				return errStopped
			}
		}, failed, quit)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(quit) })
		<-done
	}
	wait = func() (*plan, error) {
		<-done
		return p, err
	}
	return ch, wait, stop
}

var errStopped = errors.New("extract: stopped")

// resolve follows a symbolic link inside the image: relative targets from
// the link's folder, absolute ones ("/x", "C:\x") from the root of the
// link's volume. It gives up after 40 links.
func resolve(src Source, p string) (string, fs.FileInfo, error) {
	for range 40 {
		t, err := src.ReadLink(p)
		if err != nil {
			return "", nil, err
		}
		t = strings.ReplaceAll(t, `\`, "/")
		if len(t) >= 2 && t[1] == ':' {
			t = t[2:]
		}
		t = strings.TrimPrefix(t, "/??/")
		var next string
		if strings.HasPrefix(t, "/") {
			next = path.Join(volumeOf(p), t)
		} else {
			next = path.Join(path.Dir(p), t)
		}
		if next == ".." || strings.HasPrefix(next, "../") || next == "." {
			return "", nil, fmt.Errorf("%s: link target %q leaves the image", "/"+p, t)
		}
		info, err := src.Lstat(next)
		if err != nil {
			return "", nil, fmt.Errorf("%s: link target: %w", "/"+p, err)
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return next, info, nil
		}
		p = next
	}
	return "", nil, fmt.Errorf("%s: too many levels of links", "/"+p)
}
