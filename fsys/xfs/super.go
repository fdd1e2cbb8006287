package xfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// ErrFormat is returned (wrapped) for anything that is not, or is no longer,
// a valid XFS structure.
var ErrFormat = errors.New("xfs: invalid format")

var be = binary.BigEndian

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// XFS_SB_MAGIC and the other magic numbers of the structures read here.
const (
	sbMagic        = 0x58465342 // "XFSB"
	dinodeMagic    = 0x494e     // "IN"
	bmapMagic      = 0x424d4150 // "BMAP"
	bmap3Magic     = 0x424d4133 // "BMA3"
	dir2BlockMagic = 0x58443242 // "XD2B"
	dir2DataMagic  = 0x58443244 // "XD2D"
	dir3BlockMagic = 0x58444233 // "XDB3"
	dir3DataMagic  = 0x58444433 // "XDD3"
	attrLeafMagic  = 0xfbee
	attr3LeafMagic = 0x3bee
	daNodeMagic    = 0xfebe
	da3NodeMagic   = 0x3ebe
	attr3RmtMagic  = 0x5841524d // "XARM"
	symlinkMagic   = 0x58534c4d // "XSLM"
)

// sb_versionnum bits.
const (
	sbVersionNumBits   = 0x000f
	sbVersionMoreBits  = 0x8000
	sbVersionBorgBit   = 0x4000 // ASCII case-insensitive names (v4)
	sbVersionDirV2Bit  = 0x2000
	sbVersionExtFlgBit = 0x1000
)

// sb_features2 bits (v4).
const (
	sbVersion2FtypeBit = 0x00000200
)

// sb_features_incompat bits (v5).
const (
	sbIncompatFtype       = 1 << 0
	sbIncompatSpinodes    = 1 << 1
	sbIncompatMetaUUID    = 1 << 2
	sbIncompatBigtime     = 1 << 3
	sbIncompatNeedsRepair = 1 << 4
	sbIncompatNrext64     = 1 << 5
	sbIncompatExchRange   = 1 << 6
	sbIncompatParent      = 1 << 7
	sbIncompatMetadir     = 1 << 8
	sbIncompatZoned       = 1 << 9
)

// incompatNames names the incompatible features, for refusals.
var incompatNames = map[uint32]string{
	sbIncompatFtype:       "ftype",
	sbIncompatSpinodes:    "sparse inodes",
	sbIncompatMetaUUID:    "meta_uuid",
	sbIncompatBigtime:     "bigtime",
	sbIncompatNeedsRepair: "needsrepair",
	sbIncompatNrext64:     "nrext64",
	sbIncompatExchRange:   "exchange-range",
	sbIncompatParent:      "parent pointers",
	sbIncompatMetadir:     "metadir",
	sbIncompatZoned:       "zoned",
}

// supportedIncompat are the incompatible features this reader handles.
// Metadir and zoned change where realtime and quota metadata live; a data
// device could still be read, but they are refused until tested.
const supportedIncompat = sbIncompatFtype | sbIncompatSpinodes | sbIncompatMetaUUID |
	sbIncompatBigtime | sbIncompatNeedsRepair | sbIncompatNrext64 |
	sbIncompatExchRange | sbIncompatParent

// superblock is xfs_dsb, the fields this reader uses.
type superblock struct {
	Magicnum            uint32
	Blocksize           uint32
	Dblocks             uint64
	Rblocks             uint64
	UUID                [16]byte
	Logstart            uint64
	Rootino             uint64
	Agblocks            uint32
	Agcount             uint32
	Logblocks           uint32
	Versionnum          uint16
	Sectsize            uint16
	Inodesize           uint16
	Inopblock           uint16
	Fname               [12]byte
	Blocklog            uint8
	Sectlog             uint8
	Inodelog            uint8
	Inopblog            uint8
	Agblklog            uint8
	Icount              uint64
	Ifree               uint64
	Fdblocks            uint64
	Dirblklog           uint8
	Features2           uint32
	FeaturesCompat      uint32
	FeaturesRoCompat    uint32
	FeaturesIncompat    uint32
	FeaturesLogIncompat uint32
	CRC                 uint32
	MetaUUID            [16]byte
}

