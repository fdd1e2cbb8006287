package fat

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
)

// ErrFormat reports that the data is not, or is no longer, a valid FAT
// volume.
var ErrFormat = errors.New("fat: invalid FAT volume")

// FS is an open FAT12, FAT16 or FAT32 volume. It implements fsys.FS and is
// safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	g    *geometry
	fat  *table

	label string
	id    string
	root  *dirData

	warnings []string // found at Open

	mu   sync.Mutex
	dirs map[uint32]*dirData // directory cache, bounded by maxCachedDirs

	warnOnce sync.Once
	allWarn  []string

	usageOnce sync.Once
	total     int64
	used      int64
	usageOK   bool
	fsinfo    fsInfo

	pagedWalk bool // tests: Walk reads the FAT through the page cache, as for one over maxWalkFAT
}

const maxCachedDirs = 512

var _ fsys.FS = (*FS)(nil)

// Open reads the FAT volume held in the first size bytes of r.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	if size < 512 {
		return nil, fmt.Errorf("%w: volume of %d bytes is too small", ErrFormat, size)
	}
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("fat: reading boot sector: %w", err)
	}
	g, err := decodeBootSector(b, size)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, g: g, dirs: make(map[uint32]*dirData)}
	if g.bs.Signature != 0xAA55 {
		f.warnings = append(f.warnings, fmt.Sprintf("boot sector: signature 0x%04x, not 0xAA55", g.bs.Signature))
	}
	f.fat = newTable(r, g, g.activeFAT)
	if g.kind == "fat32" && g.bs.FSInfo != 0 && g.bs.FSInfo != 0xFFFF {
		off := int64(g.bs.FSInfo) * g.sectorSize
		if off+512 <= g.fatOffset {
			fb := make([]byte, 512)
			if _, err := r.ReadAt(fb, off); err == nil {
				f.fsinfo = parseFSInfo(fb)
			}
		}
		if !f.fsinfo.valid() {
			f.warnings = append(f.warnings, "FSInfo sector: bad signatures")
		}
	}
	root, err := f.readRoot()
	if err != nil {
		return nil, err
	}
	f.root = root
	if g.hasExtBPB {
		f.id = fmt.Sprintf("%04X-%04X", g.bs.VolID>>16, g.bs.VolID&0xFFFF)
	}
	switch {
	case root.hasLabel:
		f.label = root.label
	case g.hasLabelBPB:
		l := strings.TrimRight(oemString(g.bs.VolLab[:]), " ")
		if l != "NO NAME" {
			f.label = l
		}
	}
	return f, nil
}

// Type is "fat12", "fat16" or "fat32", as the cluster count decides.
func (f *FS) Type() string { return f.g.kind }

// Label is the volume label: the one in the root directory if there is
// one (as Windows shows it), else the one in the boot sector.
func (f *FS) Label() string { return f.label }

// ID is the volume serial number as Windows prints it (XXXX-XXXX), "" for
// a boot sector without an extended BPB.
func (f *FS) ID() string { return f.id }

// ClusterSize is the size of a cluster in bytes.
func (f *FS) ClusterSize() int64 { return f.g.clusterSize }

// Usage reports the size of the data area and the bytes in use, counted
// from the FAT (or taken from FSInfo when the FAT is larger than 16 MiB).
func (f *FS) Usage() (total, used int64, ok bool) {
	f.usageOnce.Do(func() {
		g := f.g
		f.total = int64(g.clusters) * g.clusterSize
		if f.fat.size <= 16<<20 {
			var free int64
			for c := uint32(2); c < g.clusters+2; c++ {
				v, err := f.fat.next(c)
				if err != nil {
					return
				}
				if v == 0 {
					free++
				}
			}
			f.used, f.usageOK = f.total-free*g.clusterSize, true
			return
		}
		if f.fsinfo.valid() && f.fsinfo.FreeCount <= g.clusters {
			f.used, f.usageOK = f.total-int64(f.fsinfo.FreeCount)*g.clusterSize, true
		}
	})
	return f.total, f.used, f.usageOK
}

// Warnings lists inconsistencies that do not stop reading: a missing boot
// signature, a bad FSInfo sector, FAT copies that differ (the active FAT,
// normally the first, is the one read). The FAT copies are compared on the
// first call.
func (f *FS) Warnings() []string {
	f.warnOnce.Do(func() {
		f.allWarn = append([]string(nil), f.warnings...)
		g := f.g
		if g.bs.NumFATs < 2 {
			return
		}
		n := g.fatSz * g.sectorSize
		a, b := make([]byte, 1<<20), make([]byte, 1<<20)
		for i := 1; i < int(g.bs.NumFATs); i++ {
			for off := int64(0); off < n; off += int64(len(a)) {
				k := min(int64(len(a)), n-off)
				_, e1 := f.r.ReadAt(a[:k], g.fatOffset+off)
				_, e2 := f.r.ReadAt(b[:k], g.fatOffset+int64(i)*n+off)
				if e1 != nil || e2 != nil {
					f.allWarn = append(f.allWarn, fmt.Sprintf("FAT copy %d: unreadable", i+1))
					break
				}
				if string(a[:k]) != string(b[:k]) {
					f.allWarn = append(f.allWarn, fmt.Sprintf("FAT copy %d differs from FAT copy 1 near byte 0x%x", i+1, off))
					break
				}
			}
		}
	})
	return slices.Clone(f.allWarn)
}

