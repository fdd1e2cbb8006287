package xfs

import (
	"fmt"

	"github.com/grainvm/grain/fsys"
)

// dirLeafOffset is XFS_DIR2_LEAF_OFFSET: directory data blocks live below
// 32 GiB of the directory's address space; leaf, node and free-index
// blocks above it.
const dirLeafOffset = 32 << 30

// dent is one directory entry.
type dent struct {
	ino   uint64
	ftype uint8
}

// dirIndex is a directory's entries by (safe) name, and the names sorted.
type dirIndex struct {
	byName map[string]dent
	names  []string
}

// dirIndex returns the parsed entries of directory ip, through the cache.
func (f *FS) dirIndex(ip *inode) (*dirIndex, error) {
	if d, ok := f.dirs.Get(ip.ino); ok {
		return d, nil
	}
	d, err := f.parseDirIndex(ip)
	if err != nil {
		return nil, err
	}
	f.dirs.Put(ip.ino, d, len(d.names))
	return d, nil
}

// parseDirIndex parses directory ip, uncached (a walk reads each once).
func (f *FS) parseDirIndex(ip *inode) (*dirIndex, error) {
	d := &dirIndex{byName: map[string]dent{}}
	add := func(name []byte, ino uint64, ftype uint8) error {
		if len(d.byName) >= maxDirEntries {
			return fmt.Errorf("%w: directory %d: more than %d entries", ErrFormat, ip.ino, maxDirEntries)
		}
		if ino == 0 {
			return fmt.Errorf("%w: directory %d: entry %q with inode 0", ErrFormat, ip.ino, name)
		}
		n := fsys.SafeName(string(name))
		if _, dup := d.byName[n]; dup {
			f.warn(fmt.Sprintf("directory %d: duplicate entry %q", ip.ino, n))
			return nil
		}
		if !f.ftype {
			ftype = 0
		}
		d.byName[n] = dent{ino: ino, ftype: ftype}
		return nil
	}
	var err error
	switch ip.format {
	case fmtLocal:
		err = f.parseShortformDir(ip, add)
	case fmtExtents, fmtBtree:
		err = f.parseBlockDir(ip, add)
	default:
		err = fmt.Errorf("%w: directory %d: fork format %d", ErrFormat, ip.ino, ip.format)
	}
	if err != nil {
		return nil, err
	}
	d.names = sortedKeys(d.byName)
	return d, nil
}

// parseShortformDir reads a short-form directory (xfs_dir2_sf_hdr and its
// entries) from the inode's data fork.
func (f *FS) parseShortformDir(ip *inode, add func([]byte, uint64, uint8) error) error {
	b := ip.dataFork
	if int64(len(b)) > ip.rawSize {
		b = b[:ip.rawSize]
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: directory %d (short form): "+format, append([]any{ErrFormat, ip.ino}, args...)...)
	}
	if len(b) < 6 {
		return bad("header does not fit (%d bytes)", len(b))
	}
	count, i8count := int(b[0]), int(b[1])
	inoSize := 4
	if i8count > 0 {
		inoSize = 8
		count = i8count
	}
	pos := 2 + inoSize
	if pos > len(b) {
		return bad("header does not fit")
	}
	for i := 0; i < count; i++ {
		if pos+3 > len(b) {
			return bad("entry %d beyond the fork", i)
		}
		nameLen := int(b[pos])
		pos += 3 // namelen, offset[2]
		need := nameLen + inoSize
		if f.ftype {
			need++
		}
		if nameLen == 0 || pos+need > len(b) {
			return bad("entry %d (name of %d bytes) beyond the fork", i, nameLen)
		}
		name := b[pos : pos+nameLen]
		pos += nameLen
		var ft uint8
		if f.ftype {
			ft = b[pos]
			pos++
		}
		var ino uint64
		if inoSize == 8 {
			ino = be.Uint64(b[pos:])
		} else {
			ino = uint64(be.Uint32(b[pos:]))
		}
		pos += inoSize
		if err := add(name, ino, ft); err != nil {
			return err
		}
	}
	return nil
}

