// Package ext4 reads ext2, ext3 and ext4 file systems read-only.
//
// Open takes an io.ReaderAt holding one volume (a partition or an LVM2
// logical volume) and its size, and returns an *FS implementing fsys.FS:
// io/fs.FS with ReadDirFS, StatFS and ReadLinkFS. It follows the on-disk
// layout described in the kernel's Documentation/filesystems/ext4
// ("ext4 Data Structures and Algorithms"): superblock, 32- and 64-bit
// group descriptors (flex_bg, meta_bg), inodes of any size, extent trees
// and ext2/ext3 indirect block maps, uninitialized extents (read as
// zeros), inline data, fast and slow symlinks, linear and hash-tree
// directories (read through all their leaf blocks), extended attributes
// in the inode, in an external block and in EA inodes, and metadata_csum
// and gdt_csum checksums, whose mismatches are reported by Warnings and
// never stop reading.
//
// It refuses volumes using an incompatible feature it cannot read
// (compression, journal_dev, dirdata, encrypt), naming the feature.
//
// A volume whose journal needs recovery (a copy of a mounted file system,
// such as a snapshot of a running virtual machine) is recovered in memory
// as the kernel and e2fsck recover it: the committed transactions of the
// internal jbd2 journal are found (scan, checking the v1, v2 and v3
// checksums), revoke records collected and each block's newest committed
// copy read in place of the block on disk, so that every read sees the
// recovered volume. Nothing is written to the source. OpenWith with
// OpenOptions.IgnoreJournal reads the volume as it is on disk instead; an
// external journal, or one that is damaged, leaves the volume read as is,
// with a warning; Journal reports what was found and done. Symbolic links
// are followed within the volume, absolute targets resolving from the
// volume root.
//
// FileInfo.Sys returns a *fsys.Meta with the inode's Unix metadata,
// nanosecond times (with the extra epoch bits for dates after 2038),
// extended attributes as Linux names them, and the file's extents.
//
// FS also implements fsys.WalkFS, a whole-tree walk that loads directories
// and their entries' inodes in parallel, with batched inode table reads,
// and lists them depth first in name order; and fsys.InfoOpener, which
// opens a file from the inode a FileInfo carries, without a path look-up.
package ext4
