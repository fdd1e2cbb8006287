package exfat

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/grainvm/grain/fsys/internal/ucs2"
)

// Directory entry types (spec 6.2, EntryType with InUse set).
const (
	typeEndOfDirectory = 0x00
	typeAllocBitmap    = 0x81
	typeUpcaseTable    = 0x82
	typeVolumeLabel    = 0x83
	typeFile           = 0x85
	typeVolumeGUID     = 0xA0
	typeStreamExt      = 0xC0
	typeFileName       = 0xC1

	entryInUse     = 0x80
	entrySecondary = 0x40
)

// File attributes (spec 7.4.4): the Windows FILE_ATTRIBUTE_* values.
const (
	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrDirectory = 0x10
	attrArchive   = 0x20
)

// Stream extension GeneralSecondaryFlags.
const (
	flagAllocationPossible = 0x01
	flagNoFatChain         = 0x02
)

const (
	entrySize = 32
	// maxDirSize is the largest directory the specification allows.
	maxDirSize = 256 << 20
)

// fileEntry is a File directory entry (spec 7.4) with its Stream Extension
// (7.6) and the name from its File Name entries (7.7).
type fileEntry struct {
	SecondaryCount   uint8
	SetChecksum      uint16
	FileAttributes   uint16
	CreateTimestamp  uint32
	LastModified     uint32
	LastAccessed     uint32
	Create10ms       uint8
	LastModified10ms uint8
	CreateUtcOffset  uint8
	LastModUtcOffset uint8
	LastAccUtcOffset uint8
	StreamFlags      uint8
	NameLength       uint8
	NameHash         uint16
	ValidDataLength  uint64
	FirstCluster     uint32
	DataLength       uint64

	name   string
	offset int64 // byte offset of the File entry on the volume
}

func (e *fileEntry) isDir() bool { return e.FileAttributes&attrDirectory != 0 }

// setChecksum is the SetChecksum of an entry set (spec 6.3.3), skipping
// the checksum field itself.
func setChecksum(set []byte) uint16 {
	var sum uint16
	for i, c := range set {
		if i == 2 || i == 3 {
			continue
		}
		sum = (sum>>1 | sum<<15) + uint16(c)
	}
	return sum
}

// rootInfo is what the root directory holds besides files.
type rootInfo struct {
	label      string
	hasLabel   bool
	guid       [16]byte
	hasGUID    bool
	bitmapClus uint32
	bitmapLen  uint64
	hasBitmap  bool
	upcaseClus uint32
	upcaseLen  uint64
	upcaseSum  uint32
	hasUpcase  bool
}

// parseDir parses raw directory data into file entries. offsetOf maps an
// index in data to a volume offset. Entry sets that are incomplete or whose
// SetChecksum does not match are skipped and reported through bad.
func parseDir(out []fileEntry, data []byte, offsetOf func(int) int64, root *rootInfo, bad func(string)) []fileEntry {
	le := binary.LittleEndian
	for i := 0; i+entrySize <= len(data); {
		b := data[i : i+entrySize]
		t := b[0]
		if t == typeEndOfDirectory {
			break
		}
		if t&entryInUse == 0 || t&entrySecondary != 0 {
			i += entrySize
			continue
		}
		switch t {
		case typeAllocBitmap:
			if root != nil && !root.hasBitmap && b[1]&1 == 0 { // the first bitmap
				root.bitmapClus, root.bitmapLen, root.hasBitmap = le.Uint32(b[20:]), le.Uint64(b[24:]), true
			}
		case typeUpcaseTable:
			if root != nil {
				root.upcaseSum, root.upcaseClus, root.upcaseLen, root.hasUpcase = le.Uint32(b[4:]), le.Uint32(b[20:]), le.Uint64(b[24:]), true
			}
		case typeVolumeLabel:
			if root != nil {
				n := min(int(b[1]), 11)
				u := make([]uint16, n)
				for k := range u {
					u[k] = le.Uint16(b[2+2*k:])
				}
				root.label, root.hasLabel = string(utf16.Decode(u)), true
			}
		case typeVolumeGUID:
			if root != nil && setChecksum(b) == le.Uint16(b[2:]) {
				copy(root.guid[:], b[6:22])
				root.hasGUID = true
			}
		case typeFile:
			n := int(b[1])
			end := i + (n+1)*entrySize
			if n < 2 || n > 18 || end > len(data) {
				bad(fmt.Sprintf("entry set at 0x%x: %d secondary entries", offsetOf(i), n))
				i += entrySize
				continue
			}
			set := data[i:end]
			if setChecksum(set) != le.Uint16(b[2:]) {
				bad(fmt.Sprintf("entry set at 0x%x: SetChecksum mismatch", offsetOf(i)))
				i += entrySize
				continue
			}
			e, err := parseSet(set)
			if err != nil {
				bad(fmt.Sprintf("entry set at 0x%x: %v", offsetOf(i), err))
				i += entrySize
				continue
			}
			e.offset = offsetOf(i)
			out = append(out, e)
			i = end
			continue
		}
		i += entrySize
	}
	return out
}

