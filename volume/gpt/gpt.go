// Package gpt reads the GUID Partition Table of the UEFI specification
// (chapter 5): the primary header at LBA 1 and its partition entry array,
// both checked with their CRC32, and, when the primary is damaged, the
// backup header at the last LBA with its own entry array (a warning says
// so). Logical sectors of 512 or 4096 bytes (any power of two from 512 to
// 64 KiB) are supported; the sector size is given by the caller.
//
// Every field read from disk is bounded before use: the header size, the
// entry size (a multiple of 128 up to 4 KiB), the number of entries (at most
// MaxEntries) and the array's position (inside the disk), so that a header
// claiming 2^31 entries is a clear error and never a huge allocation.
//
// The package reads; it never repairs or writes.
package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
)

// ErrFormat means no valid GPT header was found (neither primary nor backup).
var ErrFormat = errors.New("gpt: no valid GPT")

// Limits on header fields. The UEFI specification requires at least 16 KiB of
// entries and an entry size of 128·2^n; real tables have 128 entries of 128
// bytes.
const (
	Signature      = "EFI PART"
	MinHeaderSize  = 92
	MaxEntries     = 65536
	MaxEntrySize   = 4096
	MaxArrayBytes  = 4 << 20
	entryFixedSize = 128
)

// GUID is a GUID as stored on disk (the first three fields little-endian).
type GUID [16]byte

// String formats g as the usual upper-case text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
}

