// Package guest opens a virtual machine's disk image (a single file or a
// whole differencing chain) as one read-only io/fs.FS.
//
// The top level of the tree holds one directory per volume, named as
// PRODUCT.md says: p1, p2, … for partitions (MBR logical partitions from p5),
// VG-LV for LVM2 logical volumes, "disk" for a file system on the whole disk.
// A volume whose file system grain cannot read is an empty directory;
// Volume.Err says why. Paths below a volume are the file system's own,
// looked up as that file system does (case-insensitively on NTFS, FAT and
// exFAT).
package guest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unsafe"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/probe"
	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/volume"
)

// Options control how an image is opened.
type Options struct {
	vdisk.Options
	// IgnoreJournal reads ext3/ext4 volumes without replaying a journal
	// that needs recovery.
	IgnoreJournal bool
}

// Volume is one volume of the image and the file system grain found on it.
type Volume struct {
	*volume.Volume
	// Kind is what the volume's first sectors say it holds.
	Kind probe.Kind
	// FS is the opened file system, nil when there is none grain reads.
	FS fsys.FS
	// Err says why FS is nil.
	Err error
}

// Image is an opened disk image: its volumes as one tree.
type Image struct {
	disk    *vdisk.Disk // nil for images made by New
	table   *volume.Table
	volumes []*Volume
}

// Open opens the image file at path (and its parents), read-only.
func Open(path string, opts *Options) (*Image, error) {
	if opts == nil {
		opts = &Options{}
	}
	d, err := vdisk.Open(path, &opts.Options)
	if err != nil {
		return nil, err
	}
	img, err := newImage(d, d.Size(), d.SectorSize(), probe.Options{IgnoreJournal: opts.IgnoreJournal})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img.disk = d
	return img, nil
}

// New reads the volumes of a virtual disk given as an io.ReaderAt.
func New(disk io.ReaderAt, size int64, sectorSize int) (*Image, error) {
	return newImage(disk, size, sectorSize, probe.Options{})
}

func newImage(disk io.ReaderAt, size int64, sectorSize int, popts probe.Options) (*Image, error) {
	t, err := volume.Read(disk, size, sectorSize)
	if err != nil {
		return nil, err
	}
	img := &Image{table: t}
	for _, v := range t.Volumes {
		gv := &Volume{Volume: v}
		switch {
		case v.Unsupported != "":
			gv.Err = fmt.Errorf("guest: volume %s: %s", v.Name, v.Unsupported)
		case v.ReaderAt == nil:
			gv.Err = fmt.Errorf("guest: volume %s: not readable", v.Name)
		default:
			gv.FS, gv.Kind, gv.Err = probe.OpenWith(v.ReaderAt, v.Size, popts)
			if gv.Err != nil {
				gv.Err = fmt.Errorf("guest: volume %s: %w", v.Name, gv.Err)
			}
		}
		img.volumes = append(img.volumes, gv)
	}
	return img, nil
}

// Disk is the virtual disk, nil for images made by New.
func (img *Image) Disk() *vdisk.Disk { return img.disk }

// Table is the partition table and volume manager view of the disk.
func (img *Image) Table() *volume.Table { return img.table }

// Volumes lists the volumes in disk order.
func (img *Image) Volumes() []*Volume { return img.volumes }

// Close closes the image files.
func (img *Image) Close() error {
	if img.disk != nil {
		return img.disk.Close()
	}
	return nil
}

// split resolves a path of the tree to its volume and the path inside it.
// The root itself gives a nil volume.
func (img *Image) split(op, name string) (*Volume, string, error) {
	if !fs.ValidPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, ".", nil
	}
	first, rest, _ := strings.Cut(name, "/")
	if rest == "" {
		rest = "."
	}
	for _, v := range img.volumes {
		if v.Name == first {
			return v, rest, nil
		}
	}
	for _, v := range img.volumes {
		if strings.EqualFold(v.Name, first) {
			return v, rest, nil
		}
	}
	return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// wrap puts the full path back into a volume's error.
