package xfs

import (
	"fmt"
	"sort"

	"github.com/grainvm/grain/fsys"
)

// Attribute entry flags (XFS_ATTR_*).
const (
	attrLocal      = 1 << 0
	attrRoot       = 1 << 1 // trusted.
	attrSecure     = 1 << 2 // security.
	attrParent     = 1 << 3 // parent pointer, not a user-visible attribute
	attrIncomplete = 1 << 7
)

// maxXattrValue is XATTR_SIZE_MAX.
const maxXattrValue = 65536

// maxAttrBlocks bounds the attribute leaf blocks followed for one inode.
const maxAttrBlocks = 1 << 16

func xattrName(flags uint8, name []byte) (string, bool) {
	if flags&(attrIncomplete|attrParent) != 0 {
		return "", false
	}
	switch {
	case flags&attrRoot != 0:
		return "trusted." + string(name), true
	case flags&attrSecure != 0:
		return "security." + string(name), true
	}
	return "user." + string(name), true
}

// xattrs lists the extended attributes of ip, sorted by name.
func (f *FS) xattrs(ip *inode) ([]fsys.Xattr, error) {
	if ip.attrFork == nil {
		return nil, nil
	}
	var out []fsys.Xattr
	var err error
	switch ip.aformat {
	case fmtLocal:
		out, err = f.shortformAttrs(ip)
	case fmtExtents, fmtBtree:
		if ip.anextents == 0 && ip.aformat == fmtExtents {
			return nil, nil
		}
		out, err = f.leafAttrs(ip)
	default:
		err = fmt.Errorf("%w: inode %d: attribute fork format %d", ErrFormat, ip.ino, ip.aformat)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// shortformAttrs reads xfs_attr_sf_hdr and its entries.
func (f *FS) shortformAttrs(ip *inode) ([]fsys.Xattr, error) {
	b := ip.attrFork
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: inode %d short-form attributes: "+format, append([]any{ErrFormat, ip.ino}, args...)...)
	}
	if len(b) < 4 {
		return nil, bad("header does not fit")
	}
	tot := int(be.Uint16(b))
	count := int(b[2])
	if tot < 4 || tot > len(b) {
		return nil, bad("total size %d in a %d-byte fork", tot, len(b))
	}
	b = b[:tot]
	pos := 4
	var out []fsys.Xattr
	for i := 0; i < count; i++ {
		if pos+3 > len(b) {
			return nil, bad("entry %d beyond the fork", i)
		}
		nl, vl, fl := int(b[pos]), int(b[pos+1]), b[pos+2]
		if pos+3+nl+vl > len(b) {
			return nil, bad("entry %d (%d+%d bytes) beyond the fork", i, nl, vl)
		}
		name := b[pos+3 : pos+3+nl]
		val := b[pos+3+nl : pos+3+nl+vl]
		pos += 3 + nl + vl
		if n, ok := xattrName(fl, name); ok {
			out = append(out, fsys.Xattr{Name: n, Value: append([]byte{}, val...)})
		}
	}
	return out, nil
}

// leafAttrs reads attributes held in leaf blocks of the attribute fork,
// descending from a node block if there is one.
func (f *FS) leafAttrs(ip *inode) ([]fsys.Xattr, error) {
	exts, err := f.attrExtents(ip)
	if err != nil {
		return nil, err
	}
	m := fileMap(exts)
	what := fmt.Sprintf("inode %d attributes", ip.ino)
	read := func(lblk uint64) ([]byte, error) {
		b := make([]byte, f.bs)
		if _, ok := m.lookup(lblk); !ok {
			return nil, fmt.Errorf("%w: %s: block %d is not mapped", ErrFormat, what, lblk)
		}
		if err := f.readFork(m, b, int64(lblk)*f.bs, what); err != nil {
			return nil, err
		}
		return b, nil
	}
	visited := map[uint64]bool{}
	// Descend along the first pointers of node blocks to the leftmost leaf.
	lblk := uint64(0)
	var b []byte
	for depth := 0; ; depth++ {
		if depth > 8 || visited[lblk] {
			return nil, fmt.Errorf("%w: %s: node blocks loop or nest too deep", ErrFormat, what)
		}
		visited[lblk] = true
		if b, err = read(lblk); err != nil {
			return nil, err
		}
		magic := be.Uint16(b[8:])
		if magic == attrLeafMagic || magic == attr3LeafMagic {
			break
		}
		hdr := 16
		switch magic {
		case daNodeMagic:
			if f.crc {
				return nil, fmt.Errorf("%w: %s: v4 node magic on a v5 volume", ErrFormat, what)
			}
		case da3NodeMagic:
			if !f.crc {
				return nil, fmt.Errorf("%w: %s: v5 node magic on a v4 volume", ErrFormat, what)
			}
			hdr = 64
			f.checkCRC(b, 12, fmt.Sprintf("%s: node block %d", what, lblk))
		default:
			return nil, fmt.Errorf("%w: %s: block %d: bad magic %#04x", ErrFormat, what, lblk, magic)
		}
		cnt := int(be.Uint16(b[hdr-4-boolInt(f.crc)*4:]))
		if cnt == 0 || hdr+cnt*8 > len(b) {
			return nil, fmt.Errorf("%w: %s: node block %d with %d entries", ErrFormat, what, lblk, cnt)
		}
		lblk = uint64(be.Uint32(b[hdr+4:]))
	}
	var out []fsys.Xattr
	clear(visited)
	for n := 0; ; n++ {
		if n > maxAttrBlocks {
			return nil, fmt.Errorf("%w: %s: too many leaf blocks", ErrFormat, what)
		}
		visited[lblk] = true
		xs, forw, err := f.parseAttrLeaf(ip, m, b, lblk, what)
		if err != nil {
			return nil, err
		}
		out = append(out, xs...)
		if forw == 0 {
			break
		}
		if visited[forw] {
			return nil, fmt.Errorf("%w: %s: leaf blocks loop at %d", ErrFormat, what, forw)
		}
		lblk = forw
		if b, err = read(lblk); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseAttrLeaf reads one attribute leaf block; forw is the next leaf.
func (f *FS) parseAttrLeaf(ip *inode, m fileMap, b []byte, lblk uint64, what string) ([]fsys.Xattr, uint64, error) {
	where := fmt.Sprintf("%s: leaf block %d", what, lblk)
	magic := be.Uint16(b[8:])
	hdr := 32
	countOff := 12
	if magic == attr3LeafMagic {
		if !f.crc {
			return nil, 0, fmt.Errorf("%w: %s: v5 magic on a v4 volume", ErrFormat, where)
		}
		hdr, countOff = 80, 56
		f.checkCRC(b, 12, where)
	} else if magic != attrLeafMagic || f.crc {
		return nil, 0, fmt.Errorf("%w: %s: bad magic %#04x", ErrFormat, where, magic)
	}
	forw := uint64(be.Uint32(b))
	count := int(be.Uint16(b[countOff:]))
	if hdr+count*8 > len(b) {
		return nil, 0, fmt.Errorf("%w: %s: %d entries do not fit", ErrFormat, where, count)
	}
	var out []fsys.Xattr
	for i := 0; i < count; i++ {
		e := b[hdr+i*8:]
		idx := int(be.Uint16(e[4:]))
		fl := e[6]
		if idx < hdr || idx >= len(b) {
			return nil, 0, fmt.Errorf("%w: %s: entry %d name at %d", ErrFormat, where, i, idx)
		}
		nb := b[idx:]
		if fl&attrLocal != 0 {
			if len(nb) < 3 {
				return nil, 0, fmt.Errorf("%w: %s: entry %d beyond the block", ErrFormat, where, i)
			}
			vl, nl := int(be.Uint16(nb)), int(nb[2])
			if 3+nl+vl > len(nb) {
				return nil, 0, fmt.Errorf("%w: %s: entry %d (%d+%d bytes) beyond the block", ErrFormat, where, i, nl, vl)
			}
			if n, ok := xattrName(fl, nb[3:3+nl]); ok {
				out = append(out, fsys.Xattr{Name: n, Value: append([]byte{}, nb[3+nl:3+nl+vl]...)})
			}
			continue
		}
		if len(nb) < 9 {
			return nil, 0, fmt.Errorf("%w: %s: entry %d beyond the block", ErrFormat, where, i)
		}
		vblk, vl, nl := uint64(be.Uint32(nb)), int64(be.Uint32(nb[4:])), int(nb[8])
		if 9+nl > len(nb) {
			return nil, 0, fmt.Errorf("%w: %s: entry %d name beyond the block", ErrFormat, where, i)
		}
		n, ok := xattrName(fl, nb[9:9+nl])
		if !ok {
			continue
		}
		val, err := f.remoteAttrValue(ip, m, vblk, vl, where)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, fsys.Xattr{Name: n, Value: val})
	}
	return out, forw, nil
}

// remoteAttrValue reads a value kept in its own blocks of the attribute
// fork (with an XARM header per block on v5).
func (f *FS) remoteAttrValue(ip *inode, m fileMap, vblk uint64, vl int64, where string) ([]byte, error) {
	if vl < 0 || vl > maxXattrValue {
		return nil, fmt.Errorf("%w: %s: remote value of %d bytes", ErrFormat, where, vl)
	}
	out := make([]byte, 0, vl)
	b := make([]byte, f.bs)
	for blk := vblk; int64(len(out)) < vl; blk++ {
		if blk-vblk > maxXattrValue/256+1 {
			return nil, fmt.Errorf("%w: %s: remote value too long", ErrFormat, where)
		}
		if _, ok := m.lookup(blk); !ok {
			return nil, fmt.Errorf("%w: %s: remote value block %d not mapped", ErrFormat, where, blk)
		}
		if err := f.readFork(m, b, int64(blk)*f.bs, where); err != nil {
			return nil, err
		}
		data := b
		if f.crc {
			if be.Uint32(b) != attr3RmtMagic {
				return nil, fmt.Errorf("%w: %s: remote value block %d: bad magic %#08x", ErrFormat, where, blk, be.Uint32(b))
			}
			f.checkCRC(b, 12, fmt.Sprintf("%s: remote value block %d", where, blk))
			off, cnt := int64(be.Uint32(b[4:])), int(be.Uint32(b[8:]))
			if off != int64(len(out)) || cnt <= 0 || cnt > len(b)-56 {
				return nil, fmt.Errorf("%w: %s: remote value block %d header (offset %d, %d bytes)", ErrFormat, where, blk, off, cnt)
			}
			data = b[56 : 56+cnt]
		}
		if rest := vl - int64(len(out)); int64(len(data)) > rest {
			data = data[:rest]
		}
		out = append(out, data...)
	}
	return out, nil
}
