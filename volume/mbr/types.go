package mbr

import "fmt"

// typeNames are the common partition type bytes, named as fdisk and the
// Windows documentation name them.
var typeNames = map[byte]string{
	0x01: "FAT12",
	0x04: "FAT16 <32M",
	0x05: "Extended",
	0x06: "FAT16",
	0x07: "NTFS/exFAT/HPFS",
	0x0B: "W95 FAT32",
	0x0C: "W95 FAT32 (LBA)",
	0x0E: "W95 FAT16 (LBA)",
	0x0F: "W95 Extended (LBA)",
	0x11: "Hidden FAT12",
	0x12: "Compaq diagnostics",
	0x14: "Hidden FAT16 <32M",
	0x16: "Hidden FAT16",
	0x17: "Hidden NTFS/exFAT/HPFS",
	0x1B: "Hidden W95 FAT32",
	0x1C: "Hidden W95 FAT32 (LBA)",
	0x1E: "Hidden W95 FAT16 (LBA)",
	0x27: "Windows RE / hidden NTFS",
	0x42: "Windows dynamic disk (LDM)",
	0x82: "Linux swap",
	0x83: "Linux",
	0x85: "Linux extended",
	0x8E: "Linux LVM",
	0xA5: "FreeBSD",
	0xA6: "OpenBSD",
	0xA9: "NetBSD",
	0xAF: "HFS / HFS+",
	0xEE: "GPT protective",
	0xEF: "EFI (FAT-12/16/32)",
	0xFB: "VMware VMFS",
	0xFD: "Linux raid autodetect",
}

// TypeName is "0xNN name" for a partition type byte ("0x07 NTFS/exFAT/HPFS"),
// or "0xNN" alone for a type without a known name.
func TypeName(t byte) string {
	if n, ok := typeNames[t]; ok {
		return fmt.Sprintf("0x%02X %s", t, n)
	}
	return fmt.Sprintf("0x%02X", t)
}
