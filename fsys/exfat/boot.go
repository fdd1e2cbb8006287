package exfat

import (
	"encoding/binary"
	"fmt"
)

// bootSector is the exFAT Main (or Backup) Boot Sector (exFAT
// specification section 3.1), fields named as the specification names
// them.
type bootSector struct {
	PartitionOffset             uint64
	VolumeLength                uint64
	FatOffset                   uint32
	FatLength                   uint32
	ClusterHeapOffset           uint32
	ClusterCount                uint32
	FirstClusterOfRootDirectory uint32
	VolumeSerialNumber          uint32
	FileSystemRevision          uint16
	VolumeFlags                 uint16
	BytesPerSectorShift         uint8
	SectorsPerClusterShift      uint8
	NumberOfFats                uint8
	PercentInUse                uint8
	BootSignature               uint16
}

// geometry is the validated layout of a volume.
type geometry struct {
	bs          bootSector
	sectorSize  int64
	clusterSize int64
	fatOffset   int64 // byte offset of the active FAT
	fatSize     int64
	heapOffset  int64
	clusters    uint32
}

func parseBootSector(b []byte) bootSector {
	le := binary.LittleEndian
	return bootSector{
		PartitionOffset:             le.Uint64(b[64:]),
		VolumeLength:                le.Uint64(b[72:]),
		FatOffset:                   le.Uint32(b[80:]),
		FatLength:                   le.Uint32(b[84:]),
		ClusterHeapOffset:           le.Uint32(b[88:]),
		ClusterCount:                le.Uint32(b[92:]),
		FirstClusterOfRootDirectory: le.Uint32(b[96:]),
		VolumeSerialNumber:          le.Uint32(b[100:]),
		FileSystemRevision:          le.Uint16(b[104:]),
		VolumeFlags:                 le.Uint16(b[106:]),
		BytesPerSectorShift:         b[108],
		SectorsPerClusterShift:      b[109],
		NumberOfFats:                b[110],
		PercentInUse:                b[112],
		BootSignature:               le.Uint16(b[510:]),
	}
}

// decodeBootSector validates a Main or Backup Boot Sector for a volume of
// size bytes.
func decodeBootSector(b []byte, size int64) (*geometry, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("%w: boot sector: short", ErrFormat)
	}
	if string(b[3:11]) != "EXFAT   " {
		return nil, fmt.Errorf("%w: boot sector: file system name %q", ErrFormat, b[3:11])
	}
	for _, c := range b[11:64] {
		if c != 0 {
			return nil, fmt.Errorf("%w: boot sector: MustBeZero field is not zero", ErrFormat)
		}
	}
	bs := parseBootSector(b)
	if bs.BootSignature != 0xAA55 {
		return nil, fmt.Errorf("%w: boot sector: signature 0x%04x", ErrFormat, bs.BootSignature)
	}
	if bs.BytesPerSectorShift < 9 || bs.BytesPerSectorShift > 12 {
		return nil, fmt.Errorf("%w: boot sector: BytesPerSectorShift %d", ErrFormat, bs.BytesPerSectorShift)
	}
	if int(bs.SectorsPerClusterShift) > 25-int(bs.BytesPerSectorShift) {
		return nil, fmt.Errorf("%w: boot sector: SectorsPerClusterShift %d", ErrFormat, bs.SectorsPerClusterShift)
	}
	if bs.NumberOfFats != 1 && bs.NumberOfFats != 2 {
		return nil, fmt.Errorf("%w: boot sector: NumberOfFats %d", ErrFormat, bs.NumberOfFats)
	}
	g := &geometry{bs: bs}
	g.sectorSize = 1 << bs.BytesPerSectorShift
	g.clusterSize = g.sectorSize << bs.SectorsPerClusterShift
	g.clusters = bs.ClusterCount
	if bs.ClusterCount == 0 || bs.ClusterCount > 0xFFFFFFF5 {
		return nil, fmt.Errorf("%w: boot sector: ClusterCount %d", ErrFormat, bs.ClusterCount)
	}
	if bs.FatOffset < 24 || bs.FatLength == 0 || int64(bs.FatLength)*g.sectorSize < (int64(bs.ClusterCount)+2)*4 {
		return nil, fmt.Errorf("%w: boot sector: FAT at sector %d, %d sectors, too small for %d clusters", ErrFormat, bs.FatOffset, bs.FatLength, bs.ClusterCount)
	}
	active := int64(0)
	if bs.NumberOfFats == 2 && bs.VolumeFlags&1 != 0 { // ActiveFat
		active = 1
	}
	g.fatSize = int64(bs.FatLength) * g.sectorSize
	g.fatOffset = int64(bs.FatOffset)*g.sectorSize + active*g.fatSize
	g.heapOffset = int64(bs.ClusterHeapOffset) * g.sectorSize
	if g.fatOffset+g.fatSize > size {
		return nil, fmt.Errorf("%w: boot sector: FAT at 0x%x beyond end of volume (0x%x)", ErrFormat, g.fatOffset, size)
	}
	if g.heapOffset < int64(bs.FatOffset)*g.sectorSize+int64(bs.NumberOfFats)*g.fatSize || g.heapOffset > size {
		return nil, fmt.Errorf("%w: boot sector: cluster heap at 0x%x outside the volume", ErrFormat, g.heapOffset)
	}
	if bs.FirstClusterOfRootDirectory < 2 || bs.FirstClusterOfRootDirectory > bs.ClusterCount+1 {
		return nil, fmt.Errorf("%w: boot sector: root directory cluster %d out of range", ErrFormat, bs.FirstClusterOfRootDirectory)
	}
	return g, nil
}

// bootChecksum is the Boot Checksum over the first 11 sectors of a boot
// region, skipping VolumeFlags and PercentInUse (spec 3.4).
func bootChecksum(region []byte, sectorSize int) uint32 {
	var sum uint32
	for i, c := range region[:11*sectorSize] {
		if i == 106 || i == 107 || i == 112 {
			continue
		}
		sum = (sum>>1 | sum<<31) + uint32(c)
	}
	return sum
}

// checkBootRegion verifies the checksum sector (sector 11) of a boot region.
func checkBootRegion(region []byte, sectorSize int) error {
	sum := bootChecksum(region, sectorSize)
	cs := region[11*sectorSize : 12*sectorSize]
	for i := 0; i+4 <= len(cs); i += 4 {
		if binary.LittleEndian.Uint32(cs[i:]) != sum {
			return fmt.Errorf("%w: boot region checksum mismatch (computed 0x%08x)", ErrFormat, sum)
		}
	}
	return nil
}

func (g *geometry) clusterOffset(c uint32) int64 {
	return g.heapOffset + int64(c-2)*g.clusterSize
}
