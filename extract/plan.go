// Package extract copies files out of a grain image tree (guest.Image, or
// any Source) to a host folder, a tar stream or a zip file, fast and safely.
//
// Fast: the selection is listed once (with a driver's whole-tree walk where
// it has one), directories are made first, then regular files are read in
// the order of their first extent on the volume by a small pool of workers,
// in large pieces, so the disk streams instead of seeking.
//
// Safe: nothing is written outside the destination. Names come from the
// file systems already made valid (fsys.SafeName); names the host cannot
// hold are escaped (see HostName); all writes go through an os.Root, so no
// path can climb out; directories that turn out to be symbolic links are
// refused; symbolic links are made last, so no write ever passes through
// one made by the copy; existing files are kept unless Overwrite. Sources
// are only read.
package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
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
	// Workers reading in parallel (default 4).
	Workers int
	// Planned, if set, is called once the selection is listed, with the
	// number of files and their bytes (for a progress bar's total).
	Planned func(files int, bytes int64)
	// Progress, if set, is called with the bytes copied as they are.
	Progress func(n int64)
	// Report, if set, is called for every entry that failed or was
	// renamed; the copy goes on.
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

// item is one entry to copy.
type item struct {
	src  string      // path in the source
	rel  string      // path below the destination (slash-separated, host-safe)
	info fs.FileInfo // Lstat of src (after dereferencing, of the target)
	meta *fsys.Meta
	link string // symlink target, when copied as a link
	// hard link: the first item with the same file ID
	linkTo *item
	err    error
	done   chan struct{} // closed when the file is written (hard-link sources)
}

// physical is where a file's data starts on its volume, for ordering reads.
func (it *item) physical() int64 {
	if it.meta != nil && len(it.meta.Extents) > 0 {
		return it.meta.Extents[0].Physical
	}
	return 1<<63 - 1
}

// volumeOf is the first element of a source path: the volume in a guest
// tree, so that disk order is kept per volume.
func volumeOf(p string) string {
	v, _, _ := strings.Cut(p, "/")
	return v
}

type plan struct {
	dirs, files, links, hardlinks []*item
	failed                        []*item
}

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

// makePlan lists the selection. Each source path lands in the destination
// under its own base name ("p3/Users/alice" → "alice/…"), as cp -r does.
func makePlan(src Source, paths []string, opts *Options) (*plan, error) {
	p := &plan{}
	seenID := map[string]*item{}
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
			if q != sp {
				rel = base + "/" + strings.TrimPrefix(q, sp+"/")
			}
			if sp == "." && q != "." {
				rel = base + "/" + q
			}
			name := info.Name()
			if q != sp && matchAny(opts.Exclude, name, rel) {
				if info.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			it := &item{src: q, rel: rel, info: info, meta: fsys.MetaOf(info)}
			switch {
			case info.IsDir():
				p.dirs = append(p.dirs, it)
				return nil
			case len(opts.Include) > 0 && !matchAny(opts.Include, name, rel):
				return nil
			case !opts.Newer.IsZero() && !info.ModTime().After(opts.Newer):
				return nil
			case info.Mode()&fs.ModeSymlink != 0:
				if opts.Dereference {
					target, tinfo, err := resolve(src, q)
					if err != nil {
						it.err = err
						p.failed = append(p.failed, it)
						return nil
					}
					if tinfo.IsDir() {
						it.err = fmt.Errorf("link to directory %s not followed", "/"+target)
						p.failed = append(p.failed, it)
						return nil
					}
					it.src, it.info, it.meta = target, tinfo, fsys.MetaOf(tinfo)
					p.files = append(p.files, it)
					return nil
				}
				t, err := src.ReadLink(q)
				if err != nil {
					it.err = err
					p.failed = append(p.failed, it)
					return nil
				}
				it.link = t
				p.links = append(p.links, it)
				return nil
			case info.Mode().IsRegular():
				if m := it.meta; m != nil && m.Nlink > 1 && m.Inode != 0 {
					id := fmt.Sprintf("%s/%d", volumeOf(q), m.Inode)
					if first, ok := seenID[id]; ok {
						it.linkTo = first
						p.hardlinks = append(p.hardlinks, it)
						return nil
					}
					seenID[id] = it
				}
				p.files = append(p.files, it)
				return nil
			default:
				it.err = fmt.Errorf("%s: special file (%s) not copied", "/"+q, info.Mode().Type())
				p.failed = append(p.failed, it)
				return nil
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
	sort.Slice(p.dirs, func(i, j int) bool { return p.dirs[i].rel < p.dirs[j].rel })
	// Disk order per volume: the reads then stream.
	sort.SliceStable(p.files, func(i, j int) bool {
		a, b := p.files[i], p.files[j]
		if va, vb := volumeOf(a.src), volumeOf(b.src); va != vb {
			return va < vb
		}
		return a.physical() < b.physical()
	})
	var total int64
	for _, f := range p.files {
		f.done = make(chan struct{})
		total += f.info.Size()
	}
	if opts.Planned != nil {
		opts.Planned(len(p.files), total)
	}
	return p, nil
}

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
