package ntfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/grainvm/grain/fsys"
)

var (
	_ fsys.FS       = (*FS)(nil)
	_ fsys.StreamFS = (*FS)(nil)
	_ fsys.WalkFS   = (*FS)(nil)
)

// Type returns "ntfs".
func (v *FS) Type() string { return "ntfs" }

// Label returns the volume label from $Volume.
func (v *FS) Label() string { return v.label }

// ID returns the volume serial number as Windows prints it (XXXX-XXXX).
func (v *FS) ID() string { return serialString(v.boot.SerialNumber) }

// Serial returns the full 64-bit volume serial number.
func (v *FS) Serial() uint64 { return v.boot.SerialNumber }

// Usage returns the volume size and the bytes in use, counted from $Bitmap.
func (v *FS) Usage() (total, used int64, ok bool) {
	total = v.clusters * v.boot.ClusterSize
	v.usageOnce.Do(func() {
		ino, err := v.inode(recBitmap)
		if err != nil {
			return
		}
		s, err := ino.stream(attrData, "")
		if err != nil {
			return
		}
		need := (v.clusters + 7) / 8
		if s.size < need {
			return
		}
		buf := make([]byte, 1<<20)
		var n int64
		for off := int64(0); off < need; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), need-off)]
			if _, err := s.ReadAt(b, off); err != nil {
				return
			}
			if off+int64(len(b)) == need && v.clusters%8 != 0 {
				b[len(b)-1] &= byte(1<<(v.clusters%8)) - 1
			}
			for _, x := range b {
				n += int64(bits.OnesCount8(x))
			}
		}
		v.used, v.usageOK = n*v.boot.ClusterSize, true
	})
	return total, v.used, v.usageOK
}

// hiddenInRoot says whether a root entry is an NTFS metadata file, hidden
// from listings as Windows hides it (reachable by its exact name).
func hiddenInRoot(ref fileRef) bool { return ref.record() < firstUserRecord }

// child is one listed directory entry.
type child struct {
	ref  fileRef
	name string // as stored
	ns   uint8
}

// children lists a directory's entries: DOS names hidden where the file
// has another name here, metadata files hidden in the root.
func (v *FS) children(dir *inode) ([]child, error) {
	ix, err := v.openIndex(dir)
	if err != nil {
		return nil, err
	}
	var out []child
	long := map[uint64]bool{}
	err = ix.walk(func(e *indexEntry) error {
		r := e.Ref.record()
		if r == dir.num || dir.num == recRoot && hiddenInRoot(e.Ref) {
			return nil
		}
		if e.Key.Namespace != nsDOS {
			long[r] = true
		}
		out = append(out, child{ref: e.Ref, name: e.Key.Name, ns: e.Key.Namespace})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(c child) bool { return c.ns == nsDOS && long[c.ref.record()] })
	return out, nil
}

// childInode loads the file an index entry references, checking the
// sequence number so stale entries are not followed.
func (v *FS) childInode(ref fileRef) (*inode, error) {
	ino, err := v.inode(ref.record())
	if err != nil {
		return nil, err
	}
	if ref.seq() != 0 && ino.seq != ref.seq() {
		return nil, formatErr(fmt.Sprintf("MFT record %d", ref.record()), "sequence %d, index entry expects %d (stale entry)", ino.seq, ref.seq())
	}
	return ino, nil
}

// unescape reverses fsys.SafeName for look-ups.
func unescape(name string) string {
	switch name {
	case "%00":
		return ""
	case "%2E":
		return "."
	case "%2E%2E":
		return ".."
	}
	return strings.NewReplacer("%2F", "/", "%00", "\x00").Replace(name)
}

// lookup finds name in directory dir.
func (v *FS) lookup(dir *inode, name string) (*inode, error) {
	ix, err := v.openIndex(dir)
	if err != nil {
		return nil, err
	}
	try := []string{name}
	if u := unescape(name); u != name {
		try = append(try, u)
	}
	for _, n := range try {
		found, err := ix.lookup(utf16.Encode([]rune(n)))
		if err != nil {
			return nil, err
		}
		for _, e := range found {
			if dir.num == recRoot && e.Ref.record() == recRoot {
				continue
			}
			return v.childInode(e.Ref)
		}
	}
	return nil, fs.ErrNotExist
}

// resolve finds the file at an fs.FS path (links are not followed).
func (v *FS) resolve(op, name string) (*inode, string, error) {
	if !fs.ValidPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	ino, err := v.inode(recRoot)
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if name == "." {
		return ino, ".", nil
	}
	elems := strings.Split(name, "/")
	for i, el := range elems {
		if !ino.isDir() {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s is not a directory: %w", strings.Join(elems[:i], "/"), fs.ErrNotExist)}
		}
		if i > 0 && v.isLinkInode(ino) {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s is a link (not followed): %w", strings.Join(elems[:i], "/"), fs.ErrNotExist)}
		}
		next, err := v.lookup(ino, el)
		if err != nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
		}
		ino = next
	}
	return ino, elems[len(elems)-1], nil
}

