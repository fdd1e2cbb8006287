package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
)

// ErrFormat is wrapped by every error that says the input is not, or is no
// longer, a valid VHD image.
var ErrFormat = errors.New("not a valid VHD image")

// Sizes and constants of the specification.
const (
	SectorSize        = 512  // the VHD sector: bitmaps, BAT entries and geometry count in it
	FooterSize        = 512  // hard disk footer
	OldFooterSize     = 511  // footer written before Virtual PC 2004
	DynamicHeaderSize = 1024 // dynamic disk header
	ParentLocatorSize = 24   // one parent locator entry
	NumParentLocators = 8

	FooterCookie        = "conectix"
	DynamicHeaderCookie = "cxsparse"

	FeatureTemporary = 0x1 // Features: a candidate for deletion on shutdown
	FeatureReserved  = 0x2 // Features: must always be set

	FormatVersion10 = 0x00010000 // File Format Version and Header Version

	// UnusedBlock marks a BAT entry whose block is not allocated.
	UnusedBlock = 0xFFFFFFFF

	// MinBlockSize and MaxBlockSize bound the dynamic header's Block Size
	// that grain accepts (the specification's default is 2 MiB).
	MinBlockSize = SectorSize
	MaxBlockSize = 256 << 20

	// MaxLocatorLength bounds a parent locator's Platform Data Length.
	MaxLocatorLength = 64 << 10
)

// DiskType is the footer's Disk Type.
type DiskType uint32

const (
	None         DiskType = 0
	Fixed        DiskType = 2
	Dynamic      DiskType = 3
	Differencing DiskType = 4
)

func (t DiskType) String() string {
	switch t {
	case None:
		return "none"
	case Fixed:
		return "fixed"
	case Dynamic:
		return "dynamic"
	case Differencing:
		return "differencing"
	}
	return fmt.Sprintf("DiskType(%d)", uint32(t))
}

// Parent locator platform codes.
const (
	PlatformNone = ""     // code 0: entry unused
	PlatformWi2r = "Wi2r" // deprecated: relative Windows path
	PlatformWi2k = "Wi2k" // deprecated: absolute Windows path
	PlatformW2ru = "W2ru" // relative Windows path, UTF-16LE
	PlatformW2ku = "W2ku" // absolute Windows path, UTF-16LE
	PlatformMac  = "Mac " // Mac OS alias, stored as a blob
	PlatformMacX = "MacX" // file URL, UTF-8 (RFC 2396)
)

// Geometry is the footer's Disk Geometry (cylinders, heads, sectors per
// track), as the ATA BIOS of Virtual PC saw the disk.
type Geometry struct {
	Cylinders       uint16
	Heads           uint8
	SectorsPerTrack uint8
}

// Size is the byte size the geometry addresses: C*H*S*512.
func (g Geometry) Size() int64 {
	return int64(g.Cylinders) * int64(g.Heads) * int64(g.SectorsPerTrack) * SectorSize
}

// Footer is the hard disk footer, 512 bytes, big-endian, at the end of every
// VHD file (and copied at offset 0 in dynamic and differencing disks).
type Footer struct {
	Cookie             [8]byte // "conectix"
	Features           uint32
	FileFormatVersion  uint32
	DataOffset         uint64 // dynamic header offset; 0xFFFFFFFFFFFFFFFF for fixed disks
	TimeStamp          uint32 // seconds since 2000-01-01 00:00:00 UTC
	CreatorApplication [4]byte
	CreatorVersion     uint32
	CreatorHostOS      [4]byte // "Wi2k", "Mac "
	OriginalSize       uint64
	CurrentSize        uint64
	DiskGeometry       Geometry
	DiskType           DiskType
	Checksum           uint32
	UniqueID           [16]byte
	SavedState         uint8
}

// vhdEpoch is the zero of VHD time stamps.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// TimeStampTime converts a VHD time stamp (seconds since 2000-01-01 UTC).
func TimeStampTime(ts uint32) time.Time {
	return vhdEpoch.Add(time.Duration(ts) * time.Second)
}

// Checksum is the specification's checksum of a footer or dynamic header:
// the one's complement of the sum of its bytes, the checksum field (4 bytes
// at checksumAt) counted as zero.
func Checksum(b []byte, checksumAt int) uint32 {
	var sum uint32
	for i, c := range b {
		if i >= checksumAt && i < checksumAt+4 {
			continue
		}
		sum += uint32(c)
	}
	return ^sum
}

// Offsets of the checksum fields.
const (
	footerChecksumAt = 64
	headerChecksumAt = 36
)

