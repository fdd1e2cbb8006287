package ntfs

import (
	"encoding/binary"
	"strings"
)

// Reparse tags (winnt.h IO_REPARSE_TAG_*).
const (
	TagMountPoint = 0xA0000003
	TagSymlink    = 0xA000000C
	TagDedup      = 0x80000013
	TagWOF        = 0x80000017
	TagWCI        = 0x80000018
	TagCloud      = 0x9000001A
	TagAppExec    = 0x8000001B
	TagLXSymlink  = 0xA000001D
)

// symlinkFlagRelative marks a relative symbolic link.
const symlinkFlagRelative = 1

// WOF providers and algorithms.
const (
	wofProviderWIM  = 1
	wofProviderFile = 2

	wofXpress4K  = 0
	wofLZX       = 1
	wofXpress8K  = 2
	wofXpress16K = 3
)

// reparsePoint is a decoded $REPARSE_POINT.
type reparsePoint struct {
	Tag        uint32
	Substitute string
	Print      string
	Relative   bool
	// WOF
	WofProvider  uint32
	WofAlgorithm uint32
	wofOK        bool
	// LX symlink (WSL)
	LXTarget string
}

func parseReparse(b []byte) (reparsePoint, bool) {
	var rp reparsePoint
	if len(b) < 8 {
		return rp, false
	}
	rp.Tag = binary.LittleEndian.Uint32(b[0:])
	dl := int(binary.LittleEndian.Uint16(b[4:]))
	d := b[8:]
	if dl < len(d) {
		d = d[:dl]
	}
	names := func(hdr int) {
		if len(d) < hdr {
			return
		}
		so, sl := int(binary.LittleEndian.Uint16(d[0:])), int(binary.LittleEndian.Uint16(d[2:]))
		po, pl := int(binary.LittleEndian.Uint16(d[4:])), int(binary.LittleEndian.Uint16(d[6:]))
		buf := d[hdr:]
		if so+sl <= len(buf) {
			rp.Substitute = decodeUTF16(buf[so : so+sl])
		}
		if po+pl <= len(buf) {
			rp.Print = decodeUTF16(buf[po : po+pl])
		}
	}
	switch rp.Tag {
	case TagSymlink:
		if len(d) >= 12 {
			rp.Relative = binary.LittleEndian.Uint32(d[8:])&symlinkFlagRelative != 0
		}
		names(12)
	case TagMountPoint:
		names(8)
	case TagWOF:
		if len(d) >= 16 {
			rp.WofProvider = binary.LittleEndian.Uint32(d[4:])
			rp.WofAlgorithm = binary.LittleEndian.Uint32(d[12:])
			rp.wofOK = binary.LittleEndian.Uint32(d[0:]) == 1
		} else if len(d) >= 8 {
			rp.WofProvider = binary.LittleEndian.Uint32(d[4:])
		}
	case TagLXSymlink:
		if len(d) >= 4 && binary.LittleEndian.Uint32(d[0:]) == 2 {
			rp.LXTarget = string(d[4:])
		}
	}
	return rp, true
}

// target is the link target as Windows shows it: the print name, else the
// substitute name without its NT "\??\" prefix.
func (rp *reparsePoint) target() string {
	switch rp.Tag {
	case TagSymlink, TagMountPoint:
		if rp.Print != "" {
			return rp.Print
		}
		return strings.TrimPrefix(rp.Substitute, `\??\`)
	case TagLXSymlink:
		return rp.LXTarget
	}
	return ""
}

// isLink says whether the reparse point is presented as a symbolic link.
func (rp *reparsePoint) isLink() bool {
	switch rp.Tag {
	case TagSymlink, TagMountPoint, TagLXSymlink:
		return true
	}
	return false
}
