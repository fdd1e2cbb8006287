// Package xfs reads XFS file systems, read-only, in user space.
//
// It follows "XFS Algorithms & Data Structures" (the XFS on-disk format
// book) and the Linux kernel's xfs_format.h. Both the v4 and the v5 (CRC)
// on-disk formats are read: superblock, inodes of version 1 to 3 (including
// bigtime timestamps and 64-bit extent counters), data forks in local,
// extent and B+tree (bmbt) format, short-form, block, leaf, node and B+tree
// directories, local and remote symbolic links, and extended attributes in
// short-form, leaf and node attribute forks with local and remote values.
// Sparse files and unwritten (preallocated) extents read as zeros; reflinked
// files simply read their (shared) extents.
//
// Inodes are found from their numbers (allocation group, block, slot), so
// the inode B+trees are never walked. Directory look-ups read the
// directory's data blocks once and keep a name index in a bounded cache;
// the hash/leaf/free blocks are not needed and not read. v5 metadata CRCs
// are verified: a mismatch is recorded in Warnings, not an error.
//
// FS also implements fsys.WalkFS (a whole-tree walk loading directories
// and their inodes in parallel, inodes read in batches by their place on
// the volume) and fsys.InfoOpener (open from the inode a FileInfo carries).
//
// Not supported: realtime volumes' data (files flagged realtime report
// Special "realtime" and cannot be read), external logs (the log is never
// replayed: a dirty volume is read as it is on disk), and the metadir and
// zoned incompatible features, which are refused at Open.
package xfs

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grainvm/grain/fsys"

	"github.com/grainvm/grain/internal/lru"
)

// FS is an open XFS volume. It is safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64 // bytes readable: min(volume size, dblocks*blocksize)
	sb   *superblock

	bs       int64 // block size
	dirbs    int64 // directory block size
	ftype    bool
	crc      bool
	metaUUID [16]byte

	mu       sync.Mutex
	warnings []string
	inodes   *lru.Cache[uint64, *inode]
	dirs     *lru.Cache[uint64, *dirIndex]
}

// maxWarnings bounds the warnings kept.
const maxWarnings = 1000

// Cache bounds.
const (
	inodeCacheSize  = 4096
	dirCacheEntries = 1 << 20 // total directory entries kept in the cache
	maxDirEntries   = 1 << 24 // one directory's entries, beyond which it is refused
)

// Open reads the XFS volume held in the first size bytes of r.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	if size < 512 {
		return nil, fmt.Errorf("%w: volume of %d bytes is too small", ErrFormat, size)
	}
	buf := make([]byte, 512)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("xfs: reading superblock: %w", err)
	}
	sb, err := parseSuperblock(buf)
	if err != nil {
		return nil, err
	}
	f := &FS{
		r:        r,
		sb:       sb,
		bs:       int64(sb.Blocksize),
		dirbs:    int64(sb.Blocksize) << sb.Dirblklog,
		ftype:    sb.hasFtype(),
		crc:      sb.crc(),
		metaUUID: sb.metaUUID(),
		inodes:   lru.New[uint64, *inode](inodeCacheSize),
		dirs:     lru.New[uint64, *dirIndex](dirCacheEntries),
	}
	f.size = size
	if vol := int64(sb.Dblocks) * f.bs; vol < f.size && vol > 0 {
		f.size = vol
	}
	if f.crc {
		full := make([]byte, sb.Sectsize)
		if _, err := r.ReadAt(full, 0); err == nil && !cksumOK(full, 224) {
			f.warn("superblock: CRC mismatch")
		}
		if sb.FeaturesIncompat&sbIncompatNeedsRepair != 0 {
			f.warn("superblock: volume is flagged as needing repair")
		}
	}
	if int64(sb.Dblocks)*f.bs > size {
		f.warn(fmt.Sprintf("volume: superblock says %d bytes, only %d available", int64(sb.Dblocks)*f.bs, size))
	}
	root, err := f.inode(sb.Rootino)
	if err != nil {
		return nil, fmt.Errorf("xfs: root directory: %w", err)
	}
	if !root.isDir() {
		return nil, fmt.Errorf("%w: root inode %d is not a directory", ErrFormat, sb.Rootino)
	}
	return f, nil
}

// Type is "xfs".
func (f *FS) Type() string { return "xfs" }

