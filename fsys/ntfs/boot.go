package ntfs

import (
	"encoding/binary"
	"fmt"
)

// bootSector is the part of the NTFS boot sector ($Boot, sector 0) grain
// uses. Field names follow the Linux-NTFS documentation.
type bootSector struct {
	BytesPerSector    uint32
	SectorsPerCluster uint32
	TotalSectors      uint64
	MFTCluster        uint64
	MFTMirrCluster    uint64
	ClusterSize       int64
	MFTRecordSize     int64
	IndexBlockSize    int64
	SerialNumber      uint64
}

// bootSectorSize is how many bytes of the boot sector are parsed.
const bootSectorSize = 512

// decodeSizeField decodes the "clusters per MFT record" and "clusters per
// index block" fields: a positive value counts clusters, a negative value
// v gives 2^-v bytes.
func decodeSizeField(v byte, clusterSize int64) (int64, bool) {
	s := int8(v)
	switch {
	case s > 0:
		return int64(s) * clusterSize, true
	case s < 0 && s >= -31:
		return int64(1) << uint(-s), true
	}
	return 0, false
}

// parseBootSector checks and decodes an NTFS boot sector.
func parseBootSector(b []byte) (*bootSector, error) {
	const where = "boot sector"
	if len(b) < bootSectorSize {
		return nil, formatErr(where, "short read (%d bytes)", len(b))
	}
	if string(b[3:11]) != "NTFS    " {
		return nil, formatErr(where, "OEM ID %q is not \"NTFS    \"", b[3:11])
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, formatErr(where, "no 0x55AA signature")
	}
	bs := &bootSector{}
	bs.BytesPerSector = uint32(binary.LittleEndian.Uint16(b[0x0B:]))
	switch bs.BytesPerSector {
	case 256, 512, 1024, 2048, 4096:
	default:
		return nil, formatErr(where, "bytes per sector %d not a power of two in [256, 4096]", bs.BytesPerSector)
	}
	spc := b[0x0D]
	switch {
	case spc == 0:
		return nil, formatErr(where, "sectors per cluster is 0")
	case spc <= 0x80:
		if spc&(spc-1) != 0 {
			return nil, formatErr(where, "sectors per cluster %d not a power of two", spc)
		}
		bs.SectorsPerCluster = uint32(spc)
	default:
		// Clusters larger than 64 KiB: the field is 256 - log2(sectors).
		exp := 256 - int(spc)
		if exp > 20 {
			return nil, formatErr(where, "sectors per cluster exponent %d too large", exp)
		}
		bs.SectorsPerCluster = 1 << uint(exp)
	}
	bs.ClusterSize = int64(bs.BytesPerSector) * int64(bs.SectorsPerCluster)
	if bs.ClusterSize > 2<<20 {
		return nil, formatErr(where, "cluster size %d larger than 2 MiB", bs.ClusterSize)
	}
	bs.TotalSectors = binary.LittleEndian.Uint64(b[0x28:])
	bs.MFTCluster = binary.LittleEndian.Uint64(b[0x30:])
	bs.MFTMirrCluster = binary.LittleEndian.Uint64(b[0x38:])
	var ok bool
	if bs.MFTRecordSize, ok = decodeSizeField(b[0x40], bs.ClusterSize); !ok {
		return nil, formatErr(where, "invalid clusters per MFT record 0x%02x", b[0x40])
	}
	if bs.MFTRecordSize < 256 || bs.MFTRecordSize > 64<<10 || bs.MFTRecordSize&(bs.MFTRecordSize-1) != 0 {
		return nil, formatErr(where, "MFT record size %d not a power of two in [256, 65536]", bs.MFTRecordSize)
	}
	if bs.IndexBlockSize, ok = decodeSizeField(b[0x44], bs.ClusterSize); !ok {
		return nil, formatErr(where, "invalid clusters per index block 0x%02x", b[0x44])
	}
	if bs.IndexBlockSize < 256 || bs.IndexBlockSize > 64<<10 || bs.IndexBlockSize&(bs.IndexBlockSize-1) != 0 {
		return nil, formatErr(where, "index block size %d not a power of two in [256, 65536]", bs.IndexBlockSize)
	}
	bs.SerialNumber = binary.LittleEndian.Uint64(b[0x48:])
	if bs.TotalSectors == 0 {
		return nil, formatErr(where, "total sectors is 0")
	}
	if bs.TotalSectors > 1<<48 {
		return nil, formatErr(where, "total sectors %d implausibly large", bs.TotalSectors)
	}
	return bs, nil
}

// serialString prints the volume serial number as Windows does (vol, dir):
// the low 32 bits as XXXX-XXXX.
func serialString(serial uint64) string {
	s := uint32(serial)
	return fmt.Sprintf("%04X-%04X", s>>16, s&0xFFFF)
}
