package ext4

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"time"
)

// i_mode file types.
const (
	sIFMT   = 0xF000
	sIFSOCK = 0xC000
	sIFLNK  = 0xA000
	sIFREG  = 0x8000
	sIFBLK  = 0x6000
	sIFDIR  = 0x4000
	sIFCHR  = 0x2000
	sIFIFO  = 0x1000
)

// inode is struct ext4_inode as decoded by this driver (fields ordered
// for size: the walk holds one per listed name).
type inode struct {
	Ino        uint32
	Mode       uint16 // i_mode
	LinksCount uint16
	UID, GID   uint32 // i_uid | l_i_uid_high<<16
	Flags      uint32 // i_flags
	Generation uint32
	ExtraIsize uint16
	// csumBad is set when metadata_csum is on and the checksum failed.
	csumBad bool
	Size    int64  // i_size_lo | i_size_high<<32
	Blocks  uint64 // i_blocks_lo | l_i_blocks_high<<32, as stored
	FileACL uint64 // i_file_acl_lo | l_i_file_acl_high<<32
	// Times, kept compact and free of pointers (see ts).
	Atime, Ctime, Mtime ts
	Crtime              ts // zero when the inode has no room for it
	Block               [60]byte
	// inlineXattr is the in-inode extended attribute area (after the
	// fixed part and i_extra_isize), nil when there is none.
	inlineXattr []byte
}

func (i *inode) isDir() bool     { return i.Mode&sIFMT == sIFDIR }
func (i *inode) isSymlink() bool { return i.Mode&sIFMT == sIFLNK }
func (i *inode) isReg() bool     { return i.Mode&sIFMT == sIFREG }

// ts is an inode time: seconds and nanoseconds since 1970, UTC. The zero
// ts (set only for an absent crtime) is the zero time.Time.
type ts struct {
	sec  int64
	nsec int32
	set  bool
}

func (t ts) time() time.Time {
	if !t.set {
		return time.Time{}
	}
	return time.Unix(t.sec, int64(t.nsec)).UTC()
}

// decodeTime combines a 32-bit seconds field with its _extra field
// (2 epoch bits, 30 nanosecond bits), as the kernel does.
func decodeTime(sec uint32, extra uint32, hasExtra bool) ts {
	s := int64(int32(sec))
	var ns int64
	if hasExtra {
		s += int64(extra&3) << 32
		ns = int64(extra >> 2)
		if ns > 999999999 {
			ns = 999999999
		}
	}
	return ts{sec: s, nsec: int32(ns), set: true}
}

// parseInode decodes one on-disk inode of the volume's inode size.
func (f *FS) parseInode(ino uint32, b []byte) (*inode, error) {
	in := new(inode)
	if err := f.parseInodeInto(in, ino, b, nil); err != nil {
		return nil, err
	}
	return in, nil
}

// parseInodeInto decodes one on-disk inode into in (which the walk keeps
// in slabs, one allocation per directory). scratch, if at least 8 bytes
// longer than b, is used for the checksum.
func (f *FS) parseInodeInto(in *inode, ino uint32, b, scratch []byte) error {
	le := binary.LittleEndian
	// Field by field, not a composite literal: in is fresh (zero) memory
	// and copying a whole inode value costs write barriers per field.
	in.Ino = ino
	in.Mode = le.Uint16(b[0x0:])
	in.UID = uint32(le.Uint16(b[0x2:])) | uint32(le.Uint16(b[0x78:]))<<16
	in.GID = uint32(le.Uint16(b[0x18:])) | uint32(le.Uint16(b[0x7A:]))<<16
	in.LinksCount = le.Uint16(b[0x1A:])
	in.Blocks = uint64(le.Uint32(b[0x1C:]))
	in.Flags = le.Uint32(b[0x20:])
	in.Generation = le.Uint32(b[0x64:])
	in.FileACL = uint64(le.Uint32(b[0x68:])) | uint64(le.Uint16(b[0x76:]))<<32
	size := uint64(le.Uint32(b[0x4:])) | uint64(le.Uint32(b[0x6C:]))<<32
	if size > 1<<62 {
		return fmt.Errorf("ext4: inode %d: size %d out of range: %w", ino, size, ErrFormat)
	}
	in.Size = int64(size)
	if f.sb.FeatureROCompat&roCompatHugeFile != 0 {
		in.Blocks |= uint64(le.Uint16(b[0x74:])) << 32
	}
	copy(in.Block[:], b[0x28:0x64])
	extra := 0
	if len(b) > 128 {
		in.ExtraIsize = le.Uint16(b[0x80:])
		extra = int(in.ExtraIsize)
		if extra&3 != 0 || 128+extra > len(b) {
			return fmt.Errorf("ext4: inode %d: i_extra_isize %d does not fit inode size %d: %w", ino, extra, len(b), ErrFormat)
		}
	}
	has := func(off int) bool { return off+4 <= 128+extra }
	u32 := func(off int) uint32 {
		if !has(off) {
			return 0
		}
		return le.Uint32(b[off:])
	}
	in.Ctime = decodeTime(le.Uint32(b[0xC:]), u32(0x84), has(0x84))
	in.Mtime = decodeTime(le.Uint32(b[0x10:]), u32(0x88), has(0x88))
	in.Atime = decodeTime(le.Uint32(b[0x8:]), u32(0x8C), has(0x8C))
	if has(0x90) {
		in.Crtime = decodeTime(u32(0x90), u32(0x94), has(0x94))
	}
	if start := 128 + extra; len(b) > 128 && start+4 <= len(b) && le.Uint32(b[start:]) == xattrMagic {
		in.inlineXattr = append([]byte(nil), b[start:]...)
	}

	if f.hasCsum {
		// crc32c(seed, inode number, generation, inode with checksum zeroed)
		want := uint32(le.Uint16(b[0x7C:]))
		hi := len(b) > 128 && extra >= 4 // i_checksum_hi is there
		if hi {
			want |= uint32(le.Uint16(b[0x82:])) << 16
		}
		var c uint32
		if len(b) <= 1024 {
			// One pass over a copy: far cheaper than one call per piece.
			tmp := scratch
			if len(tmp) < 8+len(b) {
				tmp = make([]byte, 8+len(b))
			}
			le.PutUint32(tmp[0:], ino)
			le.PutUint32(tmp[4:], in.Generation)
			copy(tmp[8:], b)
			t := tmp[8:]
			t[0x7C], t[0x7D] = 0, 0
			if hi {
				t[0x82], t[0x83] = 0, 0
			}
			c = crc32c(f.csumSeed, tmp[:8+len(b)])
		} else {
			zero := make([]byte, 2)
			c = crc32cU32(f.csumSeed, ino)
			c = crc32cU32(c, in.Generation)
			c = crc32c(c, b[:0x7C])
			c = crc32c(c, zero[:2])
			c = crc32c(c, b[0x7E:0x82])
			if hi {
				c = crc32c(c, zero[:2])
				c = crc32c(c, b[0x84:])
			} else {
				c = crc32c(c, b[0x82:])
			}
		}
		if !hi {
			c &= 0xFFFF
		}
		if c != want {
			in.csumBad = true
			f.warnf("inode %d: checksum %#08x, computed %#08x", ino, want, c)
		}
	}
	return nil
}

