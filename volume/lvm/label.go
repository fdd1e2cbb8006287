// Package lvm reads LVM2 physical volumes and the volume groups and logical
// volumes their metadata describes, following the LVM2 on-disk format
// (lib/format_text in the LVM2 sources, and lvm(8)'s documentation of the
// metadata text): the physical volume label ("LABELONE", type "LVM2 001") in
// one of the first four sectors, the PV header with its data and metadata
// areas, the metadata area header and its raw location (a circular buffer:
// the text may wrap), and the metadata text itself.
//
// Logical volumes made of linear and striped segments are readable: a
// LogicalVolume is an io.ReaderAt that maps its logical extents to offsets
// on its physical volumes. Thin pools and thin LVs, RAID, mirrors,
// snapshots, caches, VDO and other segment types are listed with a reason
// in Unsupported and never read.
//
// Every size and offset read from disk is checked against the device before
// use; the metadata text is bounded (MaxMetadata) and its nesting depth too.
package lvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrNoLabel means the device carries no LVM2 label.
var ErrNoLabel = errors.New("lvm: no LVM2 physical volume label")

// ErrFormat means an LVM2 structure is damaged.
var ErrFormat = errors.New("lvm: invalid LVM2 metadata")

const (
	SectorSize    = 512
	LabelID       = "LABELONE"
	LabelType     = "LVM2 001"
	LabelScan     = 4 // the label is in one of the first 4 sectors
	MDAHeaderSize = 512
	FMTTMagic     = "\x20LVM2\x20x[5A%r0N*>"
	InitialCRC    = 0xf597a6cf
	// MaxMetadata bounds the metadata text read from one area.
	MaxMetadata = 64 << 20
	maxAreas    = 64
)

// CRC is LVM2's checksum: CRC-32 (IEEE polynomial, reflected) started from
// InitialCRC, without the final inversion.
func CRC(initial uint32, p []byte) uint32 {
	return ^crc32.Update(^initial, crc32.IEEETable, p)
}

// Area is a disk location (data or metadata area) in bytes from the start
// of the physical volume. A data area of size 0 extends to the end.
type Area struct {
	Offset uint64
	Size   uint64
}

// Label is a physical volume label with its PV header.
type Label struct {
	Sector        int    // the sector holding the label (0–3)
	PVUUID        string // 32 characters, formatted with dashes as LVM prints it
	DeviceSize    uint64 // bytes, as recorded at pvcreate
	DataAreas     []Area
	MetadataAreas []Area
}

// FormatUUID inserts LVM's dashes into a 32-character UUID (6-4-4-4-4-4-6).
func FormatUUID(s string) string {
	if len(s) != 32 {
		return s
	}
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32]
}

// ReadLabel finds and parses the LVM2 label in the first four sectors of a
// device of size bytes.
func ReadLabel(r io.ReaderAt, size int64) (*Label, error) {
	if size < LabelScan*SectorSize {
		return nil, ErrNoLabel
	}
	buf := make([]byte, LabelScan*SectorSize)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("lvm: reading label sectors: %w", err)
	}
	for s := 0; s < LabelScan; s++ {
		sec := buf[s*SectorSize : (s+1)*SectorSize]
		if string(sec[0:8]) != LabelID {
			continue
		}
		if got := binary.LittleEndian.Uint64(sec[8:16]); got != uint64(s) {
			return nil, fmt.Errorf("%w: label in sector %d says sector %d", ErrFormat, s, got)
		}
		crc := binary.LittleEndian.Uint32(sec[16:20])
		if c := CRC(InitialCRC, sec[20:]); c != crc {
			return nil, fmt.Errorf("%w: label in sector %d: checksum %08x, stored %08x", ErrFormat, s, c, crc)
		}
		if string(sec[24:32]) != LabelType {
			return nil, fmt.Errorf("%w: label in sector %d: type %q is not %q", ErrFormat, s, sec[24:32], LabelType)
		}
		off := binary.LittleEndian.Uint32(sec[20:24])
		if off < 32 || off+40 > SectorSize {
			return nil, fmt.Errorf("%w: label in sector %d: PV header offset %d", ErrFormat, s, off)
		}
		return parsePVHeader(sec[off:], s, size)
	}
	return nil, ErrNoLabel
}

func parsePVHeader(b []byte, sector int, size int64) (*Label, error) {
	l := &Label{Sector: sector}
	for _, c := range b[0:32] {
		if c < 0x20 || c > 0x7e {
			return nil, fmt.Errorf("%w: PV header: UUID not printable", ErrFormat)
		}
	}
	l.PVUUID = FormatUUID(string(b[0:32]))
	l.DeviceSize = binary.LittleEndian.Uint64(b[32:40])
	p := 40
	list := &l.DataAreas
	for lists := 0; lists < 2; {
		if p+16 > len(b) {
			return nil, fmt.Errorf("%w: PV header: area list runs past the label sector", ErrFormat)
		}
		a := Area{binary.LittleEndian.Uint64(b[p:]), binary.LittleEndian.Uint64(b[p+8:])}
		p += 16
		if a.Offset == 0 {
			lists++
			list = &l.MetadataAreas
			continue
		}
		if len(*list) >= maxAreas {
			return nil, fmt.Errorf("%w: PV header: too many areas", ErrFormat)
		}
		*list = append(*list, a)
	}
	return l, nil
}

