package fat

import (
	"encoding/binary"
	"fmt"
)

// bootSector holds the BIOS parameter block fields of a FAT boot sector
// (Microsoft FAT specification, section 3), named as the specification
// names them.
type bootSector struct {
	BytsPerSec uint16
	SecPerClus uint8
	RsvdSecCnt uint16
	NumFATs    uint8
	RootEntCnt uint16
	TotSec16   uint16
	Media      uint8
	FATSz16    uint16
	TotSec32   uint32

	// FAT32 BPB (offset 36).
	FATSz32  uint32
	ExtFlags uint16
	FSVer    uint16
	RootClus uint32
	FSInfo   uint16

	// Extended BPB (offset 36 on FAT12/16, 64 on FAT32), valid when
	// BootSig is 0x29 (VolID, VolLab, FilSysType) or 0x28 (VolID only).
	BootSig    uint8
	VolID      uint32
	VolLab     [11]byte
	FilSysType [8]byte

	Signature uint16 // 0xAA55 at offset 510
}

// geometry is what the boot sector tells after validation.
type geometry struct {
	bs          bootSector
	kind        string // "fat12", "fat16", "fat32"
	sectorSize  int64
	clusterSize int64
	totSec      int64
	fatSz       int64 // sectors per FAT
	fatOffset   int64 // byte offset of the first FAT
	rootOffset  int64 // FAT12/16: byte offset of the fixed root directory
	rootSize    int64 // FAT12/16: its size in bytes
	dataOffset  int64 // byte offset of cluster 2
	clusters    uint32
	activeFAT   int // index of the FAT copy read
	hasExtBPB   bool
	hasLabelBPB bool
}

// Cluster-count limits that tell FAT12, FAT16 and FAT32 apart (spec 3.5).
const (
	maxFAT12Clusters = 4084
	maxFAT16Clusters = 65524
	maxFAT32Clusters = 0x0FFFFFF5 - 2
)

func parseBootSector(b []byte) bootSector {
	le := binary.LittleEndian
	var bs bootSector
	bs.BytsPerSec = le.Uint16(b[11:])
	bs.SecPerClus = b[13]
	bs.RsvdSecCnt = le.Uint16(b[14:])
	bs.NumFATs = b[16]
	bs.RootEntCnt = le.Uint16(b[17:])
	bs.TotSec16 = le.Uint16(b[19:])
	bs.Media = b[21]
	bs.FATSz16 = le.Uint16(b[22:])
	bs.TotSec32 = le.Uint32(b[32:])
	ext := 36
	if bs.FATSz16 == 0 {
		bs.FATSz32 = le.Uint32(b[36:])
		bs.ExtFlags = le.Uint16(b[40:])
		bs.FSVer = le.Uint16(b[42:])
		bs.RootClus = le.Uint32(b[44:])
		bs.FSInfo = le.Uint16(b[48:])
		ext = 64
	}
	bs.BootSig = b[ext+2]
	bs.VolID = le.Uint32(b[ext+3:])
	copy(bs.VolLab[:], b[ext+7:])
	copy(bs.FilSysType[:], b[ext+18:])
	bs.Signature = le.Uint16(b[510:])
	return bs
}

