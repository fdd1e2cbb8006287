package exfat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
)

// ErrFormat reports that the data is not, or is no longer, a valid exFAT
// volume.
var ErrFormat = errors.New("exfat: invalid exFAT volume")

// FS is an open exFAT volume. It implements fsys.FS and is safe for
// concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	g    *geometry
	fat  *table
	up   upcase
	rinf rootInfo
	root *dirData

	mu       sync.Mutex
	dirs     map[uint32]*dirData
	warnings []string

	usageOnce sync.Once
	total     int64
	used      int64
	usageOK   bool

	pagedWalk bool // tests: Walk reads the FAT through the page cache, as for one over maxWalkFAT
}

const (
	maxCachedDirs = 512
	maxWarnings   = 100
)

var _ fsys.FS = (*FS)(nil)

// Open reads the exFAT volume in the first size bytes of r. A main boot
// region whose checksum or fields are bad is replaced by the backup boot
// region (with a warning).
func Open(r io.ReaderAt, size int64) (*FS, error) {
	f := &FS{r: r, size: size, dirs: make(map[uint32]*dirData)}
	g, err := f.readBootRegion(0)
	if err != nil {
		g2, err2 := f.readBootRegion(12)
		if err2 != nil {
			return nil, err
		}
		f.warn(fmt.Sprintf("main boot region: %v; using the backup boot region", err))
		g = g2
	}
	f.g = g
	f.fat = newTable(r, g)
	root, err := f.readDirData(g.bs.FirstClusterOfRootDirectory, &f.rinf)
	if err != nil {
		return nil, fmt.Errorf("exfat: root directory: %w", err)
	}
	f.loadUpcase()
	f.root, err = f.indexDir(root)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// readBootRegion reads and checks the boot region at sector index first
// (0 for the main, 12 for the backup region).
func (f *FS) readBootRegion(first int64) (*geometry, error) {
	b := make([]byte, 512)
	// The sector size is in the boot sector itself; the backup region
	// starts at sector 12 of that size.
	if _, err := f.r.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("exfat: reading boot sector: %w", err)
	}
	ss := int64(512)
	if shift := b[108]; shift >= 9 && shift <= 12 {
		ss = 1 << shift
	}
	if first != 0 {
		if _, err := f.r.ReadAt(b, first*ss); err != nil && err != io.EOF {
			return nil, fmt.Errorf("exfat: reading backup boot sector: %w", err)
		}
		if shift := b[108]; shift >= 9 && shift <= 12 {
			ss = 1 << shift
		}
	}
	if (first+12)*ss > f.size {
		return nil, fmt.Errorf("%w: volume of %d bytes too small for a boot region", ErrFormat, f.size)
	}
	region := make([]byte, 12*ss)
	if _, err := f.r.ReadAt(region, first*ss); err != nil && err != io.EOF {
		return nil, fmt.Errorf("exfat: reading boot region: %w", err)
	}
	g, err := decodeBootSector(region, f.size)
	if err != nil {
		return nil, err
	}
	if g.sectorSize != ss {
		return nil, fmt.Errorf("%w: boot region: sector size changed", ErrFormat)
	}
	if err := checkBootRegion(region, int(ss)); err != nil {
		return nil, err
	}
	return g, nil
}

// warn records a warning once: a directory parsed again (by a walk, or
// after leaving the cache) reports the same entry sets again.
func (f *FS) warn(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.warnings) < maxWarnings && !slices.Contains(f.warnings, s) {
		f.warnings = append(f.warnings, s)
	}
}

// Warnings lists inconsistencies found so far that did not stop reading:
// a bad main boot region, an up-case table with a bad checksum, entry sets
// skipped for a bad SetChecksum or layout.
func (f *FS) Warnings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.warnings)
}

// loadUpcase reads the up-case table named in the root directory, or uses
// Unicode simple upper-case mapping if it is missing or bad.
func (f *FS) loadUpcase() {
	f.up = nil
	ri := &f.rinf
	if ri.hasUpcase && ri.upcaseLen > 0 && ri.upcaseLen <= 256<<10 {
		want := (int64(ri.upcaseLen) + f.g.clusterSize - 1) / f.g.clusterSize
		ext, _, err := f.fat.chain(ri.upcaseClus, want, -1, false)
		if err != nil {
			ext, _, err = f.fat.chain(ri.upcaseClus, want, -1, true)
		}
		if err == nil {
			b, err := f.readExtents(ext, int64(ri.upcaseLen))
			if err == nil && tableChecksum(b) == ri.upcaseSum {
				f.up = decodeUpcase(b)
			} else if err == nil {
				f.warn("up-case table: TableChecksum mismatch; using Unicode upper case")
			}
		}
	}
	if f.up == nil {
		if !ri.hasUpcase {
			f.warn("no up-case table; using Unicode upper case")
		}
		f.up = defaultUpcase()
	}
}

