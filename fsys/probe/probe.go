// Package probe recognises the file system on a volume by its signatures
// and opens it with the right grain driver.
//
// It also names what grain recognises but cannot read (BitLocker, LUKS,
// ReFS, btrfs, swap, …), so that callers can tell a user why a volume shows
// no files.
package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/exfat"
	"github.com/grainvm/grain/fsys/ext4"
	"github.com/grainvm/grain/fsys/fat"
	"github.com/grainvm/grain/fsys/ntfs"
	"github.com/grainvm/grain/fsys/xfs"
)

// ErrUnsupported is returned (wrapped) for a volume whose content grain
// recognises but cannot read.
var ErrUnsupported = errors.New("not supported")

// ErrUnknown is returned (wrapped) for a volume with no recognised
// file system.
var ErrUnknown = errors.New("no known file system")

// Kind is what Identify found on a volume.
type Kind struct {
	Name      string // "ntfs", "fat", "exfat", "ext", "xfs", "bitlocker", "luks", …; "" if nothing
	Supported bool   // grain has a driver for it
	Note      string // for unsupported kinds: why, as a user reads it
}

// signatures of what grain recognises; the first match wins.
var signatures = []struct {
	off   int64
	magic string
	kind  Kind
}{
	{3, "NTFS    ", Kind{Name: "ntfs", Supported: true}},
	{3, "EXFAT   ", Kind{Name: "exfat", Supported: true}},
	{3, "-FVE-FS-", Kind{Name: "bitlocker", Note: "BitLocker-encrypted volume: grain cannot read it without unlocking"}},
	{0, "LUKS\xba\xbe", Kind{Name: "luks", Note: "LUKS-encrypted volume: grain cannot read it"}},
	{0, "SKUL\xba\xbe", Kind{Name: "luks", Note: "LUKS2-encrypted volume: grain cannot read it"}},
	{3, "ReFS\x00\x00\x00\x00", Kind{Name: "refs", Note: "ReFS is not supported yet"}},
	{0, "XFSB", Kind{Name: "xfs", Supported: true}},
	{0x10040, "_BHRfS_M", Kind{Name: "btrfs", Note: "btrfs is not supported yet"}},
	{4086, "SWAPSPACE2", Kind{Name: "swap", Note: "Linux swap space: holds no files"}},
	{4086, "SWAP-SPACE", Kind{Name: "swap", Note: "Linux swap space: holds no files"}},
	{0x218, "LVM2 001", Kind{Name: "lvm2", Note: "LVM2 physical volume: its logical volumes are listed separately"}},
	{0x418, "LVM2 001", Kind{Name: "lvm2", Note: "LVM2 physical volume: its logical volumes are listed separately"}},
	{0x8001, "CD001", Kind{Name: "iso9660", Note: "ISO 9660 is not supported yet"}},
	{0x400, "H+", Kind{Name: "hfsplus", Note: "HFS+ is not supported"}},
}

// Identify reads the signatures on a volume.
func Identify(r io.ReaderAt, size int64) (Kind, error) {
	buf := make([]byte, 0x10080)
	n, err := r.ReadAt(buf[:min(int64(len(buf)), size)], 0)
	if err != nil && err != io.EOF && int64(n) < min(int64(len(buf)), size) {
		return Kind{}, fmt.Errorf("probe: reading the volume's first sectors: %w", err)
	}
	buf = buf[:n]
	at := func(off int64, magic string) bool {
		return off+int64(len(magic)) <= int64(len(buf)) && string(buf[off:off+int64(len(magic))]) == magic
	}
	for _, s := range signatures {
		if at(s.off, s.magic) {
			return s.kind, nil
		}
	}
	// ext2/3/4: magic 0xEF53 at byte 1080 of the superblock.
	if at(1080, "\x53\xef") {
		return Kind{Name: "ext", Supported: true}, nil
	}
	if isFAT(buf) {
		return Kind{Name: "fat", Supported: true}, nil
	}
	if len(buf) >= 512 && allZero(buf[:512]) && (len(buf) < 4096 || allZero(buf[:4096])) {
		return Kind{Note: "no file system (the first sectors are empty)"}, nil
	}
	return Kind{Note: "unknown content"}, nil
}

// isFAT tells a FAT boot sector from other x86 boot code: a jump, the
// 0x55AA signature, and a BIOS parameter block whose geometry is sane.
func isFAT(b []byte) bool {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xAA {
		return false
	}
	if b[0] != 0xEB && b[0] != 0xE9 && b[0] != 0xE8 {
		return false
	}
	bps := binary.LittleEndian.Uint16(b[11:])
	spc := b[13]
	reserved := binary.LittleEndian.Uint16(b[14:])
	fats := b[16]
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || reserved == 0 || fats == 0 {
		return false
	}
	return bytes.Equal(b[54:57], []byte("FAT")) || bytes.Equal(b[82:85], []byte("FAT")) || b[21] >= 0xF0 || b[21] == 0xF8
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Open identifies the file system on a volume and opens it.
func Open(r io.ReaderAt, size int64) (fsys.FS, Kind, error) {
	return OpenWith(r, size, Options{})
}

// Options control how OpenWith opens a volume.
type Options struct {
	// IgnoreJournal reads ext3/ext4 volumes as they are, without replaying
	// a journal that needs recovery.
	IgnoreJournal bool
}

// OpenWith is Open with options.
func OpenWith(r io.ReaderAt, size int64, opts Options) (fsys.FS, Kind, error) {
	k, err := Identify(r, size)
	if err != nil {
		return nil, k, err
	}
	if !k.Supported {
		if k.Name == "" {
			return nil, k, fmt.Errorf("probe: %s: %w", k.Note, ErrUnknown)
		}
		return nil, k, fmt.Errorf("probe: %s: %w", k.Note, ErrUnsupported)
	}
	var f fsys.FS
	switch k.Name {
	case "ntfs":
		f, err = openAs(ntfs.Open(r, size))
	case "exfat":
		f, err = openAs(exfat.Open(r, size))
	case "fat":
		f, err = openAs(fat.Open(r, size))
	case "ext":
		f, err = openAs(ext4.OpenWith(r, size, ext4.OpenOptions{IgnoreJournal: opts.IgnoreJournal}))
	case "xfs":
		f, err = openAs(xfs.Open(r, size))
	}
	return f, k, err
}

// openAs drops a typed nil so that a failed open gives a nil interface.
func openAs[T fsys.FS](f T, err error) (fsys.FS, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}
