package cli

import (
	"sort"
	"strconv"
	"unicode/utf8"
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
		b = append(b, `,"streams":[`...)
		for i, s := range e.Streams {
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
		b = append(b, ']')
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

// appendJSONString quotes s as encoding/json does: HTML-safe escapes for
// <, > and &, \u escapes for control characters, U+2028 and U+2029, and
// U+FFFD for invalid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
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
	b = append(b, s[start:]...)
	return append(b, '"')
}
