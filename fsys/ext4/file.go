package ext4

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grainvm/grain/fsys"
)

// resolve walks name from the root. Symbolic links are followed in every
// element but the last, and in the last too when follow is set; absolute
// link targets resolve from the volume root.
func (f *FS) resolve(op, name string, follow bool) (*inode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	fail := func(err error) (*inode, error) { return nil, &fs.PathError{Op: op, Path: name, Err: err} }
	root, err := f.inode(rootIno)
	if err != nil {
		return fail(err)
	}
	stack := []*inode{root} // directories from the root down
	var todo []string
	if name != "." {
		todo = strings.Split(name, "/")
	}
	hops := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			return fail(fmt.Errorf("ext4: inode %d is not a directory: %w", cur.Ino, fs.ErrNotExist))
		}
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		d, err := f.readDir(cur)
		if err != nil {
			return fail(err)
		}
		e, ok := d.lookup(elem)
		if !ok {
			return fail(fs.ErrNotExist)
		}
		in, err := f.inode(e.Inode)
		if err != nil {
			return fail(err)
		}
		if in.isSymlink() && (len(todo) > 0 || follow) {
			hops++
			if hops > maxSymlinkHops {
				return fail(fmt.Errorf("ext4: too many levels of symbolic links"))
			}
			target, err := f.linkTarget(in)
			if err != nil {
				return fail(err)
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if in.isDir() {
			for _, s := range stack {
				if s.Ino == in.Ino {
					return fail(fmt.Errorf("ext4: directory inode %d contains itself (loop): %w", in.Ino, ErrFormat))
				}
			}
		}
		stack = append(stack, in)
	}
	return stack[len(stack)-1], nil
}

// linkTarget reads a symbolic link's target.
func (f *FS) linkTarget(in *inode) (string, error) {
	if in.Size > maxSymlinkSize {
		return "", fmt.Errorf("ext4: inode %d: symlink of %d bytes: %w", in.Ino, in.Size, ErrFormat)
	}
	if f.isFastSymlink(in) {
		return string(in.Block[:in.Size]), nil
	}
	buf := make([]byte, in.Size)
	r := &file{fs: f, in: in}
	if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
		return "", err
	}
	return string(buf), nil
}

func (f *FS) isFastSymlink(in *inode) bool {
	if !in.isSymlink() || in.Flags&(flagInlineData|flagExtents) != 0 || in.Size >= 60 {
		return false
	}
	ea := uint64(0)
	if in.FileACL != 0 {
		ea = uint64(f.bs) >> 9
		if f.sb.FeatureROCompat&roCompatBigalloc != 0 {
			ea <<= f.sb.LogClusterSize - f.sb.LogBlockSize
		}
	}
	return in.Blocks <= ea
}

// Open opens the named file, following symbolic links.
func (f *FS) Open(name string) (fs.File, error) {
	in, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	return f.newFile(in, path.Base(name)), nil
}

func (f *FS) newFile(in *inode, name string) *file {
	if name == "." || name == "/" {
		name = "."
	}
	return &file{fs: f, in: in, name: name}
}

// Stat returns the FileInfo of the named file, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	in, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.info(in, path.Base(name)), nil
}

// Lstat returns the FileInfo of the named file without following a final
// symbolic link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	in, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.info(in, path.Base(name)), nil
}

// ReadLink returns the target of the named symbolic link.
func (f *FS) ReadLink(name string) (string, error) {
	in, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !in.isSymlink() {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := f.linkTarget(in)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return t, nil
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	in, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !in.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	d, err := f.readDir(in)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(d.entries))
	for i, e := range d.entries {
		out[i] = &dirEntry{fs: f, e: e}
	}
	return out, nil
}

// dirEntry is an fs.DirEntry.
type dirEntry struct {
	fs *FS
	e  dirent
}

func (d *dirEntry) Name() string { return d.e.Safe }
func (d *dirEntry) IsDir() bool  { return d.Type().IsDir() }
func (d *dirEntry) Type() fs.FileMode {
	if m, ok := ftMode(d.e.Type); ok {
		return m
	}
	if in, err := d.fs.inode(d.e.Inode); err == nil {
		return fileMode(in.Mode).Type()
	}
	return fs.ModeIrregular
}
func (d *dirEntry) Info() (fs.FileInfo, error) {
	in, err := d.fs.inode(d.e.Inode)
	if err != nil {
		return nil, err
	}
	return d.fs.info(in, d.e.Safe), nil
}
func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