// Label is the volume label (sb_fname).
func (f *FS) Label() string {
	s := string(f.sb.Fname[:])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

// ID is the file system UUID as blkid and xfs_admin print it.
func (f *FS) ID() string { return formatUUID(f.sb.UUID) }

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Usage reports the size of the data device and the bytes not free, from
// the superblock counters (which lazy-count volumes update only at clean
// unmount).
func (f *FS) Usage() (total, used int64, ok bool) {
	total = int64(f.sb.Dblocks) * f.bs
	free := int64(f.sb.Fdblocks) * f.bs
	if free > total || free < 0 {
		return total, 0, false
	}
	return total, total - free, true
}

// BlockSize is the file system block size in bytes.
func (f *FS) BlockSize() int64 { return f.bs }

// Version is the on-disk format version: 4, or 5 for CRC-enabled volumes.
func (f *FS) Version() int { return f.sb.version() }

// Warnings lists problems found so far that did not stop reading (v5
// metadata CRC mismatches, for instance).
func (f *FS) Warnings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.warnings...)
}

func (f *FS) warn(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.warnings) < maxWarnings {
		f.warnings = append(f.warnings, "xfs: "+s)
	}
}

// fsbToByte turns a file system block number (AG number in the high bits)
// into a byte offset on the volume.
func (f *FS) fsbToByte(fsb uint64) (int64, bool) {
	agno := fsb >> f.sb.Agblklog
	agbno := fsb & (1<<f.sb.Agblklog - 1)
	if agno >= uint64(f.sb.Agcount) || agbno >= uint64(f.sb.Agblocks) {
		return 0, false
	}
	blk := agno*uint64(f.sb.Agblocks) + agbno
	if blk >= f.sb.Dblocks {
		return 0, false
	}
	return int64(blk) * f.bs, true
}

// readAt reads len(b) bytes of the volume at off, failing beyond its end.
func (f *FS) readAt(b []byte, off int64, what string) error {
	if off < 0 || off > f.size || int64(len(b)) > f.size-off {
		return fmt.Errorf("%w: %s: bytes [%#x, +%#x) beyond end of volume (%#x)", ErrFormat, what, off, len(b), f.size)
	}
	n, err := f.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("xfs: %s: reading at %#x: %w", what, off, err)
}

// readBlocks reads count blocks starting at file system block fsb.
func (f *FS) readBlocks(fsb uint64, count int64, what string) ([]byte, error) {
	off, ok := f.fsbToByte(fsb)
	if !ok {
		return nil, fmt.Errorf("%w: %s: block %d outside the volume", ErrFormat, what, fsb)
	}
	if count <= 0 || count*f.bs > f.size-off {
		return nil, fmt.Errorf("%w: %s: %d blocks at %d beyond end of volume", ErrFormat, what, count, fsb)
	}
	b := make([]byte, count*f.bs)
	return b, f.readAt(b, off, what)
}

// checkCRC verifies a v5 metadata CRC, recording a warning on mismatch.
func (f *FS) checkCRC(b []byte, off int, what string) {
	if f.crc && !cksumOK(b, off) {
		f.warn(what + ": CRC mismatch")
	}
}

// walk resolves name to its inode without following symbolic links.
func (f *FS) walk(op, name string) (*inode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	ip, err := f.inode(f.sb.Rootino)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if name == "." {
		return ip, nil
	}
	// Directories seen on the way: one met again is a loop (a corrupt
	// volume), which would make every walker descend forever.
	seen := map[uint64]bool{ip.ino: true}
	for _, elem := range strings.Split(name, "/") {
		if !ip.isDir() {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		idx, err := f.dirIndex(ip)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		e, ok := idx.byName[elem]
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if ip, err = f.inode(e.ino); err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		if ip.isDir() {
			if seen[ip.ino] {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: directory %d contains itself", ErrFormat, ip.ino)}
			}
			seen[ip.ino] = true
		}
	}
	return ip, nil
}

// Open opens the named file or directory. Symbolic links are not followed
// (their targets may be absolute paths of the guest): opening one gives the
// link itself, whose content is its target.
func (f *FS) Open(name string) (fs.File, error) {
	ip, err := f.walk("open", name)
	if err != nil {
		return nil, err
	}
	info := &fileInfo{name: path.Base(name), ip: ip, fs: f}
	if name == "." {
		info.name = "."
	}
	if ip.isDir() {
		return &dir{fs: f, ip: ip, info: info}, nil
	}
	fl, err := f.newFile(ip, info)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return fl, nil
}

// Stat returns the FileInfo of name; it does not follow a final symbolic
// link (as Open does not).
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	ip, err := f.walk("stat", name)
	if err != nil {
		return nil, err
	}
	info := &fileInfo{name: path.Base(name), ip: ip, fs: f}
	return info, nil
}