// MDAHeader is the metadata area header (mda_header).
type MDAHeader struct {
	Checksum uint32
	Magic    [16]byte
	Version  uint32
	Start    uint64 // absolute offset of the area on the PV
	Size     uint64 // size of the area
	RawLocns []RawLocn
}

// RawLocn locates one copy of the metadata text in the circular buffer.
type RawLocn struct {
	Offset   uint64 // from the start of the area
	Size     uint64
	Checksum uint32
	Flags    uint32
}

// RawLocnIgnored marks a metadata area that is not used.
const RawLocnIgnored = 1

// ReadMetadata reads the newest metadata text of one metadata area of a
// device of size bytes.
func ReadMetadata(r io.ReaderAt, size int64, area Area) ([]byte, error) {
	if area.Offset >= uint64(size) || area.Size < MDAHeaderSize || area.Size > uint64(size) || area.Offset+area.Size > uint64(size) {
		return nil, fmt.Errorf("%w: metadata area at %d (%d bytes) outside the device (%d bytes)", ErrFormat, area.Offset, area.Size, size)
	}
	hb := make([]byte, MDAHeaderSize)
	if _, err := r.ReadAt(hb, int64(area.Offset)); err != nil {
		return nil, fmt.Errorf("lvm: reading metadata area header at %d: %w", area.Offset, err)
	}
	var h MDAHeader
	h.Checksum = binary.LittleEndian.Uint32(hb[0:4])
	if c := CRC(InitialCRC, hb[4:]); c != h.Checksum {
		return nil, fmt.Errorf("%w: metadata area header at %d: checksum %08x, stored %08x", ErrFormat, area.Offset, c, h.Checksum)
	}
	copy(h.Magic[:], hb[4:20])
	if string(h.Magic[:]) != FMTTMagic {
		return nil, fmt.Errorf("%w: metadata area header at %d: bad magic", ErrFormat, area.Offset)
	}
	h.Version = binary.LittleEndian.Uint32(hb[20:24])
	h.Start = binary.LittleEndian.Uint64(hb[24:32])
	h.Size = binary.LittleEndian.Uint64(hb[32:40])
	if h.Version != 1 {
		return nil, fmt.Errorf("%w: metadata area header at %d: version %d", ErrFormat, area.Offset, h.Version)
	}
	if h.Start != area.Offset {
		return nil, fmt.Errorf("%w: metadata area header at %d says it starts at %d", ErrFormat, area.Offset, h.Start)
	}
	if h.Size != area.Size {
		// Trust the smaller of the two.
		if h.Size < MDAHeaderSize {
			return nil, fmt.Errorf("%w: metadata area header at %d: size %d", ErrFormat, area.Offset, h.Size)
		}
		if h.Size < area.Size {
			area.Size = h.Size
		}
	}
	rl := RawLocn{
		Offset:   binary.LittleEndian.Uint64(hb[40:48]),
		Size:     binary.LittleEndian.Uint64(hb[48:56]),
		Checksum: binary.LittleEndian.Uint32(hb[56:60]),
		Flags:    binary.LittleEndian.Uint32(hb[60:64]),
	}
	if rl.Offset == 0 {
		return nil, fmt.Errorf("%w: metadata area at %d holds no metadata", ErrFormat, area.Offset)
	}
	if rl.Flags&RawLocnIgnored != 0 {
		return nil, fmt.Errorf("%w: metadata area at %d is marked ignored", ErrFormat, area.Offset)
	}
	ring := area.Size - MDAHeaderSize
	if rl.Offset < MDAHeaderSize || rl.Offset >= area.Size || rl.Size == 0 || rl.Size > ring || rl.Size > MaxMetadata {
		return nil, fmt.Errorf("%w: metadata area at %d: text at %d (%d bytes) outside the area (%d bytes)", ErrFormat, area.Offset, rl.Offset, rl.Size, area.Size)
	}
	text := make([]byte, rl.Size)
	first := rl.Size
	if rl.Offset+rl.Size > area.Size {
		first = area.Size - rl.Offset // wraps to just after the header
	}
	if _, err := r.ReadAt(text[:first], int64(area.Offset+rl.Offset)); err != nil {
		return nil, fmt.Errorf("lvm: reading metadata text at %d: %w", area.Offset+rl.Offset, err)
	}
	if first < rl.Size {
		if _, err := r.ReadAt(text[first:], int64(area.Offset+MDAHeaderSize)); err != nil {
			return nil, fmt.Errorf("lvm: reading wrapped metadata text at %d: %w", area.Offset+MDAHeaderSize, err)
		}
	}
	if c := CRC(InitialCRC, text); c != rl.Checksum {
		return nil, fmt.Errorf("%w: metadata text at %d: checksum %08x, stored %08x", ErrFormat, area.Offset+rl.Offset, c, rl.Checksum)
	}
	// The text ends at its first NUL, if any.
	for i, c := range text {
		if c == 0 {
			text = text[:i]
			break
		}
	}
	return text, nil
}
