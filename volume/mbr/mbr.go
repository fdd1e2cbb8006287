// Package mbr reads the DOS / MBR partition table: the four primary entries
// of sector 0, the extended partition (types 0x05, 0x0F and 0x85) and the
// chain of extended boot records (EBR) that holds the logical partitions.
//
// Logical partitions are numbered from 5 in chain order, as Linux numbers
// them. A protective MBR (an 0xEE entry, in front of a GPT) is recognised and
// reported, not interpreted: the caller reads the GPT. The EBR chain is
// walked with a visited set and a bound; a loop, an EBR outside the extended
// partition or a damaged EBR ends the chain with a warning, and the sane part
// read before it is kept. Partitions reaching past the end of the disk are
// flagged. Windows dynamic disks (type 0x42, LDM) are detected; their
// volumes are not read.
//
// The package never writes and never allocates more than a few sectors.
package mbr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFormat means sector 0 holds no MBR partition table.
var ErrFormat = errors.New("mbr: no valid MBR partition table")

// Partition type bytes with a special meaning for the table itself.
const (
	TypeEmpty        = 0x00
	TypeExtendedCHS  = 0x05
	TypeExtendedLBA  = 0x0F
	TypeExtendedLnx  = 0x85
	TypeLDM          = 0x42
	TypeLinuxLVM     = 0x8E
	TypeGPTProtect   = 0xEE
	bootSignatureOff = 510
	entryTableOff    = 446
	entrySize        = 16
)

// MaxLogical bounds the number of EBRs followed in one chain.
const MaxLogical = 1024

// Entry is one 16-byte partition table entry as stored.
type Entry struct {
	Status   byte    // 0x80 bootable, 0x00 not
	FirstCHS [3]byte // ignored: LBA fields are used
	Type     byte    // partition type (system ID)
	LastCHS  [3]byte
	FirstLBA uint32 // relative to the table's base (see Partition)
	Sectors  uint32
}

func parseEntry(b []byte) Entry {
	var e Entry
	e.Status = b[0]
	copy(e.FirstCHS[:], b[1:4])
	e.Type = b[4]
	copy(e.LastCHS[:], b[5:8])
	e.FirstLBA = binary.LittleEndian.Uint32(b[8:12])
	e.Sectors = binary.LittleEndian.Uint32(b[12:16])
	return e
}

// IsExtended reports whether t is an extended-partition container type.
func IsExtended(t byte) bool {
	return t == TypeExtendedCHS || t == TypeExtendedLBA || t == TypeExtendedLnx
}

// Partition is one partition found in the table.
type Partition struct {
	Index    int  // 1–4 primary, 5… logical (Linux numbering)
	Type     byte // partition type byte
	Bootable bool
	Start    int64 // first sector, absolute (logical sectors)
	Sectors  int64 // length in sectors
	Offset   int64 // Start in bytes
	Size     int64 // Sectors in bytes
	Extended bool  // an extended container (not a volume of its own)
	Logical  bool  // found in the EBR chain
	PastEnd  bool  // reaches past the end of the disk
}

// End is the byte offset just past the partition.
func (p Partition) End() int64 { return p.Offset + p.Size }

// Table is a parsed MBR.
type Table struct {
	Signature  uint32 // the disk signature at offset 440
	SectorSize int
	// Partitions in table order: primaries (with the extended container)
	// first, then the logical partitions in chain order.
	Partitions []Partition
	Protective bool // an 0xEE entry: a GPT follows
	Hybrid     bool // Protective plus other entries (a hybrid MBR)
	LDM        bool // a 0x42 entry: a Windows dynamic disk
	Warnings   []string
}

// Read parses the MBR of a disk of size bytes with the given logical sector
// size (512 if 0). It returns ErrFormat if sector 0 has no boot signature,
// holds invalid entries or is a file system's boot sector.
func Read(r io.ReaderAt, size int64, sectorSize int) (*Table, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if sectorSize < 512 || sectorSize > 65536 || sectorSize&(sectorSize-1) != 0 {
		return nil, fmt.Errorf("mbr: invalid sector size %d", sectorSize)
	}
	if size < 512 {
		return nil, ErrFormat
	}
	var sec [512]byte
	if _, err := r.ReadAt(sec[:], 0); err != nil {
		return nil, fmt.Errorf("mbr: reading sector 0: %w", err)
	}
	if !validTableSector(sec[:], true) {
		return nil, ErrFormat
	}
	t := &Table{Signature: binary.LittleEndian.Uint32(sec[440:444]), SectorSize: sectorSize}
	ss := int64(sectorSize)
	diskSectors := size / ss
	var ext *Partition
	nonProtective := 0
	for i := 0; i < 4; i++ {
		e := parseEntry(sec[entryTableOff+i*entrySize:])
		if e.Type == TypeEmpty || e.Sectors == 0 {
			continue
		}
		p := Partition{
			Index: i + 1, Type: e.Type, Bootable: e.Status == 0x80,
			Start: int64(e.FirstLBA), Sectors: int64(e.Sectors),
		}
		p.Offset, p.Size = p.Start*ss, p.Sectors*ss
		switch e.Type {
		case TypeGPTProtect:
			t.Protective = true
		case TypeLDM:
			t.LDM = true
			nonProtective++
		default:
			nonProtective++
		}
		if IsExtended(e.Type) {
			p.Extended = true
		}
		if p.Start+p.Sectors > diskSectors && e.Type != TypeGPTProtect {
			p.PastEnd = true
			t.warn("partition %d (sectors %d–%d) reaches past the end of the disk (%d sectors)", p.Index, p.Start, p.Start+p.Sectors-1, diskSectors)
		}
		t.Partitions = append(t.Partitions, p)
		if p.Extended {
			if ext != nil {
				t.warn("partition %d: a second extended partition is ignored", p.Index)
				continue
			}
			ext = &t.Partitions[len(t.Partitions)-1]
		}
	}
	if t.Protective && nonProtective > 0 {
		t.Hybrid = true
	}
	if ext != nil {
		extCopy := *ext
		t.walkEBR(r, extCopy, diskSectors)
	}
	t.checkOverlaps()
	return t, nil
}