func wrap(err error, op, name string) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open opens a file or directory of the tree.
func (img *Image) Open(name string) (fs.File, error) {
	v, rest, err := img.split("open", name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return fsys.NewDirFile(rootInfo{}, img.rootEntries()), nil
	}
	if v.FS == nil {
		if rest != "." {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return fsys.NewDirFile(volumeInfo{v}, nil), nil
	}
	f, err := v.FS.Open(rest)
	if err != nil {
		return nil, wrap(err, "open", name)
	}
	if rest == "." {
		return &volumeRoot{File: f, v: v}, nil
	}
	return f, nil
}

// ReadDir lists a directory of the tree, sorted by name.
func (img *Image) ReadDir(name string) ([]fs.DirEntry, error) {
	v, rest, err := img.split("readdir", name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return img.rootEntries(), nil
	}
	if v.FS == nil {
		if rest != "." {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
		}
		return nil, nil
	}
	des, err := v.FS.ReadDir(rest)
	return des, wrap(err, "readdir", name)
}

// Stat describes a file of the tree.
func (img *Image) Stat(name string) (fs.FileInfo, error) {
	v, rest, err := img.split("stat", name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return rootInfo{}, nil
	}
	if rest == "." {
		return volumeInfo{v}, nil
	}
	if v.FS == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	fi, err := v.FS.Stat(rest)
	return fi, wrap(err, "stat", name)
}

// Lstat describes a file without following a final symbolic link.
func (img *Image) Lstat(name string) (fs.FileInfo, error) {
	v, rest, err := img.split("lstat", name)
	if err != nil {
		return nil, err
	}
	if v == nil || rest == "." {
		return img.Stat(name)
	}
	if v.FS == nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	fi, err := v.FS.Lstat(rest)
	return fi, wrap(err, "lstat", name)
}

// ReadLink returns the target of a symbolic link.
func (img *Image) ReadLink(name string) (string, error) {
	v, rest, err := img.split("readlink", name)
	if err != nil {
		return "", err
	}
	if v == nil || rest == "." || v.FS == nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := v.FS.ReadLink(rest)
	return t, wrap(err, "readlink", name)
}

// OpenStream opens a named data stream of a file (NTFS).
func (img *Image) OpenStream(name, stream string) (fsys.File, error) {
	v, rest, err := img.split("open", name)
	if err != nil {
		return nil, err
	}
	if v == nil || v.FS == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	sfs, ok := v.FS.(fsys.StreamFS)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name + ":" + stream, Err: fmt.Errorf("%s has no named streams", v.FS.Type())}
	}
	f, err := sfs.OpenStream(rest, stream)
	return f, wrap(err, "open", name+":"+stream)
}

// OpenInfo opens the file an info from Walk, Stat or Lstat describes,
// without a path look-up where the volume's driver can do that
// (fsys.InfoOpener); otherwise it opens name.
func (img *Image) OpenInfo(name string, info fs.FileInfo) (fsys.File, error) {
	v, rest, err := img.split("open", name)
	if err != nil {
		return nil, err
	}
	if v != nil && v.FS != nil && rest != "." {
		if o, ok := v.FS.(fsys.InfoOpener); ok {
			f, err := o.OpenInfo(rest, info)
			return f, wrap(err, "open", name)
		}
	}
	f, err := img.Open(name)
	if err != nil {
		return nil, err
	}
	ff, ok := f.(fsys.File)
	if !ok {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("not a regular file")}
	}
	return ff, nil
}

// Walk calls fn for root and everything below it, a directory before its
// entries; volumes whose driver has a fast whole-tree walk use it.
func (img *Image) Walk(root string, fn func(p string, info fs.FileInfo) error) error {
	return img.walk(root, fn, nil)
}

// WalkDir is Walk with fs.DirEntry values: on volumes whose driver lists
// names and types without reading each file's metadata (fsys.DirWalkFS),
// an entry's Info is read only when asked for.
func (img *Image) WalkDir(root string, fn func(p string, d fs.DirEntry) error) error {
	return img.walk(root, nil, fn)
}