// ParseFooter decodes a hard disk footer from b (512 bytes, or 511 for the
// footers of Virtual PC before 2004). It checks the cookie and the checksum.
func ParseFooter(b []byte) (Footer, error) {
	var f Footer
	if len(b) != FooterSize && len(b) != OldFooterSize {
		return f, fmt.Errorf("vhd: footer: %d bytes, want %d: %w", len(b), FooterSize, ErrFormat)
	}
	be := binary.BigEndian
	copy(f.Cookie[:], b[0:8])
	if string(f.Cookie[:]) != FooterCookie {
		return f, fmt.Errorf("vhd: footer: cookie %q, want %q: %w", f.Cookie[:], FooterCookie, ErrFormat)
	}
	f.Features = be.Uint32(b[8:])
	f.FileFormatVersion = be.Uint32(b[12:])
	f.DataOffset = be.Uint64(b[16:])
	f.TimeStamp = be.Uint32(b[24:])
	copy(f.CreatorApplication[:], b[28:32])
	f.CreatorVersion = be.Uint32(b[32:])
	copy(f.CreatorHostOS[:], b[36:40])
	f.OriginalSize = be.Uint64(b[40:])
	f.CurrentSize = be.Uint64(b[48:])
	f.DiskGeometry = Geometry{be.Uint16(b[56:]), b[58], b[59]}
	f.DiskType = DiskType(be.Uint32(b[60:]))
	f.Checksum = be.Uint32(b[64:])
	copy(f.UniqueID[:], b[68:84])
	f.SavedState = b[84]
	if sum := Checksum(b, footerChecksumAt); sum != f.Checksum {
		return f, fmt.Errorf("vhd: footer: checksum 0x%08x, computed 0x%08x: %w", f.Checksum, sum, ErrFormat)
	}
	return f, nil
}

// ParentLocatorEntry is one of the dynamic header's eight parent locator
// entries.
type ParentLocatorEntry struct {
	PlatformCode       [4]byte // "W2ku", "W2ru", …; zero when unused
	PlatformDataSpace  uint32  // sectors reserved for the locator (some writers store bytes)
	PlatformDataLength uint32  // bytes of locator data
	Reserved           uint32
	PlatformDataOffset uint64 // absolute file offset of the locator data
}

// Code is the platform code as a string, "" for an unused entry.
func (e ParentLocatorEntry) Code() string {
	if e.PlatformCode == [4]byte{} {
		return PlatformNone
	}
	return string(e.PlatformCode[:])
}

// DynamicHeader is the dynamic disk header ("cxsparse"), 1024 bytes,
// big-endian, of dynamic and differencing disks.
type DynamicHeader struct {
	Cookie            [8]byte // "cxsparse"
	DataOffset        uint64  // unused: 0xFFFFFFFFFFFFFFFF
	TableOffset       uint64  // absolute offset of the BAT
	HeaderVersion     uint32
	MaxTableEntries   uint32
	BlockSize         uint32 // bytes of data per block (the sector bitmap not included)
	Checksum          uint32
	ParentUniqueID    [16]byte
	ParentTimeStamp   uint32    // seconds since 2000-01-01 UTC
	Reserved          uint32    //
	ParentUnicodeName [512]byte // UTF-16BE, NUL padded
	ParentLocators    [NumParentLocators]ParentLocatorEntry
}

// ParentName decodes ParentUnicodeName (UTF-16BE, up to the first NUL).
func (h *DynamicHeader) ParentName() string {
	u := make([]uint16, 0, len(h.ParentUnicodeName)/2)
	for i := 0; i+1 < len(h.ParentUnicodeName); i += 2 {
		c := binary.BigEndian.Uint16(h.ParentUnicodeName[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// ParseDynamicHeader decodes a dynamic disk header from b (1024 bytes). It
// checks the cookie, the checksum and the block size; the offsets are
// checked against the file by NewImage.
func ParseDynamicHeader(b []byte) (*DynamicHeader, error) {
	if len(b) != DynamicHeaderSize {
		return nil, fmt.Errorf("vhd: dynamic header: %d bytes, want %d: %w", len(b), DynamicHeaderSize, ErrFormat)
	}
	be := binary.BigEndian
	h := new(DynamicHeader)
	copy(h.Cookie[:], b[0:8])
	if string(h.Cookie[:]) != DynamicHeaderCookie {
		return nil, fmt.Errorf("vhd: dynamic header: cookie %q, want %q: %w", h.Cookie[:], DynamicHeaderCookie, ErrFormat)
	}
	h.DataOffset = be.Uint64(b[8:])
	h.TableOffset = be.Uint64(b[16:])
	h.HeaderVersion = be.Uint32(b[24:])
	h.MaxTableEntries = be.Uint32(b[28:])
	h.BlockSize = be.Uint32(b[32:])
	h.Checksum = be.Uint32(b[36:])
	copy(h.ParentUniqueID[:], b[40:56])
	h.ParentTimeStamp = be.Uint32(b[56:])
	h.Reserved = be.Uint32(b[60:])
	copy(h.ParentUnicodeName[:], b[64:576])
	for i := range h.ParentLocators {
		e := b[576+i*ParentLocatorSize:]
		l := &h.ParentLocators[i]
		copy(l.PlatformCode[:], e[0:4])
		l.PlatformDataSpace = be.Uint32(e[4:])
		l.PlatformDataLength = be.Uint32(e[8:])
		l.Reserved = be.Uint32(e[12:])
		l.PlatformDataOffset = be.Uint64(e[16:])
	}
	if sum := Checksum(b, headerChecksumAt); sum != h.Checksum {
		return nil, fmt.Errorf("vhd: dynamic header: checksum 0x%08x, computed 0x%08x: %w", h.Checksum, sum, ErrFormat)
	}
	bs := h.BlockSize
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("vhd: dynamic header: block size %d is not a power of two in [%d, %d]: %w", bs, MinBlockSize, MaxBlockSize, ErrFormat)
	}
	return h, nil
}