// decodeBootSector validates the BPB in the first 512 bytes of a volume of
// size bytes and derives the layout.
func decodeBootSector(b []byte, size int64) (*geometry, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("%w: boot sector: short read", ErrFormat)
	}
	if b[0] != 0xEB && b[0] != 0xE9 && b[0] != 0xE8 {
		return nil, fmt.Errorf("%w: boot sector: no jump instruction (0x%02x)", ErrFormat, b[0])
	}
	bs := parseBootSector(b)
	g := &geometry{bs: bs}
	switch bs.BytsPerSec {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("%w: boot sector: bytes per sector %d", ErrFormat, bs.BytsPerSec)
	}
	if bs.SecPerClus == 0 || bs.SecPerClus&(bs.SecPerClus-1) != 0 {
		return nil, fmt.Errorf("%w: boot sector: sectors per cluster %d", ErrFormat, bs.SecPerClus)
	}
	if bs.RsvdSecCnt == 0 {
		return nil, fmt.Errorf("%w: boot sector: no reserved sectors", ErrFormat)
	}
	if bs.NumFATs == 0 {
		return nil, fmt.Errorf("%w: boot sector: no FAT", ErrFormat)
	}
	g.sectorSize = int64(bs.BytsPerSec)
	g.clusterSize = g.sectorSize * int64(bs.SecPerClus)
	if g.clusterSize > 256<<10 {
		return nil, fmt.Errorf("%w: boot sector: cluster size %d", ErrFormat, g.clusterSize)
	}
	g.fatSz = int64(bs.FATSz16)
	if g.fatSz == 0 {
		g.fatSz = int64(bs.FATSz32)
	}
	g.totSec = int64(bs.TotSec16)
	if g.totSec == 0 {
		g.totSec = int64(bs.TotSec32)
	}
	if g.fatSz == 0 || g.totSec == 0 {
		return nil, fmt.Errorf("%w: boot sector: FAT size %d, total sectors %d", ErrFormat, g.fatSz, g.totSec)
	}
	rootDirSectors := (int64(bs.RootEntCnt)*32 + g.sectorSize - 1) / g.sectorSize
	meta := int64(bs.RsvdSecCnt) + int64(bs.NumFATs)*g.fatSz + rootDirSectors
	if meta >= g.totSec {
		return nil, fmt.Errorf("%w: boot sector: %d metadata sectors leave no data area in %d sectors", ErrFormat, meta, g.totSec)
	}
	count := (g.totSec - meta) / int64(bs.SecPerClus)
	switch {
	case count == 0:
		return nil, fmt.Errorf("%w: boot sector: no clusters", ErrFormat)
	case count <= maxFAT12Clusters:
		g.kind = "fat12"
	case count <= maxFAT16Clusters:
		g.kind = "fat16"
	case count <= maxFAT32Clusters:
		g.kind = "fat32"
	default:
		return nil, fmt.Errorf("%w: boot sector: %d clusters is too many", ErrFormat, count)
	}
	g.clusters = uint32(count)
	if g.kind == "fat32" {
		if bs.FATSz16 != 0 || bs.RootEntCnt != 0 {
			return nil, fmt.Errorf("%w: boot sector: FAT32 by cluster count but has a FAT12/16 BPB", ErrFormat)
		}
	} else if bs.RootEntCnt == 0 {
		return nil, fmt.Errorf("%w: boot sector: %s with no root directory entries", ErrFormat, g.kind)
	}
	// The FAT must hold an entry for every cluster.
	need := (int64(g.clusters) + 2) * 4
	switch g.kind {
	case "fat12":
		need = (int64(g.clusters)+2)*3/2 + 1
	case "fat16":
		need = (int64(g.clusters) + 2) * 2
	}
	if g.fatSz*g.sectorSize < need {
		return nil, fmt.Errorf("%w: boot sector: FAT of %d sectors too small for %d clusters", ErrFormat, g.fatSz, g.clusters)
	}
	g.fatOffset = int64(bs.RsvdSecCnt) * g.sectorSize
	g.rootOffset = g.fatOffset + int64(bs.NumFATs)*g.fatSz*g.sectorSize
	g.rootSize = int64(bs.RootEntCnt) * 32
	g.dataOffset = g.rootOffset + rootDirSectors*g.sectorSize
	// The data area may claim more than the image holds (a truncated
	// image): reads past the end fail then, but the metadata must fit.
	if g.dataOffset > size {
		return nil, fmt.Errorf("%w: boot sector: data area at 0x%x beyond end of volume (0x%x)", ErrFormat, g.dataOffset, size)
	}
	if g.kind == "fat32" {
		if bs.RootClus < 2 || bs.RootClus > g.clusters+1 {
			return nil, fmt.Errorf("%w: boot sector: root cluster %d out of range", ErrFormat, bs.RootClus)
		}
		// ExtFlags bit 7: mirroring disabled, bits 0-3 the active FAT.
		if bs.ExtFlags&0x80 != 0 && int(bs.ExtFlags&0x0F) < int(bs.NumFATs) {
			g.activeFAT = int(bs.ExtFlags & 0x0F)
		}
	}
	g.hasExtBPB = bs.BootSig == 0x29 || bs.BootSig == 0x28
	g.hasLabelBPB = bs.BootSig == 0x29
	return g, nil
}

// clusterOffset is the byte offset of cluster c (c >= 2).
func (g *geometry) clusterOffset(c uint32) int64 {
	return g.dataOffset + int64(c-2)*g.clusterSize
}

// fsInfo is the FAT32 FSInfo sector (spec section 5).
type fsInfo struct {
	LeadSig   uint32 // 0x41615252
	StrucSig  uint32 // 0x61417272 at 484
	FreeCount uint32 // at 488
	NxtFree   uint32 // at 492
	TrailSig  uint32 // 0xAA550000 at 508
}

func parseFSInfo(b []byte) fsInfo {
	le := binary.LittleEndian
	return fsInfo{
		LeadSig:   le.Uint32(b[0:]),
		StrucSig:  le.Uint32(b[484:]),
		FreeCount: le.Uint32(b[488:]),
		NxtFree:   le.Uint32(b[492:]),
		TrailSig:  le.Uint32(b[508:]),
	}
}

func (f fsInfo) valid() bool {
	return f.LeadSig == 0x41615252 && f.StrucSig == 0x61417272 && f.TrailSig == 0xAA550000
}
