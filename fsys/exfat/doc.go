// Package exfat reads exFAT volumes, read-only, as an fsys.FS (io/fs.FS
// with ReadDirFS, StatFS and ReadLinkFS).
//
// It follows Microsoft's "exFAT file system specification": the main boot
// region with its checksum sector (the backup boot region is used, with a
// warning, when the main one is bad), the FAT (the active one of two for
// TexFAT), the allocation bitmap (for Usage), the up-case table in its
// compressed or plain form (for case-insensitive look-ups), the volume
// label and volume GUID entries, and File / Stream Extension / File Name
// entry sets checked against their SetChecksum.
//
// Decisions:
//   - Files with NoFatChain are one contiguous run; others follow the FAT.
//     Chains that leave the heap, reach a bad cluster, end early or use a
//     cluster twice are errors for that file.
//   - Bytes past ValidDataLength (up to DataLength) read as zeros; the
//     extents cover DataLength.
//   - Timestamps carry their 10 ms increments; with a valid UTC offset
//     field they are converted to the right instant, without one the local
//     time is taken as UTC (as sleuthkit and exfat-fuse with TZ=UTC do).
//   - FileInfo.Sys() is a *fsys.Meta whose Inode is the byte offset of the
//     File directory entry on the volume (for the root, of the root
//     directory's first cluster). Attributes are the exFAT FileAttributes,
//     which are the Windows FILE_ATTRIBUTE_* values.
//   - Entry sets with a wrong SetChecksum or layout are skipped and
//     reported by Warnings. A directory whose first cluster lies in an
//     ancestor's clusters (it would contain itself) is an error.
//   - Usage's total is the cluster heap, used the clusters set in the
//     allocation bitmap.
//   - Walk (fsys.WalkFS) lists the whole tree fast, as the fat package does
//     (shared code); OpenInfo (fsys.InfoOpener) opens a file from the
//     extents a Walk info holds or the entry set at Meta.Inode (checksum
//     checked; a set that crosses into another cluster is found by path).
//
// It does not write, and does not read deleted files.
package exfat