// walk is Walk (fnInfo) or WalkDir (fnDir), whichever is not nil.
func (img *Image) walk(root string, fnInfo func(string, fs.FileInfo) error, fnDir func(string, fs.DirEntry) error) error {
	if fnInfo == nil {
		fnInfo = func(p string, info fs.FileInfo) error { return fnDir(p, fs.FileInfoToDirEntry(info)) }
	}
	v, rest, err := img.split("walk", root)
	if err != nil {
		return err
	}
	if v == nil {
		if err := fnInfo(".", rootInfo{}); err != nil {
			if err == fs.SkipDir {
				return nil
			}
			return err
		}
		for _, v := range img.volumes {
			if err := img.walkVolume(v, ".", fnInfo, fnDir); err != nil {
				return err
			}
		}
		return nil
	}
	return img.walkVolume(v, rest, fnInfo, fnDir)
}

func (img *Image) walkVolume(v *Volume, rest string, fnInfo func(string, fs.FileInfo) error, fnDir func(string, fs.DirEntry) error) error {
	prefix := v.Name
	var paths pathArena
	full := func(p string) string {
		if p == "." {
			return prefix
		}
		return paths.join(prefix, p)
	}
	if v.FS == nil {
		if rest != "." {
			return &fs.PathError{Op: "walk", Path: full(rest), Err: fs.ErrNotExist}
		}
		if err := fnInfo(prefix, volumeInfo{v}); err != nil && err != fs.SkipDir {
			return err
		}
		return nil
	}
	call := func(p string, info fs.FileInfo) error {
		if p == "." {
			info = volumeInfo{v}
		}
		return fnInfo(full(p), info)
	}
	if w, ok := v.FS.(fsys.DirWalkFS); ok && fnDir != nil {
		return w.WalkDir(rest, func(p string, d fs.DirEntry) error {
			if p == "." {
				return fnInfo(prefix, volumeInfo{v})
			}
			return fnDir(full(p), d)
		})
	}
	if w, ok := v.FS.(fsys.WalkFS); ok {
		return w.Walk(rest, call)
	}
	return fs.WalkDir(v.FS, rest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return call(p, info)
	})
}

// rootInfo describes the tree's root.
func (img *Image) rootEntries() []fs.DirEntry {
	des := make([]fs.DirEntry, 0, len(img.volumes))
	for _, v := range img.volumes {
		des = append(des, fs.FileInfoToDirEntry(volumeInfo{v}))
	}
	return des
}

type rootInfo struct{}

func (rootInfo) Name() string       { return "." }
func (rootInfo) Size() int64        { return 0 }
func (rootInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (rootInfo) ModTime() time.Time { return time.Time{} }
func (rootInfo) IsDir() bool        { return true }
func (rootInfo) Sys() any           { return nil }

// volumeInfo describes a volume's directory.
type volumeInfo struct{ v *Volume }

func (i volumeInfo) Name() string      { return i.v.Name }
func (i volumeInfo) Size() int64       { return 0 }
func (i volumeInfo) Mode() fs.FileMode { return fs.ModeDir | 0o555 }
func (i volumeInfo) ModTime() time.Time {
	if i.v.FS != nil {
		if fi, err := i.v.FS.Stat("."); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}
func (i volumeInfo) IsDir() bool { return true }
func (i volumeInfo) Sys() any    { return i.v }

// volumeRoot is a volume's root directory opened through its driver,
// named as the volume.
type volumeRoot struct {
	fs.File
	v *Volume
}

func (r *volumeRoot) Stat() (fs.FileInfo, error) { return volumeInfo{r.v}, nil }

func (r *volumeRoot) ReadDir(n int) ([]fs.DirEntry, error) {
	d, ok := r.File.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: r.v.Name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(n)
}

// pathArena joins a walk's full paths into large shared buffers instead of
// allocating each: a volume lists hundreds of thousands of entries. Bytes
// once handed out as a string are never written again (only appended
// after), so the strings stay immutable; a kept string keeps its buffer.
type pathArena struct{ buf []byte }

func (a *pathArena) join(prefix, p string) string {
	n := len(prefix) + 1 + len(p)
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(64<<10, n))
	}
	start := len(a.buf)
	a.buf = append(a.buf, prefix...)
	a.buf = append(a.buf, '/')
	a.buf = append(a.buf, p...)
	return unsafe.String(&a.buf[start], n)
}
