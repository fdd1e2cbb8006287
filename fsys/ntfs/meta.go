package ntfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/grainvm/grain/fsys"
)

// FILE_ATTRIBUTE_* bits.
const (
	FileAttributeReadonly          = 0x00000001
	FileAttributeHidden            = 0x00000002
	FileAttributeSystem            = 0x00000004
	FileAttributeDirectory         = 0x00000010
	FileAttributeArchive           = 0x00000020
	FileAttributeNormal            = 0x00000080
	FileAttributeSparseFile        = 0x00000200
	FileAttributeReparsePoint      = 0x00000400
	FileAttributeCompressed        = 0x00000800
	FileAttributeOffline           = 0x00001000
	FileAttributeNotContentIndexed = 0x00002000
	FileAttributeEncrypted         = 0x00004000
	// fileNameFlagDirectory is set in $FILE_NAME flags of directories.
	fileNameFlagDirectory = 0x10000000
)

// Special values.
const (
	SpecialEncrypted    = "encrypted"
	SpecialDeduplicated = "deduplicated"
	SpecialWOF          = "compressed-wof-unsupported"
	SpecialWIM          = "wim-backed"
	SpecialLZNT1        = "compressed-lznt1-unsupported"
)

// fileInfo is the fs.FileInfo of an NTFS file.
type fileInfo struct {
	name  string
	mode  fs.FileMode
	size  int64
	mtime time.Time
	meta  *fsys.Meta

	ino     *inode
	rp      *reparsePoint
	data    *stream // unnamed $DATA, nil if none
	readErr error   // why the content cannot be read, if it cannot
	wof     *wofStream
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return fi.meta }

// dirEntry adapts fileInfo to fs.DirEntry.
type dirEntry struct{ fi *fileInfo }

func (d dirEntry) Name() string               { return d.fi.name }
func (d dirEntry) IsDir() bool                { return d.fi.IsDir() }
func (d dirEntry) Type() fs.FileMode          { return d.fi.mode.Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.fi, nil }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }

// maxExtents bounds the extents listed in Meta (a pathological runlist
// still reads, but lists only this many).
const maxExtents = 1 << 20

