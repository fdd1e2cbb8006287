package fat

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grainvm/grain/fsys/internal/ucs2"
)

// Directory entry attributes (spec 6, DIR_Attr); the values are the
// Windows FILE_ATTRIBUTE_* bits of the same names.
const (
	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLongName  = 0x0F
	attrLongMask  = 0x3F
)

// NT reserved byte (DIR_NTRes, offset 12) flags written by Windows NT and
// later for 8.3 names whose base or extension is all lower case.
const (
	ntLowerBase = 0x08
	ntLowerExt  = 0x10
)

const (
	dirEntrySize = 32
	// maxDirSize is the largest directory the specification allows:
	// 65,536 entries of 32 bytes.
	maxDirSize    = 65536 * dirEntrySize
	lastLongEntry = 0x40
)

// dirEntry is one 32-byte short (8.3) directory entry, as the
// specification names its fields.
type dirEntry struct {
	Name         [11]byte
	Attr         uint8
	NTRes        uint8
	CrtTimeTenth uint8
	CrtTime      uint16
	CrtDate      uint16
	LstAccDate   uint16
	FstClusHI    uint16
	WrtTime      uint16
	WrtDate      uint16
	FstClusLO    uint16
	FileSize     uint32
}

func parseDirEntry(b []byte) dirEntry {
	le := binary.LittleEndian
	var d dirEntry
	copy(d.Name[:], b)
	d.Attr = b[11]
	d.NTRes = b[12]
	d.CrtTimeTenth = b[13]
	d.CrtTime = le.Uint16(b[14:])
	d.CrtDate = le.Uint16(b[16:])
	d.LstAccDate = le.Uint16(b[18:])
	d.FstClusHI = le.Uint16(b[20:])
	d.WrtTime = le.Uint16(b[22:])
	d.WrtDate = le.Uint16(b[24:])
	d.FstClusLO = le.Uint16(b[26:])
	d.FileSize = le.Uint32(b[28:])
	return d
}

// entry is a parsed directory entry with its name resolved.
type entry struct {
	name  string // the long name if valid, else the 8.3 name (as stored)
	short string // the 8.3 name
	// nameAt and shortAt locate the names in the buffer parseDir filled;
	// setNames turns them into name and short.
	nameAt, shortAt span
	d               dirEntry
	cluster         uint32
	offset          int64 // byte offset of the 8.3 entry on the volume
	dotEntry        bool
}

func (e *entry) isDir() bool { return e.d.Attr&attrDirectory != 0 }

// span is a range of a buffer of names.
type span struct{ at, n int32 }

func (sp span) of(s string) string { return s[sp.at : sp.at+sp.n] }
func (sp span) in(b []byte) []byte { return b[sp.at : sp.at+sp.n] }

// setNames sets name and short of entries from names, the buffer parseDir
// filled turned into one string: one allocation for a whole directory.
func setNames(entries []entry, names string) {
	for i := range entries {
		e := &entries[i]
		e.name, e.short = e.nameAt.of(names), e.shortAt.of(names)
	}
}

