// Package hyperv reads Hyper-V virtual machine configurations, so that a
// user can name a VM rather than its disk files:
//
//   - the XML files of Windows Server 2008 to 2012 R2
//     (Virtual Machines/<GUID>.xml, UTF-16 or UTF-8), and
//   - the binary .vmcx files of Windows Server 2016 and later.
//
// Microsoft does not document either format. The VMCX container
// (HyperVStorage: two headers, an object table, key tables holding a tree
// of typed keys, file objects for large values) is read as public
// reverse-engineering work describes it (fox-it dissect.hypervisor); both
// formats hold the same key tree (configuration/properties/name,
// configuration/_<device GUID>_/controllerN/driveM/pathname, …), which is
// turned into a VM with its name, ID, generation, configuration version
// and attached disks.
//
// Reading is bounded: sizes, counts and offsets are checked against the
// file before use, the CRC-32 checksums of VMCX headers, object table
// entries and key table headers are verified, key nesting is limited, and
// at most MaxDisks disks are kept. The VMCX replay log is not replayed (a
// file with outstanding log entries is read as it stands), runtime state
// (.vmrs) and guest state (.vmgs) files are not VM configurations, and
// checkpoint configurations are read like VMs (TypeID tells them apart).
//
// Scan finds configuration files in folders, ReadFile reads one, and
// Locate maps a configured Windows disk path to a file in a backup.
package hyperv
