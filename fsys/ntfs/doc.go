// Package ntfs reads NTFS volumes, read-only, as an io/fs.FS.
//
// It follows the NTFS documentation of the Linux-NTFS project and libyal's
// libfsntfs: the boot sector (all sector sizes from 256 to 4096 bytes,
// clusters up to 2 MiB including the exponent encoding used above 64 KiB),
// the $MFT read through its own runlist (record 0 from $MFTMirr when the
// primary copy is damaged), update sequence (fixup) checks on every MFT
// record and index block, attribute lists, resident and non-resident
// attributes, sparse runs, the initialized size (bytes past it read as
// zeros), $I30 B+ trees of any depth, case-insensitive look-ups through the
// volume's own $UpCase, hard links, DOS 8.3 names (hidden where a long name
// exists), named data streams (through OpenStream), LZNT1 compression,
// reparse points (symbolic links, junctions, WOF-compressed files) and
// $Bitmap usage.
//
// Listings show names as stored (through fsys.SafeName); the metadata
// files of the root ($MFT, $Bitmap, …) are hidden as Windows hides them but
// can be opened by their exact name. Links are never followed: Open and
// Stat of a symbolic link or junction give the link itself (its target, a
// Windows path, is in Meta.LinkTarget and ReadLink). EFS-encrypted files,
// Data Deduplication files and WIM-backed files are listed with
// Meta.Special saying why, and reading them is an error (errors.Is
// ErrUnsupported), never garbage. Volumes with the dirty flag are read as
// they are; the $LogFile is not replayed.
//
// Walk lists a whole tree in one sequential pass over the $MFT, parsed on
// several goroutines into a compact table (no per-record pointers); each
// FileInfo is made only when the walk reaches it. OpenInfo opens a file
// from such a FileInfo (or Stat's, or ReadDir's) by its MFT reference,
// checking the record's sequence number, without a path look-up.
//
// See docs/formats/ntfs.md for the decisions taken and how each part is
// tested.
package ntfs