// fileInfo is an fs.FileInfo; Sys returns a *fsys.Meta built on first use.
type fileInfo struct {
	fs   *FS
	in   *inode
	name string
	once sync.Once
	meta *fsys.Meta
	// want, if set, is told that Sys was called (a walk then builds the
	// Meta of the entries it loads ahead, in parallel).
	want *atomic.Bool
}

func (f *FS) info(in *inode, name string) *fileInfo {
	return &fileInfo{fs: f, in: in, name: name}
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.in.Size }
func (i *fileInfo) Mode() fs.FileMode  { return fileMode(i.in.Mode) }
func (i *fileInfo) ModTime() time.Time { return i.in.Mtime.time() }
func (i *fileInfo) IsDir() bool        { return i.in.isDir() }
func (i *fileInfo) String() string     { return fs.FormatFileInfo(i) }
func (i *fileInfo) Sys() any {
	if i.want != nil && !i.want.Load() {
		i.want.Store(true)
	}
	i.once.Do(func() { i.meta = i.fs.meta(i.in) })
	return i.meta
}

// meta gathers everything fsys.Meta holds; what cannot be read is noted
// in Extra under "error".
func (f *FS) meta(in *inode) *fsys.Meta {
	m := new(fsys.Meta)
	f.fillMeta(m, in, nil)
	return m
}

// metaArena holds the Metas of one directory's entries, with their
// extents and extras, in a few shared allocations (the walk builds them
// by the hundred thousand).
type metaArena struct {
	exts []fsys.Extent
	kvs  []fsys.KV
}

// fillMeta is meta into m, taking slices from a when it is not nil.
func (f *FS) fillMeta(m *fsys.Meta, in *inode, a *metaArena) {
	var exts []fsys.Extent
	var kvs []fsys.KV
	if a != nil {
		exts, kvs = a.exts[len(a.exts):], a.kvs[len(a.kvs):]
	}
	*m = fsys.Meta{
		Inode:      uint64(in.Ino),
		Generation: in.Generation,
		Nlink:      uint32(in.LinksCount),
		Size:       in.Size,
		Allocated:  f.allocated(in),
		Modify:     in.Mtime.time(),
		Access:     in.Atime.time(),
		Change:     in.Ctime.time(),
		Birth:      in.Crtime.time(),
		UnixMode:   uint32(in.Mode),
		UID:        in.UID,
		GID:        in.GID,
	}
	note := func(err error) { kvs = append(kvs, fsys.KV{Key: "error", Value: err.Error()}) }
	switch in.Mode & sIFMT {
	case sIFCHR, sIFBLK:
		m.Rdev = in.rdev()
	case sIFLNK:
		if t, err := f.linkTarget(in); err == nil {
			m.LinkTarget = t
		} else {
			note(err)
		}
	}
	if xs, err := f.xattrs(in); err != nil {
		note(err)
		m.Xattrs = xs
	} else {
		m.Xattrs = xs
	}
	if f.hasData(in) && in.Flags&flagInlineData == 0 {
		rs, err := f.runsOf(in)
		if err != nil {
			note(err)
		}
		limit := (uint64(in.Size) + uint64(f.bs) - 1) / uint64(f.bs)
		for _, r := range rs {
			if r.Uninit || r.Logical >= limit && !in.isDir() {
				continue
			}
			exts = append(exts, fsys.Extent{
				Logical:  int64(r.Logical) * f.bs,
				Physical: int64(r.Physical) * f.bs,
				Length:   int64(r.Length) * f.bs,
			})
		}
	}
	if in.Flags&flagInlineData != 0 {
		kvs = append(kvs, fsys.KV{Key: "inline_data", Value: "true"})
	}
	if in.csumBad {
		kvs = append(kvs, fsys.KV{Key: "checksum", Value: "inode checksum mismatch"})
	}
	kvs = append(kvs, fsys.KV{Key: "flags", Value: flagsString(in.Flags)})
	if len(exts) > 0 {
		m.Extents = exts[:len(exts):len(exts)]
	}
	m.Extra = kvs[:len(kvs):len(kvs)]
	if a != nil {
		// Carry on after what was used (in the same array if it held).
		a.exts, a.kvs = exts[len(exts):], kvs[len(kvs):]
	}
}