// Lstat is Stat.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	ip, err := f.walk("lstat", name)
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: path.Base(name), ip: ip, fs: f}, nil
}

// ReadLink returns the target of the symbolic link name.
func (f *FS) ReadLink(name string) (string, error) {
	ip, err := f.walk("readlink", name)
	if err != nil {
		return "", err
	}
	if ip.mode&sIFMT != sIFLNK {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := f.linkTarget(ip)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return t, nil
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ip, err := f.walk("readdir", name)
	if err != nil {
		return nil, err
	}
	if !ip.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	ents, err := f.dirEntries(ip)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, nil
}

// dirEntries lists a directory's entries as fs.DirEntry, sorted by name.
func (f *FS) dirEntries(ip *inode) ([]fs.DirEntry, error) {
	idx, err := f.dirIndex(ip)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(idx.names))
	for _, n := range idx.names {
		e := idx.byName[n]
		de := &dirEntry{fs: f, name: n, ino: e.ino, ftype: e.ftype}
		if !f.ftype || e.ftype == 0 || e.ftype > 7 {
			// No type in the entry: read the inode now, so that Type is right.
			if _, err := de.load(); err != nil {
				return nil, fmt.Errorf("entry %q: %w", n, err)
			}
		}
		out = append(out, de)
	}
	return out, nil
}

// fileInfo is the fs.FileInfo of an inode.
type fileInfo struct {
	name string
	ip   *inode
	fs   *FS

	metaOnce sync.Once
	meta     *fsys.Meta
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.ip.size() }
func (i *fileInfo) Mode() fs.FileMode  { return i.ip.fileMode() }
func (i *fileInfo) ModTime() time.Time { return i.ip.mtime }
func (i *fileInfo) IsDir() bool        { return i.ip.isDir() }
func (i *fileInfo) Sys() any {
	i.metaOnce.Do(func() { i.meta = i.fs.meta(i.ip) })
	return i.meta
}

// dirEntry is one entry of a directory listing.
type dirEntry struct {
	fs    *FS
	name  string
	ino   uint64
	ftype uint8

	mu sync.Mutex
	ip *inode
}

func (d *dirEntry) load() (*inode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ip != nil {
		return d.ip, nil
	}
	ip, err := d.fs.inode(d.ino)
	if err != nil {
		return nil, err
	}
	d.ip = ip
	return ip, nil
}

func (d *dirEntry) Name() string { return d.name }
func (d *dirEntry) IsDir() bool  { return d.Type().IsDir() }

// Type is the entry's ftype where the volume records one (as a
// directory listing says, whatever the inode says), else the inode's.
func (d *dirEntry) Type() fs.FileMode {
	if d.fs.ftype && d.ftype >= 1 && d.ftype <= 7 {
		return ftypeMode(d.ftype)
	}
	d.mu.Lock()
	ip := d.ip
	d.mu.Unlock()
	if ip != nil {
		return ip.fileMode().Type()
	}
	return fs.ModeIrregular // not reached: dirEntries reads untyped entries' inodes
}
func (d *dirEntry) Info() (fs.FileInfo, error) {
	ip, err := d.load()
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: d.name, ip: ip, fs: d.fs}, nil
}
func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

// XFS_DIR3_FT_* directory entry file types.
func ftypeMode(t uint8) fs.FileMode {
	switch t {
	case 2:
		return fs.ModeDir
	case 3:
		return fs.ModeDevice | fs.ModeCharDevice
	case 4:
		return fs.ModeDevice
	case 5:
		return fs.ModeNamedPipe
	case 6:
		return fs.ModeSocket
	case 7:
		return fs.ModeSymlink
	}
	return 0
}

// dir is an open directory.
type dir struct {
	fs   *FS
	ip   *inode
	info *fileInfo

	mu      sync.Mutex
	entries []fs.DirEntry
	loaded  bool
	pos     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *dir) ReadAt([]byte, int64) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *dir) Seek(int64, int) (int64, error) {
	return 0, &fs.PathError{Op: "seek", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *dir) Close() error { return nil }

// ReadDir returns the next n entries (all remaining when n <= 0).
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		ents, err := d.fs.dirEntries(d.ip)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.info.name, Err: err}
		}
		d.entries, d.loaded = ents, true
	}
	rest := d.entries[d.pos:]
	if n <= 0 {
		d.pos = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.pos += n
	return rest[:n], nil
}

// sortedKeys returns the keys of m sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ fsys.FS = (*FS)(nil)