func (t *Table) warn(format string, args ...any) {
	t.Warnings = append(t.Warnings, "mbr: "+fmt.Sprintf(format, args...))
}

// validTableSector checks the boot signature and the entries' status bytes.
// For sector 0 it also rejects a file system boot sector (FAT, NTFS, exFAT)
// and a table without any entry.
func validTableSector(sec []byte, first bool) bool {
	if sec[bootSignatureOff] != 0x55 || sec[bootSignatureOff+1] != 0xAA {
		return false
	}
	used := 0
	for i := 0; i < 4; i++ {
		e := sec[entryTableOff+i*entrySize:]
		if e[0] != 0 && e[0] != 0x80 {
			return false
		}
		if e[4] != TypeEmpty && binary.LittleEndian.Uint32(e[12:16]) != 0 {
			if first && binary.LittleEndian.Uint32(e[8:12]) == 0 {
				return false // would overlap the MBR itself
			}
			used++
		}
	}
	if !first {
		return true
	}
	if used == 0 {
		return false
	}
	return !isBootSector(sec)
}

// isBootSector recognises a file system's volume boot record, which also
// ends in 0x55AA.
func isBootSector(sec []byte) bool {
	oem := string(sec[3:11])
	if oem == "NTFS    " || oem == "EXFAT   " {
		return true
	}
	jump := sec[0] == 0xEB && sec[2] == 0x90 || sec[0] == 0xE9
	if !jump {
		return false
	}
	if string(sec[54:59]) == "FAT12" || string(sec[54:59]) == "FAT16" || string(sec[82:87]) == "FAT32" {
		return true
	}
	// A BPB with a plausible sector size and cluster size.
	bps := binary.LittleEndian.Uint16(sec[11:13])
	spc := sec[13]
	return (bps == 512 || bps == 1024 || bps == 2048 || bps == 4096) && spc != 0 && spc&(spc-1) == 0 && sec[16] != 0 && sec[16] <= 4
}

// walkEBR follows the chain of extended boot records inside ext.
func (t *Table) walkEBR(r io.ReaderAt, ext Partition, diskSectors int64) {
	ss := int64(t.SectorSize)
	extStart, extEnd := ext.Start, ext.Start+ext.Sectors
	if extEnd > diskSectors {
		extEnd = diskSectors
	}
	visited := make(map[int64]bool)
	next := 5
	ebr := extStart
	buf := make([]byte, 512)
	for n := 0; ; n++ {
		if n >= MaxLogical {
			t.warn("EBR chain: more than %d EBRs, rest of the chain ignored", MaxLogical)
			return
		}
		if visited[ebr] {
			t.warn("EBR chain: loop back to the EBR at sector %d, rest of the chain ignored", ebr)
			return
		}
		visited[ebr] = true
		if ebr < extStart || ebr >= extEnd {
			t.warn("EBR chain: EBR at sector %d outside the extended partition (sectors %d–%d), rest of the chain ignored", ebr, extStart, extEnd-1)
			return
		}
		if _, err := r.ReadAt(buf, ebr*ss); err != nil {
			t.warn("EBR chain: reading the EBR at sector %d: %v, rest of the chain ignored", ebr, err)
			return
		}
		if !validTableSector(buf, false) {
			t.warn("EBR chain: no valid EBR at sector %d, rest of the chain ignored", ebr)
			return
		}
		var link *Entry
		for i := 0; i < 4; i++ {
			e := parseEntry(buf[entryTableOff+i*entrySize:])
			if e.Type == TypeEmpty || e.Sectors == 0 {
				continue
			}
			if IsExtended(e.Type) {
				if link == nil {
					link = &e
				}
				continue
			}
			p := Partition{
				Index: next, Type: e.Type, Bootable: e.Status == 0x80, Logical: true,
				Start: ebr + int64(e.FirstLBA), Sectors: int64(e.Sectors),
			}
			p.Offset, p.Size = p.Start*ss, p.Sectors*ss
			next++
			if e.Type == TypeLDM {
				t.LDM = true
			}
			if p.Start+p.Sectors > diskSectors {
				p.PastEnd = true
				t.warn("partition %d (sectors %d–%d) reaches past the end of the disk (%d sectors)", p.Index, p.Start, p.Start+p.Sectors-1, diskSectors)
			} else if p.Start+p.Sectors > ext.Start+ext.Sectors {
				t.warn("partition %d (sectors %d–%d) reaches past the end of the extended partition", p.Index, p.Start, p.Start+p.Sectors-1)
			}
			t.Partitions = append(t.Partitions, p)
		}
		if link == nil {
			return
		}
		ebr = extStart + int64(link.FirstLBA)
	}
}

func (t *Table) checkOverlaps() {
	ps := t.Partitions
	n := 0
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			a, b := ps[i], ps[j]
			if a.Extended && b.Logical || b.Extended && a.Logical {
				continue
			}
			if a.Type == TypeGPTProtect || b.Type == TypeGPTProtect {
				continue
			}
			if a.Start < b.Start+b.Sectors && b.Start < a.Start+a.Sectors {
				if n++; n > 16 {
					t.warn("more overlapping partitions not listed")
					return
				}
				t.warn("partitions %d and %d overlap", a.Index, b.Index)
			}
		}
	}
}