// hasData reports whether the inode's i_block holds a data mapping (not a
// device number or a fast symlink target).
func (f *FS) hasData(in *inode) bool {
	switch in.Mode & sIFMT {
	case sIFREG, sIFDIR:
		return true
	case sIFLNK:
		return !f.isFastSymlink(in)
	}
	return in.Flags&flagEAInode != 0
}

// file is an open file or directory: fsys.File and fs.ReadDirFile.
type file struct {
	fs   *FS
	in   *inode
	name string

	runsOnce sync.Once
	runs     []run
	runsErr  error

	mu     sync.Mutex
	off    int64
	dirPos int
	dir    *dirList
}

func (r *file) Stat() (fs.FileInfo, error) { return r.fs.info(r.in, r.name), nil }
func (r *file) Close() error               { return nil }

func (r *file) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.in.isDir() {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: errors.New("is a directory")}
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *file) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.in.Size
	default:
		return 0, &fs.PathError{Op: "seek", Path: r.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: r.name, Err: fs.ErrInvalid}
	}
	r.off = offset
	return offset, nil
}

// ReadAt reads file content; holes and uninitialized extents read as
// zeros. It is safe for concurrent use.
func (r *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: fs.ErrInvalid}
	}
	in, f := r.in, r.fs
	if off >= in.Size {
		return 0, io.EOF
	}
	want := p
	if rest := in.Size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	var err error
	switch {
	case in.Flags&flagInlineData != 0 || !f.hasData(in):
		err = r.readInline(want, off)
	default:
		err = r.readBlocks(want, off)
	}
	if err != nil {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: err}
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

func (r *file) readInline(p []byte, off int64) error {
	in := r.in
	data := in.Block[:]
	if more := r.fs.inlineDataXattr(in); len(more) > 0 {
		data = append(append([]byte(nil), data...), more...)
	}
	if !in.isSymlink() && in.Flags&flagInlineData == 0 {
		data = nil
	}
	n := 0
	if off < int64(len(data)) {
		n = copy(p, data[off:])
	}
	clear(p[n:])
	return nil
}

func (r *file) readBlocks(p []byte, off int64) error {
	f := r.fs
	r.runsOnce.Do(func() { r.runs, r.runsErr = f.fileRuns(r.in) })
	rs := r.runs
	if r.runsErr != nil {
		return r.runsErr
	}
	for len(p) > 0 {
		lblk := uint64(off / f.bs)
		i, ok := findRun(rs, lblk)
		if !ok {
			// A hole up to the next run (or the end).
			n := int64(len(p))
			if i < len(rs) {
				if gap := int64(rs[i].Logical)*f.bs - off; gap < n {
					n = gap
				}
			}
			clear(p[:n])
			p, off = p[n:], off+n
			continue
		}
		rn := rs[i]
		end := int64(rn.Logical+rn.Length) * f.bs
		n := int64(len(p))
		if end-off < n {
			n = end - off
		}
		if rn.Uninit {
			clear(p[:n])
		} else {
			phys := int64(rn.Physical)*f.bs + (off - int64(rn.Logical)*f.bs)
			if err := f.readAt(p[:n], phys); err != nil {
				return fmt.Errorf("ext4: inode %d: %w", r.in.Ino, err)
			}
		}
		p, off = p[n:], off+n
	}
	return nil
}

// ReadDir reads the next n entries of a directory (all with n <= 0).
func (r *file) ReadDir(n int) ([]fs.DirEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.in.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: r.name, Err: errors.New("not a directory")}
	}
	if r.dir == nil {
		d, err := r.fs.readDir(r.in)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: r.name, Err: err}
		}
		r.dir = d
	}
	rest := r.dir.entries[r.dirPos:]
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	r.dirPos += len(rest)
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	out := make([]fs.DirEntry, len(rest))
	for i, e := range rest {
		out[i] = &dirEntry{fs: r.fs, e: e}
	}
	return out, nil
}

var (
	_ fsys.FS   = (*FS)(nil)
	_ fsys.File = (*file)(nil)
)

// flagsString is i_flags as "%#x" prints it, without formatting the
// values nearly every inode has.
func flagsString(fl uint32) string {
	switch fl {
	case 0:
		return "0x0"
	case flagExtents:
		return "0x80000"
	case flagExtents | flagIndex:
		return "0x81000"
	case flagInlineData:
		return "0x10000000"
	}
	return "0x" + strconv.FormatUint(uint64(fl), 16)
}
