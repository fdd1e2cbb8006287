// Package fat reads FAT12, FAT16 and FAT32 volumes, read-only, as an
// fsys.FS (io/fs.FS with ReadDirFS, StatFS and ReadLinkFS).
//
// It follows Microsoft's "FAT: General Overview of On-Disk Format" (the
// FAT specification): the BIOS parameter block with or without the
// extended BPB, the FAT type decided by the cluster count alone, the FAT32
// FSInfo sector, VFAT long file names (checked against the checksum of
// their 8.3 entry; orphaned or out-of-order long-name entries are ignored
// and the 8.3 name is used), the Windows NT lower-case flags of 8.3 names,
// the 0x05 escape of a leading 0xE5 byte, and the volume label in the root
// directory (which wins over the boot sector's, as on Windows).
//
// Decisions:
//   - FAT times are local times without a zone; grain presents them as if
//     they were UTC, as mtools and sleuthkit do with TZ=UTC and Linux's
//     vfat does with its default time zone. Creation times keep their 10 ms
//     count; access times are dates only.
//   - Look-ups are case-insensitive by Unicode simple upper-case mapping,
//     rune by rune (an exact match wins); listings show names as stored.
//     8.3 names are decoded as code page 437.
//   - FileInfo.Sys() is a *fsys.Meta whose Inode is the byte offset of the
//     file's 8.3 directory entry on the volume (for the root, the offset of
//     the root directory). Attributes are the FAT attribute bits, which are
//     the Windows FILE_ATTRIBUTE_* values.
//   - The active FAT is read: the first copy, or the one ExtFlags names on a
//     FAT32 volume with mirroring disabled. Warnings reports copies that
//     differ.
//   - Cluster chains are checked: a chain that leaves the volume, reaches a
//     free, reserved or bad cluster, ends before the file's size, or uses a
//     cluster twice is an error for that file. A directory whose first
//     cluster lies in one of its ancestors' chains (it would contain
//     itself) is an error. Nothing on disk can make a read loop forever.
//   - Walk (fsys.WalkFS) lists the whole tree fast: the FAT read once,
//     directories read and parsed breadth first on several goroutines ahead
//     of the caller, each info's Meta complete. A directory met twice (a
//     loop or a cross-link) ends it with an error.
//   - OpenInfo (fsys.InfoOpener) opens a file from its info without a path
//     look-up: from the extents a Walk info holds, or from the 8.3 entry at
//     Meta.Inode, which must still describe a file of that kind and size.
//
// It does not write, and does not read deleted files.
package fat
