package xfs

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/grainvm/grain/fsys"
)

// st_mode file type bits.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// di_format / di_aformat values (xfs_dinode_fmt).
const (
	fmtDev     = 0
	fmtLocal   = 1
	fmtExtents = 2
	fmtBtree   = 3
)

// di_flags and di_flags2 bits used here.
const (
	diflagRealtime = 1 << 0
	diflag2Reflink = 1 << 1
	diflag2Bigtime = 1 << 3
	diflag2Nrext64 = 1 << 4
)

// Sizes of the inode core by version.
const (
	dinodeCoreV2 = 100
	dinodeCoreV3 = 176
)

// inode is a parsed xfs_dinode.
type inode struct {
	ino       uint64
	mode      uint16
	version   uint8
	format    uint8
	aformat   uint8
	uid, gid  uint32
	nlink     uint32
	projid    uint32
	atime     time.Time
	mtime     time.Time
	ctime     time.Time
	crtime    time.Time
	rawSize   int64
	nblocks   uint64
	nextents  uint64
	anextents uint64
	flags     uint16
	flags2    uint64
	gen       uint32
	dataFork  []byte // literal area of the data fork
	attrFork  []byte // literal area of the attribute fork, nil if none
}

func (ip *inode) isDir() bool { return ip.mode&sIFMT == sIFDIR }

// size is the logical size (0 for device nodes and other special files).
func (ip *inode) size() int64 {
	switch ip.mode & sIFMT {
	case sIFREG, sIFDIR, sIFLNK:
		return ip.rawSize
	}
	return 0
}

func (ip *inode) fileMode() fs.FileMode {
	m := fs.FileMode(ip.mode & 0o777)
	switch ip.mode & sIFMT {
	case sIFDIR:
		m |= fs.ModeDir
	case sIFLNK:
		m |= fs.ModeSymlink
	case sIFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		m |= fs.ModeDevice
	case sIFIFO:
		m |= fs.ModeNamedPipe
	case sIFSOCK:
		m |= fs.ModeSocket
	case sIFREG:
	default:
		m |= fs.ModeIrregular
	}
	if ip.mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if ip.mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if ip.mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// inodeLocation is the byte offset of inode ino on the volume.
func (f *FS) inodeLocation(ino uint64) (int64, error) {
	sb := f.sb
	agShift := uint(sb.Agblklog) + uint(sb.Inopblog)
	agno := ino >> agShift
	agino := ino & (1<<agShift - 1)
	agbno := agino >> sb.Inopblog
	slot := agino & (1<<sb.Inopblog - 1)
	if agno >= uint64(sb.Agcount) || agbno >= uint64(sb.Agblocks) {
		return 0, fmt.Errorf("%w: inode %d: outside the volume (AG %d, block %d)", ErrFormat, ino, agno, agbno)
	}
	off, ok := f.fsbToByte(agno<<sb.Agblklog | agbno)
	if !ok {
		return 0, fmt.Errorf("%w: inode %d: block beyond the volume", ErrFormat, ino)
	}
	return off + int64(slot)*int64(sb.Inodesize), nil
}

// inode reads and parses inode ino, through the cache.
func (f *FS) inode(ino uint64) (*inode, error) {
	if ip, ok := f.inodes.Get(ino); ok {
		return ip, nil
	}
	off, err := f.inodeLocation(ino)
	if err != nil {
		return nil, err
	}
	b := make([]byte, f.sb.Inodesize)
	if err := f.readAt(b, off, fmt.Sprintf("inode %d", ino)); err != nil {
		return nil, err
	}
	ip, err := f.parseInode(ino, b)
	if err != nil {
		return nil, err
	}
	f.inodes.Put(ino, ip, 1)
	return ip, nil
}

func decodeTime(b []byte, bigtime bool) time.Time {
	if bigtime {
		ns := be.Uint64(b)
		sec := int64(ns/1e9) - 1<<31
		return time.Unix(sec, int64(ns%1e9))
	}
	sec := int32(be.Uint32(b))
	nsec := be.Uint32(b[4:])
	if nsec >= 1e9 {
		nsec = 0
	}
	return time.Unix(int64(sec), int64(nsec))
}

// parseInode decodes an on-disk inode (b is sb_inodesize bytes).
func (f *FS) parseInode(ino uint64, b []byte) (*inode, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: inode %d: "+format, append([]any{ErrFormat, ino}, args...)...)
	}
	if len(b) < dinodeCoreV2 {
		return nil, bad("short")
	}
	if m := be.Uint16(b); m != dinodeMagic {
		return nil, bad("bad magic %#04x", m)
	}
	ip := &inode{
		ino:     ino,
		mode:    be.Uint16(b[2:]),
		version: b[4],
		format:  b[5],
		uid:     be.Uint32(b[8:]),
		gid:     be.Uint32(b[12:]),
		nlink:   be.Uint32(b[16:]),
		projid:  uint32(be.Uint16(b[22:]))<<16 | uint32(be.Uint16(b[20:])),
		rawSize: int64(be.Uint64(b[56:])),
		nblocks: be.Uint64(b[64:]),
		aformat: b[83],
		flags:   be.Uint16(b[90:]),
		gen:     be.Uint32(b[92:]),
	}
	core := dinodeCoreV2
	switch ip.version {
	case 1:
		ip.nlink = uint32(be.Uint16(b[6:]))
	case 2:
	case 3:
		if len(b) < dinodeCoreV3 {
			return nil, bad("v3 inode in %d bytes", len(b))
		}
		core = dinodeCoreV3
		ip.flags2 = be.Uint64(b[120:])
		if f.crc {
			if !cksumOK(b, 100) {
				f.warn(fmt.Sprintf("inode %d: CRC mismatch", ino))
			}
			if got := be.Uint64(b[152:]); got != ino {
				f.warn(fmt.Sprintf("inode %d: records inode number %d", ino, got))
			}
		}
	default:
		return nil, bad("unknown version %d", ip.version)
	}
	if f.crc && ip.version != 3 {
		return nil, bad("version %d inode on a v5 volume", ip.version)
	}
	bigtime := ip.flags2&diflag2Bigtime != 0
	ip.atime = decodeTime(b[32:], bigtime)
	ip.mtime = decodeTime(b[40:], bigtime)
	ip.ctime = decodeTime(b[48:], bigtime)
	if ip.version == 3 {
		ip.crtime = decodeTime(b[144:], bigtime)
	}
	if ip.flags2&diflag2Nrext64 != 0 {
		ip.nextents = be.Uint64(b[24:])
		ip.anextents = uint64(be.Uint32(b[76:]))
	} else {
		ip.nextents = uint64(be.Uint32(b[76:]))
		ip.anextents = uint64(be.Uint16(b[80:]))
	}
	if ip.rawSize < 0 {
		return nil, bad("negative size")
	}
	if ip.nextents > f.sb.Dblocks || ip.anextents > f.sb.Dblocks {
		return nil, bad("absurd extent counts %d/%d", ip.nextents, ip.anextents)
	}
	lit := b[core:]
	forkoff := int(b[82]) * 8
	if forkoff != 0 {
		if forkoff >= len(lit) {
			return nil, bad("attribute fork offset %d beyond the inode", forkoff)
		}
		ip.dataFork = lit[:forkoff]
		ip.attrFork = lit[forkoff:]
	} else {
		ip.dataFork = lit
	}
	if ip.mode == 0 {
		return nil, bad("free inode (mode 0)")
	}
	switch ip.mode & sIFMT {
	case sIFREG, sIFDIR, sIFLNK, sIFCHR, sIFBLK, sIFIFO, sIFSOCK:
	default:
		return nil, bad("bad file type in mode %#o", ip.mode)
	}
	return ip, nil
}

