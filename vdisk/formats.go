package vdisk

import (
	"fmt"
	"sort"
	"strings"

	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhdx"
)

// describeVHDX fills a Layer from a VHDX image. Children name a VHDX parent
// by its DataWriteGuid (MS-VHDX parent_linkage).
func describeVHDX(l *Layer, img *vhdx.Image) {
	l.Format = string(FormatVHDX)
	l.Type = img.Type()
	l.LogicalSectorSize = img.LogicalSectorSize()
	l.PhysicalSectorSize = img.PhysicalSectorSize()
	l.BlockSize = img.BlockSize()
	l.ID = normalizeGUID(img.DataWriteGUID())
	h := img.Header()
	l.IDs = []NamedValue{
		{"DataWriteGuid", l.ID},
		{"FileWriteGuid", normalizeGUID(img.FileWriteGUID())},
		{"Page83Data", guidString(img.Page83())},
		{"SequenceNumber", fmt.Sprint(h.SequenceNumber)},
	}
	log := img.Log()
	switch {
	case log.Ignored:
		l.Log = fmt.Sprintf("dirty, NOT replayed (--ignore-log): %d entries, sequence %d-%d; the view may be inconsistent", log.Entries, log.FirstSequence, log.LastSequence)
	case log.Replayed:
		l.Log = fmt.Sprintf("dirty, replayed in memory: %d entries, sequence %d-%d, %d bytes", log.Entries, log.FirstSequence, log.LastSequence, log.Bytes)
	default:
		l.Log = "clean"
	}
	l.Warnings = append(l.Warnings, img.Warnings()...)
	if !img.HasParent() {
		return
	}
	l.differencing = true
	loc := img.ParentLocator()
	keys := make([]string, 0, len(loc))
	for k := range loc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l.ParentLocators = append(l.ParentLocators, NamedValue{k, loc[k]})
	}
	for _, k := range []string{"parent_linkage", "parent_linkage2"} {
		if v := loc[k]; v != "" {
			l.parent.linkage = append(l.parent.linkage, normalizeGUID(v))
		}
	}
	if len(l.parent.linkage) > 0 {
		l.ParentLinkage = l.parent.linkage[0]
	}
	if v := loc["absolute_win32_path"]; v != "" {
		l.parent.absolute = append(l.parent.absolute, v)
	}
	if v := loc["relative_path"]; v != "" {
		l.parent.relative = append(l.parent.relative, v)
	}
	for _, k := range []string{"absolute_win32_path", "relative_path", "volume_path"} {
		if n := baseName(loc[k]); n != "" && !contains(l.parent.names, n) {
			l.parent.names = append(l.parent.names, n)
		}
	}
}

// describeVHD fills a Layer from a VHD image. Children name a VHD parent by
// its footer's unique ID.
func describeVHD(l *Layer, img *vhd.Image) {
	l.Format = string(FormatVHD)
	l.Type = strings.ToLower(img.Type().String())
	l.LogicalSectorSize = img.LogicalSectorSize()
	l.PhysicalSectorSize = img.PhysicalSectorSize()
	l.BlockSize = img.BlockSize()
	l.ID = UUIDString(img.UniqueID())
	l.IDs = []NamedValue{{"UniqueId", l.ID}}
	l.Warnings = append(l.Warnings, img.Warnings()...)
	if img.Type() != vhd.Differencing {
		return
	}
	l.differencing = true
	l.ParentLinkage = UUIDString(img.ParentUniqueID())
	l.parent.linkage = []string{l.ParentLinkage}
	if n := img.ParentName(); n != "" {
		l.ParentLocators = append(l.ParentLocators, NamedValue{"ParentUnicodeName", n})
	}
	for _, pl := range img.ParentLocators() {
		l.ParentLocators = append(l.ParentLocators, NamedValue{pl.Code, pl.Path})
		if pl.Path == "" {
			continue
		}
		switch pl.Code {
		case "W2ku", "Wi2k":
			l.parent.absolute = append(l.parent.absolute, pl.Path)
		case "W2ru", "Wi2r":
			l.parent.relative = append(l.parent.relative, pl.Path)
		default:
			continue
		}
		if n := baseName(pl.Path); !contains(l.parent.names, n) {
			l.parent.names = append(l.parent.names, n)
		}
	}
	if n := baseName(img.ParentName()); n != "" && !contains(l.parent.names, n) {
		l.parent.names = append(l.parent.names, n)
	}
}

// UUIDString formats a VHD unique ID, stored as an RFC 4122 UUID
// (big-endian fields), as grain prints it.
func UUIDString(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