// IsZero reports whether g is the all-zero GUID (an unused entry).
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID parses the text form (case-insensitive).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return g, fmt.Errorf("gpt: bad GUID %q", s)
	}
	var raw [16]byte
	for i := 0; i < 16; i++ {
		var b byte
		if _, err := fmt.Sscanf(s[2*i:2*i+2], "%02x", &b); err != nil {
			return g, fmt.Errorf("gpt: bad GUID %q", s)
		}
		raw[i] = b
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// Header is the GPT header (UEFI 5.3.2).
type Header struct {
	Signature                [8]byte
	Revision                 uint32
	HeaderSize               uint32
	HeaderCRC32              uint32
	Reserved                 uint32
	MyLBA                    uint64
	AlternateLBA             uint64
	FirstUsableLBA           uint64
	LastUsableLBA            uint64
	DiskGUID                 GUID
	PartitionEntryLBA        uint64
	NumberOfPartitionEntries uint32
	SizeOfPartitionEntry     uint32
	PartitionEntryArrayCRC32 uint32
}

// Partition is one used entry of the partition entry array (UEFI 5.3.3).
type Partition struct {
	Index      int // slot number + 1 (Linux and sfdisk numbering)
	TypeGUID   GUID
	UniqueGUID GUID
	FirstLBA   uint64
	LastLBA    uint64 // inclusive
	Attributes uint64
	Name       string // decoded from UTF-16LE, up to the first NUL
	Offset     int64  // FirstLBA in bytes
	Size       int64  // (LastLBA-FirstLBA+1) sectors in bytes
	PastEnd    bool   // reaches past the end of the disk
}

// Table is a parsed GPT.
type Table struct {
	Header     Header // the header that was used
	SectorSize int
	UsedBackup bool // the primary header or array was damaged
	Partitions []Partition
	Warnings   []string
}

// DiskGUID is the disk's GUID.
func (t *Table) DiskGUID() GUID { return t.Header.DiskGUID }

func (t *Table) warn(format string, args ...any) {
	t.Warnings = append(t.Warnings, "gpt: "+fmt.Sprintf(format, args...))
}

// HasHeader reports whether a GPT header signature sits at LBA 1 for the
// given sector size (a cheap probe; Read does the checking).
func HasHeader(r io.ReaderAt, sectorSize int) bool {
	var sig [8]byte
	if _, err := r.ReadAt(sig[:], int64(sectorSize)); err != nil {
		return false
	}
	return string(sig[:]) == Signature
}

// Read parses the GPT of a disk of size bytes with the given logical sector
// size (512 if 0). The primary header and array are used if valid;
// otherwise the backup at the last LBA is used and a warning says so.
func Read(r io.ReaderAt, size int64, sectorSize int) (*Table, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if sectorSize < 512 || sectorSize > 65536 || sectorSize&(sectorSize-1) != 0 {
		return nil, fmt.Errorf("gpt: invalid sector size %d", sectorSize)
	}
	ss := int64(sectorSize)
	if size < 3*ss {
		return nil, ErrFormat
	}
	lastLBA := uint64(size/ss) - 1
	t := &Table{SectorSize: sectorSize}

	h, parts, perr := readAt(r, size, ss, 1, lastLBA)
	if perr == nil {
		t.Header, t.Partitions = h, parts
		// Check the backup too, to warn early about a damaged copy.
		if bh, _, berr := readAt(r, size, ss, lastLBA, lastLBA); berr != nil {
			if h.AlternateLBA != lastLBA {
				t.warn("backup header not at the last LBA (%d): header says %d", lastLBA, h.AlternateLBA)
			} else {
				t.warn("backup header damaged: %v", berr)
			}
		} else if bh.DiskGUID != h.DiskGUID {
			t.warn("backup header has another disk GUID (%s)", bh.DiskGUID)
		}
	} else {
		bh, bparts, berr := readAt(r, size, ss, lastLBA, lastLBA)
		if berr != nil {
			if errors.Is(perr, ErrFormat) && errors.Is(berr, ErrFormat) {
				return nil, ErrFormat
			}
			return nil, fmt.Errorf("gpt: primary header: %v; backup header: %v", perr, berr)
		}
		t.Header, t.Partitions, t.UsedBackup = bh, bparts, true
		t.warn("primary GPT damaged (%v): using the backup header at LBA %d", perr, lastLBA)
	}
	t.check(size)
	return t, nil
}

// readAt reads and checks the header at lba and its entry array.
func readAt(r io.ReaderAt, size, ss int64, lba, lastLBA uint64) (Header, []Partition, error) {
	var h Header
	buf := make([]byte, ss)
	if _, err := r.ReadAt(buf, int64(lba)*ss); err != nil {
		return h, nil, fmt.Errorf("reading LBA %d: %w", lba, err)
	}
	if string(buf[:8]) != Signature {
		return h, nil, fmt.Errorf("%w: no signature at LBA %d", ErrFormat, lba)
	}
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, &h); err != nil {
		return h, nil, err
	}
	if h.HeaderSize < MinHeaderSize || int64(h.HeaderSize) > ss {
		return h, nil, fmt.Errorf("header at LBA %d: header size %d out of range [%d, %d]", lba, h.HeaderSize, MinHeaderSize, ss)
	}
	hb := make([]byte, h.HeaderSize)
	copy(hb, buf)
	binary.LittleEndian.PutUint32(hb[16:20], 0)
	if crc := crc32.ChecksumIEEE(hb); crc != h.HeaderCRC32 {
		return h, nil, fmt.Errorf("header at LBA %d: CRC32 %08x, stored %08x", lba, crc, h.HeaderCRC32)
	}
	if h.MyLBA != lba {
		return h, nil, fmt.Errorf("header at LBA %d: MyLBA says %d", lba, h.MyLBA)
	}
	if h.NumberOfPartitionEntries > MaxEntries {
		return h, nil, fmt.Errorf("header at LBA %d: %d partition entries claimed (limit %d)", lba, h.NumberOfPartitionEntries, MaxEntries)
	}
	es := h.SizeOfPartitionEntry
	if es < entryFixedSize || es > MaxEntrySize || es%entryFixedSize != 0 {
		return h, nil, fmt.Errorf("header at LBA %d: partition entry size %d invalid (a multiple of 128 up to %d)", lba, es, MaxEntrySize)
	}
	n := int64(h.NumberOfPartitionEntries) * int64(es)
	if n > MaxArrayBytes {
		return h, nil, fmt.Errorf("header at LBA %d: partition entry array of %d bytes (limit %d)", lba, n, MaxArrayBytes)
	}
	if h.PartitionEntryLBA < 1 || h.PartitionEntryLBA > lastLBA || int64(h.PartitionEntryLBA)*ss+n > size {
		return h, nil, fmt.Errorf("header at LBA %d: partition entry array at LBA %d (%d bytes) outside the disk", lba, h.PartitionEntryLBA, n)
	}
	if h.FirstUsableLBA > h.LastUsableLBA+1 {
		return h, nil, fmt.Errorf("header at LBA %d: first usable LBA %d after last usable LBA %d", lba, h.FirstUsableLBA, h.LastUsableLBA)
	}
	arr := make([]byte, n)
	if _, err := r.ReadAt(arr, int64(h.PartitionEntryLBA)*ss); err != nil {
		return h, nil, fmt.Errorf("header at LBA %d: reading partition entries: %w", lba, err)
	}
	if crc := crc32.ChecksumIEEE(arr); crc != h.PartitionEntryArrayCRC32 {
		return h, nil, fmt.Errorf("header at LBA %d: partition entry array CRC32 %08x, stored %08x", lba, crc, h.PartitionEntryArrayCRC32)
	}
	var parts []Partition
	for i := 0; i < int(h.NumberOfPartitionEntries); i++ {
		e := arr[i*int(es) : (i+1)*int(es)]
		var p Partition
		copy(p.TypeGUID[:], e[0:16])
		if p.TypeGUID.IsZero() {
			continue
		}
		p.Index = i + 1
		copy(p.UniqueGUID[:], e[16:32])
		p.FirstLBA = binary.LittleEndian.Uint64(e[32:40])
		p.LastLBA = binary.LittleEndian.Uint64(e[40:48])
		p.Attributes = binary.LittleEndian.Uint64(e[48:56])
		p.Name = decodeName(e[56:128])
		parts = append(parts, p)
	}
	return h, parts, nil
}