// linuxDev encodes major and minor as Linux user space's dev_t does.
func linuxDev(major, minor uint64) uint64 {
	return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
}

// meta builds the fsys.Meta of an inode; parts that cannot be read are left
// out and recorded as warnings.
func (f *FS) meta(ip *inode) *fsys.Meta {
	m := &fsys.Meta{
		Inode:      ip.ino,
		Generation: ip.gen,
		Nlink:      ip.nlink,
		Size:       ip.size(),
		Allocated:  int64(ip.nblocks) * f.bs,
		Modify:     ip.mtime,
		Access:     ip.atime,
		Change:     ip.ctime,
		Birth:      ip.crtime,
		UnixMode:   uint32(ip.mode),
		UID:        ip.uid,
		GID:        ip.gid,
	}
	if ip.version < 3 {
		m.Birth = time.Time{}
	}
	if ip.nblocks > f.sb.Dblocks {
		m.Allocated = 0
	}
	switch ip.mode & sIFMT {
	case sIFCHR, sIFBLK:
		if ip.format == fmtDev && len(ip.dataFork) >= 4 {
			d := uint64(be.Uint32(ip.dataFork))
			m.Rdev = linuxDev(d>>18&0x3fff, d&0x3ffff)
		}
	case sIFLNK:
		if t, err := f.linkTarget(ip); err == nil {
			m.LinkTarget = t
		} else {
			f.warn(err.Error())
		}
	case sIFREG:
		if ip.flags&diflagRealtime != 0 {
			m.Special = "realtime"
			break
		}
		if exts, err := f.dataExtents(ip); err == nil {
			lim := (ip.rawSize + f.bs - 1) / f.bs * f.bs
			for _, e := range exts {
				if e.unwritten {
					continue
				}
				lo, n := int64(e.startoff)*f.bs, int64(e.count)*f.bs
				if lo >= lim {
					continue
				}
				if lo+n > lim {
					n = lim - lo
				}
				phys, _ := f.fsbToByte(e.startblock)
				m.Extents = append(m.Extents, fsys.Extent{Logical: lo, Physical: phys, Length: n})
			}
		} else {
			f.warn(err.Error())
		}
	}
	if ip.flags2&diflag2Reflink != 0 {
		m.Extra = append(m.Extra, fsys.KV{Key: "reflink", Value: "yes"})
	}
	if ip.projid != 0 {
		m.Extra = append(m.Extra, fsys.KV{Key: "projid", Value: fmt.Sprint(ip.projid)})
	}
	if xs, err := f.xattrs(ip); err == nil {
		m.Xattrs = xs
	} else {
		f.warn(err.Error())
	}
	return m
}