// inode reads inode number ino (cached).
func (f *FS) inode(ino uint32) (*inode, error) {
	if in, ok := f.inodes.Get(ino); ok {
		return in, nil
	}
	off, err := f.inodePos(ino)
	if err != nil {
		return nil, err
	}
	b := make([]byte, f.sb.InodeSize)
	if err := f.readAt(b, off); err != nil {
		return nil, fmt.Errorf("ext4: inode %d: %w", ino, err)
	}
	in, err := f.parseInode(ino, b)
	if err != nil {
		return nil, err
	}
	f.inodes.Put(ino, in, 1)
	return in, nil
}

// inodePos returns the volume offset of inode ino, checking that the
// number is in range and its group's inode table is initialised.
func (f *FS) inodePos(ino uint32) (int64, error) {
	if ino == 0 || ino > f.sb.InodesCount || uint64(ino) > uint64(len(f.groups))*uint64(f.sb.InodesPerGroup) {
		return 0, fmt.Errorf("ext4: inode %d out of range (1..%d): %w", ino, f.sb.InodesCount, ErrFormat)
	}
	g := (ino - 1) / f.sb.InodesPerGroup
	idx := (ino - 1) % f.sb.InodesPerGroup
	gd := &f.groups[g]
	if f.hasGroupCsum && gd.Flags&bgInodeUninit != 0 {
		return 0, fmt.Errorf("ext4: inode %d: group %d has no initialised inodes: %w", ino, g, ErrFormat)
	}
	if gd.InodeTable == 0 || gd.InodeTable >= f.sb.BlocksCount {
		return 0, fmt.Errorf("ext4: inode %d: group %d inode table at block %d beyond volume: %w", ino, g, gd.InodeTable, ErrFormat)
	}
	return int64(gd.InodeTable)*f.bs + int64(idx)*int64(f.sb.InodeSize), nil
}

// fileMode converts i_mode to an io/fs FileMode.
func fileMode(m uint16) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch m & sIFMT {
	case sIFDIR:
		mode |= fs.ModeDir
	case sIFLNK:
		mode |= fs.ModeSymlink
	case sIFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		mode |= fs.ModeDevice
	case sIFIFO:
		mode |= fs.ModeNamedPipe
	case sIFSOCK:
		mode |= fs.ModeSocket
	case sIFREG:
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// rdev decodes the device number kept in i_block of a device node, in
// Linux's dev_t encoding (as stat(2) returns it).
func (i *inode) rdev() uint64 {
	le := binary.LittleEndian
	var major, minor uint64
	if old := le.Uint32(i.Block[0:]); old != 0 {
		major, minor = uint64(old>>8&0xFF), uint64(old&0xFF)
	} else {
		d := uint64(le.Uint32(i.Block[4:]))
		major = (d & 0xFFF00) >> 8
		minor = d&0xFF | (d>>12)&0xFFF00
	}
	return (major&0xFFFFF000)<<32 | (major&0xFFF)<<8 | (minor&0xFFFFFF00)<<12 | minor&0xFF
}

// allocated is the space i_blocks says the inode occupies, in bytes.
// Like stat(2) on Linux, a regular file's inline data counts as the 512-byte units its size
// needs.
func (f *FS) allocated(i *inode) int64 {
	n := int64(i.Blocks)
	if n > 1<<40 {
		n = 1 << 40 // cannot be: larger than any volume this reads
	}
	if f.sb.FeatureROCompat&roCompatHugeFile != 0 && i.Flags&flagHugeFile != 0 {
		n *= f.bs
	} else {
		n *= 512
	}
	if i.Flags&flagInlineData != 0 && i.isReg() {
		n += (i.Size + 511) &^ 511
	}
	return n
}