// makeInfo gathers everything NTFS records about a file.
func (v *FS) makeInfo(ino *inode, name string) *fileInfo {
	fi := &fileInfo{name: name, ino: ino}
	m := &fsys.Meta{Inode: ino.num, Generation: uint32(ino.seq)}
	fi.meta = m
	var si standardInformation
	for _, a := range ino.attrs {
		if a.Type == attrStandardInformation && !a.NonResident {
			si, _ = parseStandardInformation(a.Value)
			break
		}
	}
	m.Birth, m.Modify, m.Change, m.Access = ntfsTime(si.Creation), ntfsTime(si.Modification), ntfsTime(si.MFTChange), ntfsTime(si.Access)
	m.Attributes = si.FileAttributes
	if ino.isDir() {
		m.Attributes |= FileAttributeDirectory
	}
	if si.hasV3 {
		m.Extra = append(m.Extra,
			fsys.KV{Key: "security_id", Value: strconv.FormatUint(uint64(si.SecurityID), 10)},
			fsys.KV{Key: "owner_id", Value: strconv.FormatUint(uint64(si.OwnerID), 10)},
			fsys.KV{Key: "usn", Value: strconv.FormatUint(si.USN, 10)})
	}
	for _, fn := range ino.fileNames() {
		if fn.Namespace != nsDOS {
			m.Nlink++
		}
		if fn.Namespace == nsDOS || fn.Namespace == nsWin32DOS {
			m.Extra = append(m.Extra, fsys.KV{Key: "short_name", Value: fn.Name})
		}
	}
	if oid, ok := ino.value(attrObjectID, "", 64); ok && len(oid) >= 16 {
		m.Extra = append(m.Extra, fsys.KV{Key: "object_id", Value: guidString(oid[:16])})
	}
	if ea, ok := ino.value(attrEAInformation, "", 64); ok && len(ea) >= 8 {
		m.Extra = append(m.Extra, fsys.KV{Key: "ea_count", Value: strconv.Itoa(int(binary.LittleEndian.Uint16(ea[2:])))})
	}
	encrypted := si.FileAttributes&FileAttributeEncrypted != 0
	for _, a := range ino.attrs {
		if a.Type == attrLoggedUtilityStream && a.Name == "$EFS" {
			encrypted = true
		}
	}
	// Reparse point.
	if b, ok := ino.value(attrReparsePoint, "", 16<<10); ok {
		if rp, ok := parseReparse(b); ok {
			fi.rp = &rp
			m.ReparseTag = rp.Tag
			m.LinkTarget = rp.target()
			m.Extra = append(m.Extra, fsys.KV{Key: "reparse_tag", Value: fmt.Sprintf("0x%08x", rp.Tag)})
			if rp.Tag == TagSymlink || rp.Tag == TagMountPoint {
				m.Extra = append(m.Extra, fsys.KV{Key: "substitute_name", Value: rp.Substitute})
			}
		}
	}
	// Named streams; the unnamed one.
	seen := map[string]bool{}
	for _, a := range ino.attrs {
		if a.Type != attrData {
			continue
		}
		if a.Name == "" {
			if fi.data == nil {
				s, err := ino.stream(attrData, "")
				if err != nil {
					fi.readErr = err
				} else {
					fi.data = s
				}
			}
			if a.Flags&attrFlagEncrypted != 0 {
				encrypted = true
			}
			continue
		}
		if seen[a.Name] {
			continue
		}
		seen[a.Name] = true
		st := fsys.Stream{Name: a.Name}
		if s, err := ino.stream(attrData, a.Name); err == nil {
			st.Size, st.Allocated = s.size, s.allocated()
		}
		m.Streams = append(m.Streams, st)
	}
	switch {
	case fi.rp != nil && fi.rp.isLink():
		fi.mode = fs.ModeSymlink | 0o777
	case ino.isDir():
		fi.mode = fs.ModeDir | 0o555
	default:
		fi.mode = 0o444
	}
	if fi.data != nil && !ino.isDir() {
		fi.size = fi.data.size
		m.Allocated = fi.data.allocated()
		if fi.data.compUnit != 0 {
			m.Compressed = true
			if v.lznt1 == nil {
				m.Special = SpecialLZNT1
				fi.readErr = &unsupportedError{fmt.Sprintf("MFT record %d: LZNT1-compressed content cannot be decoded (no decompressor)", ino.num)}
			}
		}
		m.Extents = extentsOf(fi.data, v.boot.ClusterSize)
	}
	if fi.rp != nil {
		switch fi.rp.Tag {
		case TagDedup:
			m.Special = SpecialDeduplicated
			fi.readErr = &unsupportedError{fmt.Sprintf("MFT record %d: content is held by Windows Data Deduplication (chunk store), not in the file", ino.num)}
		case TagWOF:
			v.setupWOF(fi)
		}
	}
	if encrypted {
		m.Special = SpecialEncrypted
		fi.readErr = &unsupportedError{fmt.Sprintf("MFT record %d: content is EFS-encrypted", ino.num)}
	}
	m.Size = fi.size
	fi.mtime = m.Modify
	return fi
}

// extentsOf lists where a stream's data lies on the volume.
func extentsOf(s *stream, cs int64) []fsys.Extent {
	if !s.nonRes {
		return nil
	}
	return appendExtents(nil, s.runs, s.size, s.compUnit != 0, cs)
}

// appendExtents appends to out the extents of a non-resident stream of
// size bytes with the given runs; it never merges with what out held.
func appendExtents(out []fsys.Extent, runs []run, size int64, compressed bool, cs int64) []fsys.Extent {
	base := len(out)
	for _, r := range runs {
		if r.LCN == sparseLCN {
			continue
		}
		logical := r.VCN * cs
		length := r.Length * cs
		if !compressed {
			if logical >= size {
				break
			}
			if length > size-logical {
				length = size - logical
			}
		}
		if n := len(out); n > base && out[n-1].Physical+out[n-1].Length == r.LCN*cs && out[n-1].Logical+out[n-1].Length == logical {
			out[n-1].Length += length
			continue
		}
		if len(out)-base >= maxExtents {
			break
		}
		out = append(out, fsys.Extent{Logical: logical, Physical: r.LCN * cs, Length: length})
	}
	return out
}

// guidString formats a little-endian GUID as Windows prints it.
func guidString(b []byte) string {
	return fmt.Sprintf("{%08x-%04x-%04x-%x-%x}",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}
