package ext4

import (
	"encoding/binary"
	"fmt"

	"github.com/grainvm/grain/fsys"
)

const (
	xattrMagic      = 0xEA020000
	xattrHdrSize    = 32 // struct ext4_xattr_header
	xattrEntrySize  = 16 // struct ext4_xattr_entry without the name
	maxXattrValue   = 64 << 10
	maxEAInodeValue = 64 << 20
)

// xattrPrefixes maps e_name_index to the attribute name prefix.
var xattrPrefixes = map[uint8]string{
	1: "user.",
	2: "system.posix_acl_access",
	3: "system.posix_acl_default",
	4: "trusted.",
	6: "security.",
	7: "system.",
	8: "system.richacl",
}

// xattrEntry is struct ext4_xattr_entry, decoded.
type xattrEntry struct {
	NameLen    uint8  // e_name_len
	NameIndex  uint8  // e_name_index
	ValueOffs  uint16 // e_value_offs
	ValueInum  uint32 // e_value_inum
	ValueSize  uint32 // e_value_size
	Hash       uint32 // e_hash
	Name       string
	valueBytes []byte
}

// parseXattrEntries decodes the entry list in b[start:], whose values sit
// at e_value_offs from base (within b).
func parseXattrEntries(b []byte, start, base int, where string) ([]xattrEntry, error) {
	le := binary.LittleEndian
	var out []xattrEntry
	for off := start; ; {
		if off+4 > len(b) || le.Uint32(b[off:]) == 0 {
			break
		}
		if off+xattrEntrySize > len(b) {
			return out, fmt.Errorf("ext4: %s: xattr entry at %d runs past its area: %w", where, off, ErrFormat)
		}
		e := xattrEntry{
			NameLen:   b[off],
			NameIndex: b[off+1],
			ValueOffs: le.Uint16(b[off+2:]),
			ValueInum: le.Uint32(b[off+4:]),
			ValueSize: le.Uint32(b[off+8:]),
			Hash:      le.Uint32(b[off+12:]),
		}
		nameEnd := off + xattrEntrySize + int(e.NameLen)
		if nameEnd > len(b) {
			return out, fmt.Errorf("ext4: %s: xattr name at %d runs past its area: %w", where, off, ErrFormat)
		}
		e.Name = string(b[off+xattrEntrySize : nameEnd])
		if e.ValueInum == 0 {
			vs, ve := base+int(e.ValueOffs), base+int(e.ValueOffs)+int(e.ValueSize)
			if e.ValueSize > uint32(len(b)) || vs > len(b) || ve > len(b) {
				return out, fmt.Errorf("ext4: %s: xattr %q value %d+%d beyond its area: %w", where, e.Name, e.ValueOffs, e.ValueSize, ErrFormat)
			}
			e.valueBytes = b[vs:ve]
		}
		out = append(out, e)
		off = (nameEnd + 3) &^ 3
	}
	return out, nil
}

// rawXattrs lists the inode's extended attributes: those in the inode
// body first, then those in the external xattr block.
func (f *FS) rawXattrs(in *inode) ([]xattrEntry, error) {
	var all []xattrEntry
	if in.inlineXattr != nil {
		es, err := parseXattrEntries(in.inlineXattr, 4, 4, fmt.Sprintf("inode %d", in.Ino))
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
	}
	if in.FileACL != 0 {
		blk := in.FileACL
		b, err := f.block(blk)
		if err != nil {
			return all, fmt.Errorf("ext4: inode %d: xattr block: %w", in.Ino, err)
		}
		le := binary.LittleEndian
		if m := le.Uint32(b); m != xattrMagic {
			return all, fmt.Errorf("ext4: inode %d: xattr block %d: magic %#08x: %w", in.Ino, blk, m, ErrFormat)
		}
		if f.hasCsum {
			var nb [8]byte
			le.PutUint64(nb[:], blk)
			c := crc32c(f.csumSeed, nb[:])
			c = crc32c(c, b[:0x10])
			c = crc32c(c, []byte{0, 0, 0, 0})
			c = crc32c(c, b[0x14:])
			if want := le.Uint32(b[0x10:]); c != want {
				f.warnf("inode %d: xattr block %d: checksum %#08x, computed %#08x", in.Ino, blk, want, c)
			}
		}
		es, err := parseXattrEntries(b, xattrHdrSize, 0, fmt.Sprintf("inode %d: xattr block %d", in.Ino, blk))
		if err != nil {
			return all, err
		}
		all = append(all, es...)
	}
	return all, nil
}

