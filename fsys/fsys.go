// Package fsys is the contract every grain file-system driver keeps.
//
// A driver (fsys/ntfs, fsys/fat, fsys/exfat, fsys/ext4, fsys/xfs) reads one
// volume from an io.ReaderAt and its size, read-only, and presents it as an
// io/fs.FS that also implements fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS
// and passes testing/fstest.TestFS. Files it opens implement io.ReaderAt and
// io.Seeker, safe for concurrent ReadAt. FileInfo.Sys() returns a *Meta.
//
// Package fsys/probe recognises a volume's file system and opens the right
// driver; this package only defines what they share, so that drivers depend
// on it and not on each other.
package fsys

import (
	"io"
	"io/fs"
	"time"
)

// FS is a read-only file system volume.
type FS interface {
	fs.FS
	fs.ReadDirFS
	fs.StatFS
	fs.ReadLinkFS
	// Type names the file system: "ntfs", "fat32", "exfat", "ext4", "xfs"…
	Type() string
	// Label is the volume label, "" when there is none.
	Label() string
	// ID is the volume serial number or UUID as its own tools print it.
	ID() string
	// Usage reports total and used bytes where the file system records
	// them; ok is false when it cannot be told cheaply.
	Usage() (total, used int64, ok bool)
}

// File is an open regular file (or directory) of an FS.
type File interface {
	fs.File
	io.ReaderAt
	io.Seeker
}

// StreamFS is implemented by file systems with named data streams (NTFS
// alternate data streams).
type StreamFS interface {
	// OpenStream opens the named data stream of the file at name.
	OpenStream(name, stream string) (File, error)
}

// WalkFS is implemented by drivers that can list a whole tree faster than
// a directory-by-directory descent (NTFS: one sequential pass over the MFT).
type WalkFS interface {
	// Walk calls fn for root and every file and directory below it, in no
	// particular order except that a directory comes before its entries.
	// Paths are as fs.WalkDir gives them (slash-separated, relative to the
	// FS root, "." for the root). An error from fn stops the walk and is
	// returned; fs.SkipDir from fn for a directory skips its entries.
	Walk(root string, fn func(path string, info fs.FileInfo) error) error
}

// DirWalkFS is implemented by drivers whose directories record each
// entry's type (ext4, XFS), so that a whole-tree walk can list names and types
// without reading every file's inode: listing paths then reads the
// directories and little else.
type DirWalkFS interface {
	// WalkDir is Walk giving fs.DirEntry values: Name and Type come from
	// the directory, Info reads the rest (and its error is Info's). It
	// lists what Walk lists, in the same order, and stops where Walk
	// stops on a directory.
	WalkDir(root string, fn func(path string, d fs.DirEntry) error) error
}

// InfoOpener is implemented by drivers that can open a file straight from
// a FileInfo their Walk, Stat, Lstat or ReadDir returned, without looking
// its path up again: bulk readers (tar, backup) open hundreds of thousands
// of files this way. name is the path the info was listed under; drivers
// use it for errors only. OpenInfo of a directory or a link may fail like
// Open would.
type InfoOpener interface {
	OpenInfo(name string, info fs.FileInfo) (File, error)
}

// WarningsFS is implemented by drivers that note what they found wrong or
// worked around while reading (a mismatched FAT copy, a checksum, a journal
// replayed in memory); Warnings returns the notes so far, once each.
type WarningsFS interface {
	Warnings() []string
}

// Meta is what FileInfo.Sys() returns on every grain file system: all the
// metadata listing, stat, extraction and backup need. Fields a file system
// does not record are left zero.
type Meta struct {
	// Inode is the inode number (ext4, XFS) or MFT record number (NTFS),
	// or for FAT/exFAT the byte offset of the directory entry.
	Inode uint64
	// Generation is the inode generation or MFT sequence number.
	Generation uint32
	// Nlink is the number of hard links (names) of the file.
	Nlink uint32

	// Size is the logical size; Allocated is what the data occupies on
	// the volume (clusters or blocks).
	Size      int64
	Allocated int64

	// Times. Birth and Change are zero where not recorded.
	Modify time.Time
	Access time.Time
	Change time.Time // inode or MFT record change
	Birth  time.Time

	// Unix metadata (ext4, XFS): full st_mode bits, owner.
	UnixMode uint32
	UID, GID uint32
	// Rdev is the device number of a device node.
	Rdev uint64

	// Windows metadata (NTFS, FAT, exFAT): FILE_ATTRIBUTE_* bits.
	Attributes uint32

	// LinkTarget is the target of a symbolic link, junction or mount point.
	LinkTarget string
	// ReparseTag is the NTFS reparse tag (IO_REPARSE_TAG_*), 0 if none.
	ReparseTag uint32
	// Special says why the content cannot be read plainly, where that is
	// so: "encrypted", "deduplicated", "unsupported-reparse", …; "" otherwise.
	Special string

	// Streams lists the named data streams (NTFS ADS), not the unnamed one.
	Streams []Stream
	// Xattrs lists extended attributes (ext4, XFS; NTFS $EA).
	Xattrs []Xattr

	// Extents maps the file's data to the volume, in file order; holes are
	// not listed. Compressed files list the extents of their compressed
	// data (Compressed is then true). Bulk readers sort work by Physical.
	Extents    []Extent
	Compressed bool

	// Extra holds file-system-specific facts for stat (NTFS object ID,
	// short 8.3 name, security ID, …), as name and printable value.
	Extra []KV
}

// Stream is a named data stream.
type Stream struct {
	Name      string
	Size      int64
	Allocated int64
}

// Xattr is an extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Extent is a run of a file's data on the volume.
type Extent struct {
	Logical  int64 // offset in the file
	Physical int64 // byte offset in the volume
	Length   int64 // bytes
}

// KV is a named, printable fact.
type KV struct {
	Key, Value string
}

// MetaOf returns the *Meta of info, or nil when info did not come from a
// grain file system.
func MetaOf(info fs.FileInfo) *Meta {
	if info == nil {
		return nil
	}
	m, _ := info.Sys().(*Meta)
	return m
}