// parseBlockDir reads the data blocks of a block, leaf, node or B+tree
// directory (everything below dirLeafOffset).
func (f *FS) parseBlockDir(ip *inode, add func([]byte, uint64, uint8) error) error {
	exts, err := f.dataExtents(ip)
	if err != nil {
		return err
	}
	fsbPerDirBlk := uint64(f.dirbs / f.bs)
	leafBlk := uint64(dirLeafOffset / f.bs)
	buf := make([]byte, f.dirbs)
	for _, e := range exts {
		if e.startoff >= leafBlk {
			break
		}
		if e.unwritten {
			continue
		}
		end := e.startoff + e.count
		if end > leafBlk {
			end = leafBlk
		}
		// Directory blocks are aligned to fsbPerDirBlk in the directory's
		// address space; a directory block may span extents.
		// One that starts in an earlier extent was read there.
		first := (e.startoff + fsbPerDirBlk - 1) / fsbPerDirBlk * fsbPerDirBlk
		for lb := first; lb < end; lb += fsbPerDirBlk {
			what := fmt.Sprintf("directory %d block %d", ip.ino, lb)
			if err := f.readFork(exts, buf, int64(lb)*f.bs, what); err != nil {
				return err
			}
			if err := f.parseDirDataBlock(ip, buf, what, add); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseDirDataBlock reads the entries of one directory data block
// (XD2B/XDB3 block-format or XD2D/XDD3 data block).
func (f *FS) parseDirDataBlock(ip *inode, b []byte, what string, add func([]byte, uint64, uint8) error) error {
	magic := be.Uint32(b)
	hdr := 16
	end := len(b)
	isBlock := false
	switch magic {
	case dir2BlockMagic, dir2DataMagic:
		if f.crc {
			return fmt.Errorf("%w: %s: v4 magic %#08x on a v5 volume", ErrFormat, what, magic)
		}
		isBlock = magic == dir2BlockMagic
	case dir3BlockMagic, dir3DataMagic:
		if !f.crc {
			return fmt.Errorf("%w: %s: v5 magic %#08x on a v4 volume", ErrFormat, what, magic)
		}
		hdr = 64
		isBlock = magic == dir3BlockMagic
		f.checkCRC(b, 4, what)
		if owner := be.Uint64(b[40:]); owner != ip.ino {
			f.warn(fmt.Sprintf("%s: owner %d", what, owner))
		}
	default:
		return fmt.Errorf("%w: %s: bad magic %#08x", ErrFormat, what, magic)
	}
	if isBlock {
		// xfs_dir2_block_tail at the end, after count leaf entries.
		count := int64(be.Uint32(b[len(b)-8:]))
		lim := int64(len(b)-8-hdr) / 8
		if count > lim {
			return fmt.Errorf("%w: %s: %d leaf entries in the block tail", ErrFormat, what, count)
		}
		end = len(b) - 8 - int(count)*8
	}
	pos := hdr
	for pos < end {
		if pos+8 > end {
			return fmt.Errorf("%w: %s: entry at %d runs past the data", ErrFormat, what, pos)
		}
		if be.Uint16(b[pos:]) == 0xffff {
			// xfs_dir2_data_unused: freetag, length.
			l := int(be.Uint16(b[pos+2:]))
			if l < 8 || l%8 != 0 || pos+l > end {
				return fmt.Errorf("%w: %s: free space of %d bytes at %d", ErrFormat, what, l, pos)
			}
			pos += l
			continue
		}
		if pos+11 > end {
			return fmt.Errorf("%w: %s: entry at %d runs past the data", ErrFormat, what, pos)
		}
		ino := be.Uint64(b[pos:])
		nameLen := int(b[pos+8])
		size := 8 + 1 + nameLen + 2
		if f.ftype {
			size++
		}
		size = (size + 7) &^ 7
		if nameLen == 0 || pos+size > end {
			return fmt.Errorf("%w: %s: entry at %d (name of %d bytes) runs past the data", ErrFormat, what, pos, nameLen)
		}
		name := b[pos+9 : pos+9+nameLen]
		var ft uint8
		if f.ftype {
			ft = b[pos+9+nameLen]
		}
		pos += size
		if (nameLen == 1 && name[0] == '.') || (nameLen == 2 && name[0] == '.' && name[1] == '.') {
			continue
		}
		if err := add(name, ino, ft); err != nil {
			return err
		}
	}
	return nil
}