func (f *FS) readExtents(ext []fsys.Extent, n int64) ([]byte, error) {
	return extentfile.ReadData(f.r, f.size, "exfat", ext, n, nil)
}

// Type is "exfat".
func (f *FS) Type() string { return "exfat" }

// Label is the volume label from the root directory.
func (f *FS) Label() string { return f.rinf.label }

// ID is the volume serial number as Windows prints it (XXXX-XXXX).
func (f *FS) ID() string {
	s := f.g.bs.VolumeSerialNumber
	return fmt.Sprintf("%04X-%04X", s>>16, s&0xFFFF)
}

// GUID is the volume GUID from the root directory, "" when there is none.
func (f *FS) GUID() string {
	if !f.rinf.hasGUID {
		return ""
	}
	g := f.rinf.guid
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", uint32(g[0])|uint32(g[1])<<8|uint32(g[2])<<16|uint32(g[3])<<24,
		uint16(g[4])|uint16(g[5])<<8, uint16(g[6])|uint16(g[7])<<8, g[8:10], g[10:16])
}

// ClusterSize is the size of a cluster in bytes.
func (f *FS) ClusterSize() int64 { return f.g.clusterSize }

// Usage reports the size of the cluster heap and the bytes allocated in
// the allocation bitmap.
func (f *FS) Usage() (total, used int64, ok bool) {
	f.usageOnce.Do(func() {
		g := f.g
		f.total = int64(g.clusters) * g.clusterSize
		ri := f.rinf
		need := (int64(g.clusters) + 7) / 8
		if !ri.hasBitmap || int64(ri.bitmapLen) < need {
			return
		}
		want := (need + g.clusterSize - 1) / g.clusterSize
		ext, _, err := f.fat.chain(ri.bitmapClus, want, -1, false)
		if err != nil {
			return
		}
		var set int64
		buf := make([]byte, 1<<20)
		for _, x := range ext {
			for o := int64(0); o < x.Length && x.Logical+o < need; o += int64(len(buf)) {
				k := min(int64(len(buf)), x.Length-o, need-x.Logical-o)
				if _, err := f.r.ReadAt(buf[:k], x.Physical+o); err != nil && err != io.EOF {
					return
				}
				for i, c := range buf[:k] {
					if x.Logical+o+int64(i) == need-1 && g.clusters%8 != 0 {
						c &= byte(1<<(g.clusters%8)) - 1
					}
					set += int64(bits.OnesCount8(c))
				}
			}
		}
		f.used, f.usageOK = set*g.clusterSize, true
	})
	return f.total, f.used, f.usageOK
}

// dirData is a parsed directory.
type dirData struct {
	entries []fileEntry
	extents []fsys.Extent
	byName  map[string]int
	byFold  map[string]int
}

// readDirData reads the directory at cluster: the root (its chain to the
// end) when ri is not nil.
func (f *FS) readDirData(cluster uint32, ri *rootInfo) (*dirData, error) {
	ext, n, err := f.fat.chain(cluster, -1, maxDirSize/f.g.clusterSize, false)
	if err != nil {
		return nil, err
	}
	return f.parseDirAt(ext, n*f.g.clusterSize, ri)
}

func (f *FS) parseDirAt(ext []fsys.Extent, n int64, ri *rootInfo) (*dirData, error) {
	data, err := f.readExtents(ext, n)
	if err != nil {
		return nil, err
	}
	offsetOf := func(i int) int64 { return extentfile.Physical(ext, int64(i)) }
	entries := parseDir(nil, data, offsetOf, ri, f.warn)
	return &dirData{entries: entries, extents: ext}, nil
}

// indexDir makes the look-up maps of a directory (after the up-case table
// is known).
func (f *FS) indexDir(d *dirData) (*dirData, error) {
	d.byName = make(map[string]int, len(d.entries))
	d.byFold = make(map[string]int, len(d.entries))
	for i := range d.entries {
		e := &d.entries[i]
		e.name = fsys.SafeName(e.name)
		if _, dup := d.byName[e.name]; !dup {
			d.byName[e.name] = i
		}
		k := f.up.fold(e.name)
		if _, dup := d.byFold[k]; !dup {
			d.byFold[k] = i
		}
	}
	return d, nil
}