// xattrValue returns an entry's value, reading it from its EA inode when
// the value lives there (ea_inode).
func (f *FS) xattrValue(in *inode, e *xattrEntry) ([]byte, error) {
	if e.ValueInum == 0 {
		return append([]byte(nil), e.valueBytes...), nil
	}
	if e.ValueSize > maxEAInodeValue {
		return nil, fmt.Errorf("ext4: inode %d: xattr %q: value of %d bytes too large: %w", in.Ino, e.Name, e.ValueSize, ErrFormat)
	}
	vi, err := f.inode(e.ValueInum)
	if err != nil {
		return nil, err
	}
	if vi.Flags&flagEAInode == 0 || vi.Size < int64(e.ValueSize) {
		return nil, fmt.Errorf("ext4: inode %d: xattr %q: inode %d is not its value inode: %w", in.Ino, e.Name, e.ValueInum, ErrFormat)
	}
	buf := make([]byte, e.ValueSize)
	r := &file{fs: f, in: vi}
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// xattrs returns the extended attributes as Linux names them, without
// system.data (the inline-data payload).
func (f *FS) xattrs(in *inode) ([]fsys.Xattr, error) {
	es, err := f.rawXattrs(in)
	var out []fsys.Xattr
	for i := range es {
		e := &es[i]
		prefix, ok := xattrPrefixes[e.NameIndex]
		if !ok {
			prefix = fmt.Sprintf("unknown%d.", e.NameIndex)
		}
		name := prefix + e.Name
		if name == "system.data" {
			continue
		}
		v, verr := f.xattrValue(in, e)
		if verr != nil {
			if err == nil {
				err = verr
			}
			continue
		}
		if e.NameIndex == 2 || e.NameIndex == 3 {
			if acl, ok := aclToXattr(v); ok {
				v = acl
			}
		}
		out = append(out, fsys.Xattr{Name: name, Value: v})
	}
	return out, err
}

// inlineDataXattr returns the system.data value (continuation of inline
// data beyond i_block).
func (f *FS) inlineDataXattr(in *inode) []byte {
	if in.inlineXattr == nil {
		return nil
	}
	es, _ := parseXattrEntries(in.inlineXattr, 4, 4, "")
	for _, e := range es {
		if e.NameIndex == 7 && e.Name == "data" && e.ValueInum == 0 {
			return e.valueBytes
		}
	}
	return nil
}

// aclToXattr converts ext4's compact POSIX ACL (ext4_acl_header version 1,
// 4-byte short entries) into the xattr format the kernel returns to
// getxattr (posix_acl_xattr version 2, 8-byte entries).
func aclToXattr(b []byte) ([]byte, bool) {
	le := binary.LittleEndian
	if len(b) < 4 || le.Uint32(b) != 1 {
		return nil, false
	}
	out := make([]byte, 4, 4+2*len(b))
	le.PutUint32(out, 2)
	for off := 4; off < len(b); {
		if off+4 > len(b) {
			return nil, false
		}
		tag, perm := le.Uint16(b[off:]), le.Uint16(b[off+2:])
		id := uint32(0xFFFFFFFF)
		switch tag {
		case 1, 4, 0x10, 0x20: // USER_OBJ, GROUP_OBJ, MASK, OTHER
			off += 4
		case 2, 8: // USER, GROUP
			if off+8 > len(b) {
				return nil, false
			}
			id = le.Uint32(b[off+4:])
			off += 8
		default:
			return nil, false
		}
		var e [8]byte
		le.PutUint16(e[0:], tag)
		le.PutUint16(e[2:], perm)
		le.PutUint32(e[4:], id)
		out = append(out, e[:]...)
	}
	return out, true
}