// shortChecksum is the checksum of an 8.3 name that its long-name entries
// carry (spec 7.2).
func shortChecksum(name []byte) uint8 {
	var s uint8
	for _, c := range name[:11] {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// shortName renders the 11-byte 8.3 name, honouring the 0x05 escape and
// the NT lower-case flags. Bytes of 0x80 and above are code page 437.
func shortName(raw [11]byte, ntres uint8) string {
	var buf [48]byte
	return string(appendShortName(buf[:0], &raw, ntres))
}

// appendShortName appends the rendered 8.3 name to b (see shortName).
func appendShortName(b []byte, raw *[11]byte, ntres uint8) []byte {
	base, ext := raw[:8], raw[8:11]
	for len(base) > 0 && base[len(base)-1] == ' ' {
		base = base[:len(base)-1]
	}
	for len(ext) > 0 && ext[len(ext)-1] == ' ' {
		ext = ext[:len(ext)-1]
	}
	b = appendOEM(b, base, ntres&ntLowerBase != 0, raw[0] == 0x05)
	if len(ext) > 0 {
		b = append(b, '.')
		b = appendOEM(b, ext, ntres&ntLowerExt != 0, false)
	}
	return b
}

// appendOEM appends code page 437 bytes as UTF-8, ASCII letters lowered
// if lower is set; escaped5 says the first byte 0x05 stands for 0xE5.
func appendOEM(b, s []byte, lower, escaped5 bool) []byte {
	for i, c := range s {
		if i == 0 && escaped5 {
			c = 0xE5
		}
		switch {
		case c >= 0x80:
			b = utf8.AppendRune(b, cp437[c-0x80])
		case lower && 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return b
}

// oemString decodes code page 437 bytes.
func oemString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(cp437[c-0x80])
		}
	}
	return sb.String()
}

var cp437 = []rune("\u00c7\u00fc\u00e9\u00e2\u00e4\u00e0\u00e5\u00e7\u00ea\u00eb\u00e8\u00ef\u00ee\u00ec\u00c4\u00c5" +
	"\u00c9\u00e6\u00c6\u00f4\u00f6\u00f2\u00fb\u00f9\u00ff\u00d6\u00dc\u00a2\u00a3\u00a5\u20a7\u0192" +
	"\u00e1\u00ed\u00f3\u00fa\u00f1\u00d1\u00aa\u00ba\u00bf\u2310\u00ac\u00bd\u00bc\u00a1\u00ab\u00bb" +
	"\u2591\u2592\u2593\u2502\u2524\u2561\u2562\u2556\u2555\u2563\u2551\u2557\u255d\u255c\u255b\u2510" +
	"\u2514\u2534\u252c\u251c\u2500\u253c\u255e\u255f\u255a\u2554\u2569\u2566\u2560\u2550\u256c\u2567" +
	"\u2568\u2564\u2565\u2559\u2558\u2552\u2553\u256b\u256a\u2518\u250c\u2588\u2584\u258c\u2590\u2580" +
	"\u03b1\u00df\u0393\u03c0\u03a3\u03c3\u00b5\u03c4\u03a6\u0398\u03a9\u03b4\u221e\u03c6\u03b5\u2229" +
	"\u2261\u00b1\u2265\u2264\u2320\u2321\u00f7\u2248\u00b0\u2219\u00b7\u221a\u207f\u00b2\u25a0\u00a0")

// lfnState assembles a long name from its entries, which precede the 8.3
// entry in reverse order: the entry with the 0x40 flag and the highest
// ordinal first, ordinal 1 last.
type lfnState struct {
	units  []uint16 // 13 UTF-16 units per entry, by ordinal
	count  int      // number of entries announced by the first one
	next   int      // ordinal expected next; 0 when complete
	sum    uint8
	active bool
}

func (s *lfnState) reset() { s.active = false }

// add feeds one long-name entry.
func (s *lfnState) add(b []byte) {
	ord := int(b[0])
	sum := b[13]
	if ord&lastLongEntry != 0 {
		n := ord & 0x1F
		if n == 0 || n > 20 || ord&0x80 != 0 {
			s.reset()
			return
		}
		s.active, s.count, s.next, s.sum = true, n, n, sum
		if cap(s.units) < n*13 {
			s.units = make([]uint16, n*13)
		}
		s.units = s.units[:n*13]
	}
	if !s.active || ord&^lastLongEntry != s.next || sum != s.sum || s.next == 0 {
		s.reset()
		return
	}
	// The first cluster field of a long entry must be zero.
	if binary.LittleEndian.Uint16(b[26:]) != 0 {
		s.reset()
		return
	}
	u := s.units[(s.next-1)*13:]
	for i := 0; i < 5; i++ {
		u[i] = binary.LittleEndian.Uint16(b[1+2*i:])
	}
	for i := 0; i < 6; i++ {
		u[5+i] = binary.LittleEndian.Uint16(b[14+2*i:])
	}
	for i := 0; i < 2; i++ {
		u[11+i] = binary.LittleEndian.Uint16(b[28+2*i:])
	}
	s.next--
}

// appendName appends the assembled long name to b if the sequence is
// complete and belongs to the 8.3 entry raw (ok), and resets the state.
func (s *lfnState) appendName(b, raw []byte) (_ []byte, ok bool) {
	defer s.reset()
	if !s.active || s.next != 0 || shortChecksum(raw) != s.sum {
		return b, false
	}
	u := s.units
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	// Only the last entry may hold the terminator and padding.
	if len(u) <= (s.count-1)*13 {
		return b, false
	}
	return ucs2.Append(b, u), true
}

// parseDir splits raw directory data (read from the volume at the byte
// offsets given by offsetOf) into entries, appended to entries. Deleted
// entries, volume labels, orphaned long-name entries are skipped; "." and
// ".." are marked. The names are appended to names, which the entries'
// nameAt and shortAt locate (see setNames).
func parseDir(entries []entry, names, data []byte, offsetOf func(int) int64, is32 bool) (_ []entry, _ []byte, label string, hasLabel bool) {
	var lfn lfnState
	for i := 0; i+dirEntrySize <= len(data); i += dirEntrySize {
		b := data[i : i+dirEntrySize]
		switch b[0] {
		case 0x00:
			return entries, names, label, hasLabel
		case 0xE5:
			lfn.reset()
			continue
		}
		if b[11]&attrLongMask == attrLongName {
			lfn.add(b)
			continue
		}
		d := parseDirEntry(b)
		if d.Attr&attrVolumeID != 0 {
			lfn.reset()
			if d.Attr&attrDirectory == 0 && !hasLabel {
				label = strings.TrimRight(oemString(d.Name[:]), " ")
				hasLabel = true
			}
			continue
		}
		if len(names) > 1<<30 { // spans are int32; no directory comes near
			return entries, names, label, hasLabel
		}
		e := entry{d: d, offset: offsetOf(i)}
		start := len(names)
		var long bool
		names, long = lfn.appendName(names, b)
		e.nameAt = span{int32(start), int32(len(names) - start)}
		e.cluster = uint32(d.FstClusLO)
		if is32 {
			e.cluster |= uint32(d.FstClusHI) << 16
		}
		if string(d.Name[:]) == ".          " || string(d.Name[:]) == "..         " {
			e.dotEntry = true
		}
		start = len(names)
		names = appendShortName(names, &d.Name, d.NTRes)
		e.shortAt = span{int32(start), int32(len(names) - start)}
		if !long {
			e.nameAt = e.shortAt
		}
		entries = append(entries, e)
	}
	return entries, names, label, hasLabel
}

// fatTime decodes a FAT date and time (and 10 ms count) as if UTC: FAT
// records local time without a zone. A zero or invalid date is the zero
// time.
func fatTime(date, tm uint16, tenth uint8) time.Time {
	if date == 0 {
		return time.Time{}
	}
	day := int(date & 0x1F)
	month := int(date >> 5 & 0x0F)
	year := 1980 + int(date>>9)
	if day == 0 || month == 0 || month > 12 {
		return time.Time{}
	}
	sec := int(tm&0x1F) * 2
	min := int(tm >> 5 & 0x3F)
	hour := int(tm >> 11)
	if hour > 23 || min > 59 || sec > 59 {
		return time.Time{}
	}
	ms := 0
	if tenth <= 199 {
		sec += int(tenth) / 100
		ms = int(tenth) % 100 * 10
	}
	return time.Date(year, time.Month(month), day, hour, min, sec, ms*int(time.Millisecond), time.UTC)
}