func (v *FS) isLinkInode(ino *inode) bool {
	b, ok := ino.value(attrReparsePoint, "", 16<<10)
	if !ok {
		return false
	}
	rp, ok := parseReparse(b)
	return ok && rp.isLink()
}

// Stat returns the file's information. Links are not followed (an NTFS
// link target is a Windows path that may lie outside the volume).
func (v *FS) Stat(name string) (fs.FileInfo, error) {
	ino, base, err := v.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	return v.makeInfo(ino, base), nil
}

// Lstat is Stat: links are never followed.
func (v *FS) Lstat(name string) (fs.FileInfo, error) {
	ino, base, err := v.resolve("lstat", name)
	if err != nil {
		return nil, err
	}
	return v.makeInfo(ino, base), nil
}

// ReadLink returns the target of a symbolic link, junction or mount point
// as Windows shows it (the reparse point's print name).
func (v *FS) ReadLink(name string) (string, error) {
	ino, base, err := v.resolve("readlink", name)
	if err != nil {
		return "", err
	}
	fi := v.makeInfo(ino, base)
	if fi.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errors.New("not a symbolic link")}
	}
	return fi.meta.LinkTarget, nil
}

// ReadDir lists a directory, sorted by name.
func (v *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ino, _, err := v.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if !ino.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := v.dirEntries(ino)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// dirEntries lists a directory with each entry's information.
func (v *FS) dirEntries(dir *inode) ([]fs.DirEntry, error) {
	kids, err := v.children(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(kids))
	for _, c := range kids {
		ino, err := v.childInode(c.ref)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", c.name, err)
		}
		out = append(out, dirEntry{v.makeInfo(ino, fsys.SafeName(c.name))})
	}
	return out, nil
}

// Open opens a file or directory. Links are not followed: opening one
// gives the link itself, with no content.
func (v *FS) Open(name string) (fs.File, error) {
	ino, base, err := v.resolve("open", name)
	if err != nil {
		return nil, err
	}
	return v.newFile(name, v.makeInfo(ino, base), nil), nil
}

// OpenStream opens the named data stream of the file at name.
func (v *FS) OpenStream(name, streamName string) (fsys.File, error) {
	ino, base, err := v.resolve("open", name)
	if err != nil {
		return nil, err
	}
	if streamName == "" {
		return v.newFile(name, v.makeInfo(ino, base), nil), nil
	}
	fi := v.makeInfo(ino, base)
	s, err := ino.stream(attrData, streamName)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name + ":" + streamName, Err: fs.ErrNotExist}
	}
	sfi := *fi
	sfi.name = base + ":" + streamName
	sfi.mode = 0o444
	sfi.size = s.size
	sfi.data = s
	sfi.wof = nil
	sfi.readErr = nil
	if fi.meta.Special == SpecialEncrypted {
		sfi.readErr = fi.readErr
	}
	if s.compUnit != 0 && v.lznt1 == nil {
		sfi.readErr = &unsupportedError{fmt.Sprintf("MFT record %d stream %q: LZNT1 decompressor not available", ino.num, streamName)}
	}
	m := *fi.meta
	m.Size, m.Allocated, m.Extents, m.Compressed = s.size, s.allocated(), extentsOf(s, v.boot.ClusterSize), s.compUnit != 0
	sfi.meta = &m
	return v.newFile(name+":"+streamName, &sfi, s), nil
}
