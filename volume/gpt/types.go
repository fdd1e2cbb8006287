package gpt

import "strings"

// Partition type GUIDs grain names (from the UEFI specification, Microsoft's
// documentation, the Discoverable Partitions Specification and GPT fdisk).
var typeNames = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft Reserved",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows Recovery",
	"5808C8AA-7E8F-42E0-85D2-E1E90434CFB3": "LDM metadata",
	"AF9B60A0-1431-4F62-BC68-3311714A69AD": "LDM data",
	"E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D": "Storage Spaces",
	"558D43C5-A1AC-43C0-AAC8-D1472B2923D1": "Storage Replica",
	"37AFFC90-EF7D-4E96-91C3-2D7AE055B174": "IBM GPFS",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux server data",
	"4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux variable data",
	"7EC6F557-3BC5-4ACA-B293-16EF5DF639D1": "Linux temporary data",
	"CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
	"BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
	"8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
	"6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
	"516E7CB4-6ECF-11D6-8FF8-00022D09712B": "FreeBSD disklabel",
	"516E7CBA-6ECF-11D6-8FF8-00022D09712B": "FreeBSD ZFS",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
	"7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
	"AA31E02A-400F-11DB-9590-000C2911D1B8": "VMware VMFS",
	"9D275380-40AD-11DB-BF97-000C2911D1B8": "VMware reserved",
}

// Well-known type GUIDs used by the volume layer.
const (
	TypeLinuxLVM      = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
	TypeLDMMetadata   = "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3"
	TypeLDMData       = "AF9B60A0-1431-4F62-BC68-3311714A69AD"
	TypeStorageSpaces = "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D"
	TypeMSReserved    = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
)

// TypeName is the human name of a partition type GUID, or the GUID itself
// when grain does not know it.
func TypeName(g GUID) string {
	s := g.String()
	if n, ok := typeNames[s]; ok {
		return n
	}
	return s
}

// IsType reports whether g is the type GUID given in text form.
func IsType(g GUID, s string) bool { return strings.EqualFold(g.String(), s) }
