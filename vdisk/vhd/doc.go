// Package vhd reads Virtual Hard Disk (VHD) images: fixed, dynamic and
// differencing disks, as described by Microsoft's "Virtual Hard Disk Image
// Format Specification" (version 1.0, 2006).
//
// NewImage parses the footer (with the copy at offset 0 of dynamic and
// differencing disks as a fallback), the dynamic disk header, the block
// allocation table and, for differencing disks, the parent locators. The
// Image answers extent.Mapper questions (which ranges this file stores,
// which it leaves to its parent) and reads the virtual disk through
// io.ReaderAt, absent ranges reading as zeros. It does not open parents:
// package vdisk stacks a differencing disk on its parent.
//
// The package only reads; it never writes to the file. Every size, count
// and offset read from the file is checked against the file size before it
// is used. docs/formats/vhd.md says what is supported and which decisions
// were taken (the virtual size of Virtual PC disks, sector bitmaps of
// dynamic disks).
package vhd