// dirData is a parsed directory.
type dirData struct {
	entries  []entry // without "." and ".."
	extents  []fsys.Extent
	label    string
	hasLabel bool
	byName   map[string]int
	byFold   map[string]int
}

func (f *FS) readRoot() (*dirData, error) {
	g := f.g
	if g.kind == "fat32" {
		return f.readDirData(g.bs.RootClus, true)
	}
	ext := []fsys.Extent{{Physical: g.rootOffset, Length: g.rootSize}}
	return f.loadDir(ext, true)
}

// readDirData reads and parses the directory starting at cluster, through
// the cache.
func (f *FS) readDirData(cluster uint32, isRoot bool) (*dirData, error) {
	f.mu.Lock()
	d, ok := f.dirs[cluster]
	f.mu.Unlock()
	if ok {
		return d, nil
	}
	ext, _, err := f.fat.chain(cluster, -1, maxDirSize/f.g.clusterSize)
	if err != nil {
		return nil, fmt.Errorf("directory at cluster %d: %w", cluster, err)
	}
	d, err = f.loadDir(ext, isRoot)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.dirs) >= maxCachedDirs {
		clear(f.dirs)
	}
	f.dirs[cluster] = d
	f.mu.Unlock()
	return d, nil
}

func (f *FS) loadDir(ext []fsys.Extent, isRoot bool) (*dirData, error) {
	var total int64
	for _, e := range ext {
		total += e.Length
	}
	if total > maxDirSize {
		return nil, fmt.Errorf("fat: directory at 0x%x: %d bytes is larger than a directory can be", ext[0].Physical, total)
	}
	data, err := extentfile.ReadData(f.r, f.size, "fat", ext, total, nil)
	if err != nil {
		return nil, err
	}
	offsetOf := func(i int) int64 { return extentfile.Physical(ext, int64(i)) }
	all, names, label, hasLabel := parseDir(nil, nil, data, offsetOf, f.g.kind == "fat32")
	setNames(all, string(names))
	d := &dirData{extents: ext, byName: make(map[string]int), byFold: make(map[string]int)}
	if isRoot {
		d.label, d.hasLabel = label, hasLabel
	}
	for _, e := range all {
		if e.dotEntry {
			continue
		}
		e.name = fsys.SafeName(e.name)
		i := len(d.entries)
		d.entries = append(d.entries, e)
		if _, dup := d.byName[e.name]; !dup {
			d.byName[e.name] = i
		}
		k := fold(e.name)
		if _, dup := d.byFold[k]; !dup {
			d.byFold[k] = i
		}
	}
	return d, nil
}

// fold is the case folding of look-ups: Unicode simple upper-case mapping,
// rune by rune.
func fold(s string) string { return strings.ToUpper(s) }

func (d *dirData) lookup(name string) (*entry, bool) {
	if i, ok := d.byName[name]; ok {
		return &d.entries[i], true
	}
	if i, ok := d.byFold[fold(name)]; ok {
		return &d.entries[i], true
	}
	return nil, false
}

// node is a resolved path: the root, or an entry in a directory.
type node struct {
	name string
	e    *entry // nil for the root
	dir  *dirData
}

// resolve walks name from the root. Directories are checked against their
// ancestors: a directory whose first cluster lies in an ancestor's chain
// would contain itself.
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
			return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("fat: %s is not a directory: %w", strings.Join(elems[:i], "/"), fs.ErrNotExist)}
		}
		e, ok := n.dir.lookup(el)
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		child := &node{name: e.name, e: e}
		if e.isDir() {
			if e.cluster < 2 || e.cluster > f.g.clusters+1 {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("fat: directory %q: first cluster %d out of range", strings.Join(elems[:i+1], "/"), e.cluster)}
			}
			off := f.g.clusterOffset(e.cluster)
			if extentfile.Within(ancestors, off) {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("fat: directory %q contains itself (cluster %d)", strings.Join(elems[:i+1], "/"), e.cluster)}
			}
			d, err := f.readDirData(e.cluster, false)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
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

// Lstat is Stat: FAT has no symbolic links.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	return f.infoOf(n), nil
}

// ReadLink always fails: FAT has no symbolic links.
func (f *FS) ReadLink(name string) (string, error) {
	if _, err := f.resolve("readlink", name); err != nil {
		return "", err
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("fat: not a symbolic link: %w", fs.ErrInvalid)}
}

// ReadDir lists the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if n.dir == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("fat: not a directory")}
	}
	list := f.dirEntries(n.dir)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

func (f *FS) dirEntries(d *dirData) []fs.DirEntry {
	list := make([]fs.DirEntry, len(d.entries))
	for i := range d.entries {
		list[i] = fs.FileInfoToDirEntry(f.infoOf(&node{name: d.entries[i].name, e: &d.entries[i]}))
	}
	return list
}
