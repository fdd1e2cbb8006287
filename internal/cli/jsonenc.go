package cli

import (
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grainvm/grain/fsys"
)

// appendEntryJSON encodes e exactly as encoding/json would (same field
// order, omitempty rules, escaping and sorted map keys), without
// reflection: listings of a whole volume print hundreds of thousands.
func appendEntryJSON(b []byte, e *entryJSON) []byte {
	b = append(b, `{"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, e.Name)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, `,"mode":`...)
	b = appendJSONString(b, e.Mode)
	b = appendStampField(b, "mtime", e.Modified)
	b = appendStampField(b, "atime", e.Accessed)
	b = appendStampField(b, "ctime", e.Changed)
	b = appendStampField(b, "btime", e.Created)
	b = appendIntField(b, "allocated", e.Allocated)
	if e.Inode != 0 {
		b = append(b, `,"inode":`...)
		b = strconv.AppendUint(b, e.Inode, 10)
	}
	b = appendIntField(b, "generation", int64(e.Generation))
	b = appendIntField(b, "nlink", int64(e.Nlink))
	b = appendStringField(b, "unix_mode", e.UnixMode)
	if e.UID != nil {
		b = append(b, `,"uid":`...)
		b = strconv.AppendUint(b, uint64(*e.UID), 10)
	}
	if e.GID != nil {
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(*e.GID), 10)
	}
	if e.Rdev != 0 {
		b = append(b, `,"rdev":`...)
		b = strconv.AppendUint(b, e.Rdev, 10)
	}
	if len(e.Attributes) > 0 {
		b = append(b, `,"attributes":[`...)
		for i, a := range e.Attributes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = appendStringField(b, "target", e.Target)
	b = appendStringField(b, "reparse_tag", e.ReparseTag)
	b = appendStringField(b, "special", e.Special)
	if len(e.Streams) > 0 {
		streams := make([]fsys.Stream, len(e.Streams))
		for i, s := range e.Streams {
			streams[i] = fsys.Stream(s)
		}
		b = appendStreams(b, streams)
	}
	b = appendMapField(b, "xattrs", e.Xattrs)
	b = appendIntField(b, "extents", int64(e.Extents))
	if e.Compressed {
		b = append(b, `,"compressed":true`...)
	}
	b = appendMapField(b, "extra", e.Extra)
	return append(b, '}')
}

func appendStringField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendStampField(b []byte, key string, v stamp) []byte {
	if v.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return v.appendJSON(b)
}

func appendIntField(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendMapField(b []byte, key string, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":{`...)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// digits2 holds "00" to "99".
const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendJSONString quotes s as encoding/json does: HTML-safe escapes for
// <, > and &, \u escapes for control characters, U+2028 and U+2029, and
// U+FFFD for invalid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s)
	return append(b, '"')
}

// appendJSONStringBody appends s escaped as appendJSONString does,
// without the quotes.
func appendJSONStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// infoEncoder writes a walked file's --json line straight from its
// FileInfo: what appendEntryJSON(describeEntry(p, info, false)) writes,
// without building the entryJSON (no per-file allocations). One encoder
// per goroutine: it remembers what consecutive entries share (their
// directory, the day of their times, their mode).
type infoEncoder struct {
	modes   map[fs.FileMode]string // FileMode.String of the modes seen
	dir     string                 // the last directory prefix escaped…
	dirEsc  []byte                 // …and its escaped form
	days    [4]dayFormat           // the last days formatted
	nextDay int                    // the entry of days to replace next
}

// dayFormat is a day (since 1970) formatted as "2006-01-02T".
type dayFormat struct {
	day int64
	ok  bool
	fmt [11]byte
}

// appendInfo appends the JSON object (no newline) describing info at
// path p.
func (enc *infoEncoder) appendInfo(b []byte, p string, info fs.FileInfo) []byte {
	m := fsys.MetaOf(info)
	q := strings.TrimPrefix(p, "/")
	slash := strings.LastIndexByte(q, '/')
	dir, name := q[:slash+1], q[slash+1:]
	if m != nil && len(m.Xattrs) > 0 || name == "" && p != "." && p != "" {
		// Rare on the volumes listed in bulk: the general path.
		e := describeEntry(p, info, false)
		return appendEntryJSON(b, &e)
	}
	mode := info.Mode()
	b = append(b, `{"path":"/`...)
	if p == "." || p == "" {
		b = append(b, `","name":"/"`...)
	} else {
		// The path is its directory (escaped once for all its entries)
		// and its name, which is also the "name" field.
		if dir != enc.dir {
			enc.dir = dir
			enc.dirEsc = appendJSONStringBody(enc.dirEsc[:0], dir)
		}
		b = append(b, enc.dirEsc...)
		n0 := len(b)
		b = appendJSONStringBody(b, name)
		n1 := len(b)
		b = append(b, `","name":"`...)
		b = append(b, b[n0:n1]...)
		b = append(b, '"')
	}
	b = append(b, `,"type":"`...)
	b = append(b, fileType(mode)...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, info.Size(), 10)
	b = append(b, `,"mode":`...)
	b = appendJSONString(b, enc.modeString(mode))
	mtime := info.ModTime()
	if m != nil && !m.Modify.IsZero() {
		mtime = m.Modify
	}
	b = enc.appendTimeField(b, "mtime", mtime)
	if m == nil {
		return append(b, '}')
	}
	b = enc.appendTimeField(b, "atime", m.Access)
	b = enc.appendTimeField(b, "ctime", m.Change)
	b = enc.appendTimeField(b, "btime", m.Birth)
	b = appendIntField(b, "allocated", m.Allocated)
	if m.Inode != 0 {
		b = append(b, `,"inode":`...)
		b = strconv.AppendUint(b, m.Inode, 10)
	}
	b = appendIntField(b, "generation", int64(m.Generation))
	b = appendIntField(b, "nlink", int64(m.Nlink))
	if m.UnixMode != 0 {
		// "%06o"
		b = append(b, `,"unix_mode":"`...)
		var d [24]byte
		o := strconv.AppendUint(d[:0], uint64(m.UnixMode), 8)
		for range 6 - len(o) {
			b = append(b, '0')
		}
		b = append(b, o...)
		b = append(b, `","uid":`...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
		b = append(b, `,"gid":`...)
		b = strconv.AppendUint(b, uint64(m.GID), 10)
	}
	if m.Rdev != 0 {
		b = append(b, `,"rdev":`...)
		b = strconv.AppendUint(b, m.Rdev, 10)
	}
	if m.Attributes != 0 {
		n := 0
		for _, w := range winAttrs {
			if m.Attributes&w.bit == 0 {
				continue
			}
			if n == 0 {
				b = append(b, `,"attributes":[`...)
			} else {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, w.name...)
			b = append(b, '"')
			n++
		}
		if n > 0 {
			b = append(b, ']')
		}
	}
	b = appendStringField(b, "target", m.LinkTarget)
	if m.ReparseTag != 0 {
		// "0x%08x"
		b = append(b, `,"reparse_tag":"0x`...)
		for sh := 28; sh >= 0; sh -= 4 {
			b = append(b, hexDigits[m.ReparseTag>>sh&0xf])
		}
		b = append(b, '"')
	}
	b = appendStringField(b, "special", m.Special)
	b = appendStreams(b, m.Streams)
	b = appendIntField(b, "extents", int64(len(m.Extents)))
	if m.Compressed {
		b = append(b, `,"compressed":true`...)
	}
	return append(b, '}')
}

// modeString is mode.String(), remembered: a volume uses a few modes.
func (enc *infoEncoder) modeString(mode fs.FileMode) string {
	if s, ok := enc.modes[mode]; ok {
		return s
	}
	s := mode.String()
	if enc.modes == nil {
		enc.modes = map[fs.FileMode]string{}
	}
	if len(enc.modes) < 256 {
		enc.modes[mode] = s
	}
	return s
}

// appendTimeField appends a stamp field as appendStampField does.
func (enc *infoEncoder) appendTimeField(b []byte, key string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':', '"')
	b = enc.appendTime(b, t)
	return append(b, '"')
}

// appendTime appends t.UTC().AppendFormat(b, time.RFC3339Nano) without
// the general layout interpreter, reusing the dates of the last few days
// formatted (a file's times, and a tree's files, share a few days).
func (enc *infoEncoder) appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	day, rem := sec/86400, sec%86400
	if rem < 0 {
		day, rem = day-1, rem+86400
	}
	var df *dayFormat
	for i := range enc.days {
		if enc.days[i].ok && enc.days[i].day == day {
			df = &enc.days[i]
			break
		}
	}
	if df == nil {
		year, month, d := t.UTC().Date()
		if year < 0 || year > 9999 {
			return t.UTC().AppendFormat(b, time.RFC3339Nano)
		}
		df = &enc.days[enc.nextDay]
		enc.nextDay = (enc.nextDay + 1) % len(enc.days)
		*df = dayFormat{day: day, ok: true, fmt: [11]byte{byte('0' + year/1000), byte('0' + year/100%10), byte('0' + year/10%10), byte('0' + year%10), '-',
			byte('0' + month/10), byte('0' + month%10), '-', byte('0' + d/10), byte('0' + d%10), 'T'}}
	}
	b = append(b, df.fmt[:]...)
	hour, min, s := rem/3600, rem/60%60, rem%60
	b = append(b, byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+s/10), byte('0'+s%10))
	if ns := t.Nanosecond(); ns != 0 {
		// Nine digits, two at a time (divisions by constants, no chain
		// of nine).
		var d [10]byte
		d[0] = '.'
		p1, r := ns/10000000, ns%10000000
		p2, r := r/100000, r%100000
		p3, r := r/1000, r%1000
		p4, p5 := r/10, r%10
		copy(d[1:3], digits2[2*p1:])
		copy(d[3:5], digits2[2*p2:])
		copy(d[5:7], digits2[2*p3:])
		copy(d[7:9], digits2[2*p4:])
		d[9] = byte('0' + p5)
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z')
}

// appendStreams appends the "streams" field: named data streams as
// {"name","size","allocated"} objects; nothing when there are none.
func appendStreams(b []byte, streams []fsys.Stream) []byte {
	if len(streams) == 0 {
		return b
	}
	b = append(b, `,"streams":[`...)
	for i, s := range streams {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, s.Name)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, s.Size, 10)
		b = appendIntField(b, "allocated", s.Allocated)
		b = append(b, '}')
	}
	return append(b, ']')
}