// subdir reads the directory of entry e, through the cache.
func (f *FS) subdir(e *fileEntry) (*dirData, error) {
	f.mu.Lock()
	d, ok := f.dirs[e.FirstCluster]
	f.mu.Unlock()
	if ok {
		return d, nil
	}
	ext, n, err := f.extentsOf(e)
	if err != nil {
		return nil, err
	}
	d, err = f.parseDirAt(ext, n, nil)
	if err != nil {
		return nil, err
	}
	f.indexDir(d)
	f.mu.Lock()
	if len(f.dirs) >= maxCachedDirs {
		clear(f.dirs)
	}
	f.dirs[e.FirstCluster] = d
	f.mu.Unlock()
	return d, nil
}

// extentsOf resolves the clusters of an entry's data; n is DataLength.
func (f *FS) extentsOf(e *fileEntry) ([]fsys.Extent, int64, error) {
	return f.extentsWith(f.fat, e, nil)
}

// extentsWith is extentsOf through fat, appending to dst: all[len(dst):]
// are the extents. On error all is dst.
func (f *FS) extentsWith(fat nexter, e *fileEntry, dst []fsys.Extent) (all []fsys.Extent, n int64, err error) {
	g := f.g
	if e.DataLength == 0 {
		return dst, 0, nil
	}
	if e.StreamFlags&flagAllocationPossible == 0 {
		return dst, 0, fmt.Errorf("exfat: DataLength %d without an allocation", e.DataLength)
	}
	if e.DataLength > uint64(g.clusters)*uint64(g.clusterSize) {
		return dst, 0, fmt.Errorf("exfat: DataLength %d larger than the volume", e.DataLength)
	}
	if e.isDir() && e.DataLength > maxDirSize {
		return dst, 0, fmt.Errorf("exfat: directory of %d bytes is larger than a directory can be", e.DataLength)
	}
	n = int64(e.DataLength)
	want := (n + g.clusterSize - 1) / g.clusterSize
	base := len(dst)
	all, _, err = chain(g, fat, e.FirstCluster, want, -1, e.StreamFlags&flagNoFatChain != 0, dst)
	if err != nil {
		return dst, 0, err
	}
	if k := len(all) - 1; k >= base {
		all[k].Length = n - all[k].Logical
	}
	return all, n, nil
}

func (d *dirData) lookup(f *FS, name string) (*fileEntry, bool) {
	if i, ok := d.byName[name]; ok {
		return &d.entries[i], true
	}
	if i, ok := d.byFold[f.up.fold(name)]; ok {
		return &d.entries[i], true
	}
	return nil, false
}

type node struct {
	name string
	e    *fileEntry // nil for the root
	dir  *dirData
}

// resolve walks name from the root; a directory whose data starts inside
// an ancestor's clusters would contain itself and is an error.
func (f *FS) resolve(op, name string) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n := &node{name: ".", dir: f.root}
	if name == "." {
		return n, nil
	}
	ancestors := [][]fsys.Extent{f.root.extents}
	elems := strings.Split(name, "/")
	for i, el := range elems {
		if n.dir == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("exfat: %s is not a directory: %w", strings.Join(elems[:i], "/"), fs.ErrNotExist)}
		}
		e, ok := n.dir.lookup(f, el)
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		child := &node{name: e.name, e: e}
		if e.isDir() {
			if e.FirstCluster >= 2 && e.FirstCluster <= f.g.clusters+1 {
				off := f.g.clusterOffset(e.FirstCluster)
				if extentfile.Within(ancestors, off) {
					return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("exfat: directory %q contains itself (cluster %d)", strings.Join(elems[:i+1], "/"), e.FirstCluster)}
				}
			}
			d, err := f.subdir(e)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("directory %q: %w", strings.Join(elems[:i+1], "/"), err)}
			}
			child.dir = d
			ancestors = append(ancestors, d.extents)
		}
		n = child
	}
	return n, nil
}

// Open opens the named file or directory.
func (f *FS) Open(name string) (fs.File, error) {
	n, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	return f.openNode(name, n)
}

// Stat returns the FileInfo of the named file.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return f.infoOf(n), nil
}

// Lstat is Stat: exFAT has no symbolic links.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	return f.infoOf(n), nil
}

// ReadLink always fails: exFAT has no symbolic links.
func (f *FS) ReadLink(name string) (string, error) {
	if _, err := f.resolve("readlink", name); err != nil {
		return "", err
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("exfat: not a symbolic link: %w", fs.ErrInvalid)}
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if n.dir == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("exfat: not a directory")}
	}
	list := make([]fs.DirEntry, len(n.dir.entries))
	for i := range n.dir.entries {
		list[i] = fs.FileInfoToDirEntry(f.infoOf(&node{name: n.dir.entries[i].name, e: &n.dir.entries[i]}))
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}