func parseSuperblock(b []byte) (*superblock, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("%w: superblock: short read", ErrFormat)
	}
	sb := &superblock{
		Magicnum:   be.Uint32(b[0:]),
		Blocksize:  be.Uint32(b[4:]),
		Dblocks:    be.Uint64(b[8:]),
		Rblocks:    be.Uint64(b[16:]),
		Logstart:   be.Uint64(b[48:]),
		Rootino:    be.Uint64(b[56:]),
		Agblocks:   be.Uint32(b[84:]),
		Agcount:    be.Uint32(b[88:]),
		Logblocks:  be.Uint32(b[96:]),
		Versionnum: be.Uint16(b[100:]),
		Sectsize:   be.Uint16(b[102:]),
		Inodesize:  be.Uint16(b[104:]),
		Inopblock:  be.Uint16(b[106:]),
		Blocklog:   b[120],
		Sectlog:    b[121],
		Inodelog:   b[122],
		Inopblog:   b[123],
		Agblklog:   b[124],
		Icount:     be.Uint64(b[128:]),
		Ifree:      be.Uint64(b[136:]),
		Fdblocks:   be.Uint64(b[144:]),
		Dirblklog:  b[192],
		Features2:  be.Uint32(b[200:]),
	}
	copy(sb.UUID[:], b[32:48])
	copy(sb.Fname[:], b[108:120])
	if sb.Magicnum != sbMagic {
		return nil, fmt.Errorf("%w: superblock: bad magic %#08x", ErrFormat, sb.Magicnum)
	}
	if sb.version() == 5 {
		sb.FeaturesCompat = be.Uint32(b[208:])
		sb.FeaturesRoCompat = be.Uint32(b[212:])
		sb.FeaturesIncompat = be.Uint32(b[216:])
		sb.FeaturesLogIncompat = be.Uint32(b[220:])
		sb.CRC = binary.LittleEndian.Uint32(b[224:])
		copy(sb.MetaUUID[:], b[248:264])
	}
	if err := sb.validate(); err != nil {
		return nil, err
	}
	return sb, nil
}

func (sb *superblock) version() int { return int(sb.Versionnum & sbVersionNumBits) }

func (sb *superblock) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: superblock: "+format, append([]any{ErrFormat}, args...)...)
	}
	switch v := sb.version(); v {
	case 4:
		if sb.Versionnum&sbVersionDirV2Bit == 0 {
			return bad("version 4 without directory v2 is not supported")
		}
	case 5:
		if un := sb.FeaturesIncompat &^ supportedIncompat; un != 0 {
			var names []string
			for bit := uint32(1); bit != 0; bit <<= 1 {
				if un&bit != 0 {
					if n, ok := incompatNames[bit]; ok {
						names = append(names, n)
					} else {
						names = append(names, fmt.Sprintf("%#x", bit))
					}
				}
			}
			return bad("unsupported incompatible feature %s", strings.Join(names, ", "))
		}
	default:
		return bad("unsupported version %d", v)
	}
	if sb.Blocklog < 9 || sb.Blocklog > 16 || sb.Blocksize != 1<<sb.Blocklog {
		return bad("bad block size %d (log %d)", sb.Blocksize, sb.Blocklog)
	}
	if sb.Sectlog < 9 || sb.Sectlog > 15 || uint32(sb.Sectsize) != 1<<sb.Sectlog {
		return bad("bad sector size %d", sb.Sectsize)
	}
	if sb.Inodelog < 8 || sb.Inodelog > 11 || uint32(sb.Inodesize) != 1<<sb.Inodelog || sb.Inodelog > sb.Blocklog {
		return bad("bad inode size %d", sb.Inodesize)
	}
	if sb.version() == 5 && sb.Inodesize < 512 {
		return bad("v5 inode size %d below 512", sb.Inodesize)
	}
	if sb.Inopblog != sb.Blocklog-sb.Inodelog || uint32(sb.Inopblock) != 1<<sb.Inopblog {
		return bad("bad inodes per block %d (log %d)", sb.Inopblock, sb.Inopblog)
	}
	if sb.Agblklog == 0 || sb.Agblklog > 31 || sb.Agblocks == 0 || uint64(sb.Agblocks) > 1<<sb.Agblklog ||
		uint64(sb.Agblocks) <= 1<<(sb.Agblklog-1) {
		return bad("bad AG size %d blocks (log %d)", sb.Agblocks, sb.Agblklog)
	}
	if sb.Agcount == 0 || sb.Dblocks == 0 || sb.Dblocks > uint64(sb.Agcount)*uint64(sb.Agblocks) ||
		sb.Dblocks <= uint64(sb.Agcount-1)*uint64(sb.Agblocks) {
		return bad("data blocks %d do not fit %d AGs of %d blocks", sb.Dblocks, sb.Agcount, sb.Agblocks)
	}
	if int(sb.Agblklog)+int(sb.Inopblog) > 32 {
		return bad("inode number layout too wide")
	}
	if int(sb.Blocklog)+int(sb.Dirblklog) > 16 {
		return bad("bad directory block log %d", sb.Dirblklog)
	}
	return nil
}

func (sb *superblock) hasFtype() bool {
	if sb.version() == 5 {
		return sb.FeaturesIncompat&sbIncompatFtype != 0
	}
	return sb.Versionnum&sbVersionMoreBits != 0 && sb.Features2&sbVersion2FtypeBit != 0
}

func (sb *superblock) crc() bool { return sb.version() == 5 }

// metaUUID is the UUID stamped in v5 metadata blocks.
func (sb *superblock) metaUUID() [16]byte {
	if sb.FeaturesIncompat&sbIncompatMetaUUID != 0 {
		return sb.MetaUUID
	}
	return sb.UUID
}

// cksumOK reports whether the little-endian CRC32C stored at off in b
// matches b with that field taken as zero.
func cksumOK(b []byte, off int) bool {
	if off+4 > len(b) {
		return false
	}
	want := binary.LittleEndian.Uint32(b[off:])
	c := crc32.Update(0, castagnoli, b[:off])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, b[off+4:])
	return c == want
}
