// Package vhdx reads Hyper-V VHDX virtual disk files (fixed, dynamic and
// differencing) as specified by Microsoft's [MS-VHDX] "Virtual Hard Disk v2
// (VHDX) File Format", read-only.
//
// NewImage checks the file type identifier, picks the current header (the
// valid one, CRC-32C checked, with the greater SequenceNumber), and, when
// the header's LogGuid is non-zero, finds the log's active sequence (MS-VHDX
// 2.3.3) and replays it into an in-memory overlay of file offsets before it
// reads anything else. Nothing is ever written to the file. It then reads
// the region table (either valid copy; unknown required regions are
// refused), the metadata table and its known items (File Parameters,
// Virtual Disk Size, Page 83 Data, Logical and Physical Sector Size, Parent
// Locator) and the whole BAT, which it keeps in memory.
//
// Image implements extent.Mapper and io.ReaderAt. Payload block states map
// to extents as follows:
//
//   - FULLY_PRESENT: Data.
//   - PARTIALLY_PRESENT (differencing disks only): Data for sectors whose
//     sector bitmap bit is set, Absent for the others.
//   - NOT_PRESENT: Absent (the parent's content in a differencing disk,
//     zeros otherwise).
//   - ZERO: Zero.
//   - UNMAPPED and UNDEFINED: Zero, in every disk type. MS-VHDX defines both
//     for "all VHDX file types" as content of the block itself, with zeros
//     a permitted read result, and sends the reader to the parent only for
//     NOT_PRESENT and for clear bits of PARTIALLY_PRESENT blocks; so a
//     differencing disk's UNMAPPED or UNDEFINED block does not show the
//     parent through.
//
// ReadAt reads Absent ranges as zeros: following a differencing chain is
// the vdisk package's job. The package does not create or modify files.
package vhdx