// parseSet decodes a checked entry set: File, Stream Extension, File Names.
func parseSet(set []byte) (fileEntry, error) {
	le := binary.LittleEndian
	var e fileEntry
	e.SecondaryCount = set[1]
	e.SetChecksum = le.Uint16(set[2:])
	e.FileAttributes = le.Uint16(set[4:])
	e.CreateTimestamp = le.Uint32(set[8:])
	e.LastModified = le.Uint32(set[12:])
	e.LastAccessed = le.Uint32(set[16:])
	e.Create10ms = set[20]
	e.LastModified10ms = set[21]
	e.CreateUtcOffset = set[22]
	e.LastModUtcOffset = set[23]
	e.LastAccUtcOffset = set[24]
	s := set[32:64]
	if s[0] != typeStreamExt {
		return e, fmt.Errorf("second entry is type 0x%02x, not a stream extension", s[0])
	}
	e.StreamFlags = s[1]
	e.NameLength = s[3]
	e.NameHash = le.Uint16(s[4:])
	e.ValidDataLength = le.Uint64(s[8:])
	e.FirstCluster = le.Uint32(s[20:])
	e.DataLength = le.Uint64(s[24:])
	if e.NameLength == 0 {
		return e, fmt.Errorf("empty name")
	}
	names := (int(e.NameLength) + 14) / 15
	if 1+names > int(e.SecondaryCount) {
		return e, fmt.Errorf("name of %d characters needs %d name entries, set has %d secondaries", e.NameLength, names, e.SecondaryCount-1)
	}
	var ubuf [255 + 15]uint16 // NameLength is at most 255
	u := ubuf[:0]
	for k := 0; k < names; k++ {
		ne := set[64+32*k:]
		if ne[0] != typeFileName {
			return e, fmt.Errorf("entry %d is type 0x%02x, not a file name", k+2, ne[0])
		}
		for j := 0; j < 15; j++ {
			u = append(u, le.Uint16(ne[2+2*j:]))
		}
	}
	var nbuf [255 * 3]byte
	e.name = string(ucs2.Append(nbuf[:0], u[:e.NameLength]))
	if e.ValidDataLength > e.DataLength {
		return e, fmt.Errorf("ValidDataLength %d beyond DataLength %d", e.ValidDataLength, e.DataLength)
	}
	return e, nil
}

// exfatTime decodes a timestamp (spec 7.4.8), its 10 ms increment and its
// UTC offset. With a valid offset the result is the instant in UTC; without
// one the local time is taken as UTC. A zero or invalid timestamp is the
// zero time.
func exfatTime(ts uint32, inc10ms uint8, off uint8) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	sec := int(ts&0x1F) * 2
	min := int(ts >> 5 & 0x3F)
	hour := int(ts >> 11 & 0x1F)
	day := int(ts >> 16 & 0x1F)
	month := int(ts >> 21 & 0x0F)
	year := 1980 + int(ts>>25)
	if day == 0 || month == 0 || month > 12 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}
	}
	ms := 0
	if inc10ms <= 199 {
		sec += int(inc10ms) / 100
		ms = int(inc10ms) % 100 * 10
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, ms*int(time.Millisecond), time.UTC)
	if off&0x80 != 0 {
		q := int(int8(off<<1) >> 1) // 7-bit signed count of 15 minutes
		t = t.Add(-time.Duration(q) * 15 * time.Minute)
	}
	return t
}
