// Package backup stores the files inside a virtual machine's disk image
// (a guest.Image: one image or a whole differencing chain) as a snapshot of
// a standard restic repository (package restic), finds files in the
// snapshots, and restores them.
//
// A snapshot holds one top directory named after the VM or image
// (Options.Name), below it the image's tree as grain shows it (p1, p3,
// vg-lv, … then the file system's own paths). Nodes carry what restic 0.17
// stores: names, types, sizes, modes, times, owners, links, inode and
// device (so hard links restore as hard links), extended attributes, and
// for Windows file systems restic's generic attributes
// windows.creation_time and windows.file_attributes. NTFS named data
// streams up to 64 KiB are stored as extended attributes
// "user.grain.stream.NAME", which restic's own restore writes back on Linux
// and grain restore writes the same way; larger streams are left out and
// reported.
//
// Backups are incremental without reading unchanged data: the snapshot's
// tags record the IDs of the chain's layers ("grain-layer:ID", the VHDX
// DataWriteGuid or VHD unique ID). The next backup takes every layer that
// is new or whose ID changed as changed, with all the virtual-disk ranges
// it holds; a file whose size, times and file ID match the parent snapshot
// and none of whose extents (mapped through its volume's offset) touches a
// changed range keeps the parent's content list unread. Files without
// extents (resident data), files on volumes that cannot be mapped (LVM),
// special files and named streams are re-read whenever any layer changed.
//
// Reading is done once per backup: the tree is listed with the driver's
// fast walk, files to read are sorted by their first extent (disk order)
// and read by a small pool of workers, chunked with the repository's
// chunker and deduplicated against the index. Trees are written bottom-up,
// each directory as soon as its content is known. Packs and index files are
// written before the snapshot file, so a backup stopped at any moment
// leaves a repository restic check accepts; the next backup indexes the
// packs a killed run left behind and reuses them.
package backup