func decodeName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// check validates the partitions against the disk and each other, setting
// Offset, Size and PastEnd, and dropping entries that make no sense.
func (t *Table) check(size int64) {
	ss := uint64(t.SectorSize)
	diskSectors := uint64(size) / ss
	kept := t.Partitions[:0]
	for _, p := range t.Partitions {
		if p.LastLBA < p.FirstLBA {
			t.warn("partition %d: last LBA %d before first LBA %d, ignored", p.Index, p.LastLBA, p.FirstLBA)
			continue
		}
		if p.FirstLBA >= 1<<62/ss || p.LastLBA >= 1<<62/ss {
			t.warn("partition %d: LBA range %d–%d impossible, ignored", p.Index, p.FirstLBA, p.LastLBA)
			continue
		}
		p.Offset = int64(p.FirstLBA * ss)
		p.Size = int64((p.LastLBA - p.FirstLBA + 1) * ss)
		if p.LastLBA >= diskSectors {
			p.PastEnd = true
			t.warn("partition %d (LBA %d–%d) reaches past the end of the disk (%d sectors)", p.Index, p.FirstLBA, p.LastLBA, diskSectors)
		} else if p.FirstLBA < t.Header.FirstUsableLBA || p.LastLBA > t.Header.LastUsableLBA {
			t.warn("partition %d (LBA %d–%d) outside the usable LBAs %d–%d", p.Index, p.FirstLBA, p.LastLBA, t.Header.FirstUsableLBA, t.Header.LastUsableLBA)
		}
		kept = append(kept, p)
	}
	t.Partitions = kept
	// Overlaps: sweep the partitions in start order.
	order := make([]int, len(kept))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return kept[order[a]].FirstLBA < kept[order[b]].FirstLBA })
	n := 0
	var last *Partition
	for _, i := range order {
		p := &kept[i]
		if last != nil && p.FirstLBA <= last.LastLBA {
			if n++; n > 16 {
				t.warn("more overlapping partitions not listed")
				return
			}
			t.warn("partitions %d and %d overlap", last.Index, p.Index)
		}
		if last == nil || p.LastLBA > last.LastLBA {
			last = p
		}
	}
}
