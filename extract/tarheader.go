package extract

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tar headers are formatted here rather than by archive/tar's Writer:
// its WriteHeader costs more than reading a small file (it builds maps of
// PAX records, formats them through fmt and allocates for every header),
// and it runs on the one goroutine that writes the stream. appendTar
// formats into a reused buffer, without allocating, on the read-ahead
// worker of each file. The bytes are the ones archive/tar writes for the
// same Header with Format PAX (its tests compare them): a ustar block
// when every field fits one, else a PAX extended header ('x') with the
// records archive/tar would make, sorted by key, then the ustar block.

const (
	tarBlock   = 512
	tarMaxPAX  = 1 << 20 // archive/tar's limit on an extended header's data
	paxXattr   = "SCHILY.xattr."
	ustarMagic = "ustar\x0000"
)

// tarHeader is what grain puts in one tar entry's header: the fields of
// an archive/tar Header that grain sets (Uname, Gname and the device
// numbers stay empty).
type tarHeader struct {
	typ                 byte // tar.TypeReg, TypeDir, TypeLink or TypeSymlink
	name, link          string
	mode, uid, gid      int64
	size                int64
	mtime, atime, ctime time.Time
	// xattrs become SCHILY.xattr.KEY records; with equal keys the last
	// counts, as when they are set one after the other in a map.
	xattrs []tarXattr
}

type tarXattr struct {
	key   string
	value []byte
}

// errTarHeader is wrapped by the errors of headers archive/tar refuses.
var errTarHeader = errors.New("extract: tar header cannot be written")

// headerOnly types have no content.
func headerOnly(typ byte) bool {
	switch typ {
	case '1', '2', '3', '4', '5', '6':
		return true
	}
	return false
}

// tarPad is the zero padding after size bytes of content.
func tarPad(size int64) int64 { return -size & (tarBlock - 1) }

// fitsOctal reports whether x fits a field of n bytes as octal digits
// and a NUL.
func fitsOctal(n int, x int64) bool {
	return x >= 0 && (n >= 22 || x < 1<<(uint(n-1)*3))
}

// ascii reports whether s is ASCII without NUL (archive/tar's test).
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == 0 {
			return false
		}
	}
	return true
}

// splitUSTAR splits a long ASCII name into the ustar prefix and name
// fields, as archive/tar does.
func splitUSTAR(name string) (prefix, suffix string, ok bool) {
	length := len(name)
	if length <= 100 || !ascii(name) {
		return "", "", false
	} else if length > 155+1 {
		length = 155 + 1
	} else if name[length-1] == '/' {
		length--
	}
	i := strings.LastIndexByte(name[:length], '/')
	nlen, plen := len(name)-i-1, i
	if i <= 0 || nlen > 100 || nlen == 0 || plen > 155 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// appendTar appends h's header blocks to dst.
func appendTar(dst []byte, h *tarHeader) ([]byte, error) {
	if !headerOnly(h.typ) {
		if strings.HasSuffix(h.name, "/") {
			return dst, fmt.Errorf("%w: %s: file name ends in a slash", errTarHeader, h.name)
		}
		if h.size < 0 {
			return dst, fmt.Errorf("%w: %s: size %d", errTarHeader, h.name, h.size)
		}
	}
	if !fitsOctal(8, h.mode) {
		return dst, fmt.Errorf("%w: %s: mode %o", errTarHeader, h.name, h.mode)
	}
	// Which fields need records (archive/tar's allowedFormats).
	nameRec := !ascii(h.name) || len(h.name) > 100
	linkRec := !ascii(h.link) || len(h.link) > 100
	ustar := !linkRec && (!nameRec || splitOK(h.name))
	uidRec, gidRec, sizeRec := !fitsOctal(8, h.uid), !fitsOctal(8, h.gid), !fitsOctal(12, h.size)
	ustar = ustar && !uidRec && !gidRec && !sizeRec
	mtimeRec := false
	if !h.mtime.IsZero() {
		mtimeRec = !fitsOctal(12, h.mtime.Unix()) || h.mtime.Nanosecond() != 0
	}
	atimeRec, ctimeRec := !h.atime.IsZero(), !h.ctime.IsZero()
	ustar = ustar && !mtimeRec && !atimeRec && !ctimeRec && len(h.xattrs) == 0
	if ustar {
		prefix, name, ok := splitUSTAR(h.name)
		if !ok {
			name = h.name
		}
		blk := appendUstar(&dst, h, name, h.link)
		copy(blk[345:345+155], prefix)
		checksum(blk)
		return dst, nil
	}
	if nameRec && strings.IndexByte(h.name, 0) >= 0 || linkRec && strings.IndexByte(h.link, 0) >= 0 {
		return dst, fmt.Errorf("%w: %q: NUL in a name", errTarHeader, h.name)
	}
	// The extended header: its block, then the records, in key order
	// ("SCHILY…" sorts before the lower-case keys).
	start := len(dst)
	dst = append(dst, make([]byte, tarBlock)...)
	if len(h.xattrs) > 0 {
		xs := h.xattrs
		slices.SortStableFunc(xs, func(a, b tarXattr) int { return strings.Compare(a.key, b.key) })
		for i, x := range xs {
			if i+1 < len(xs) && xs[i+1].key == x.key {
				continue // a later one counts
			}
			if strings.IndexByte(x.key, '=') >= 0 || strings.IndexByte(x.key, 0) >= 0 {
				return dst[:start], fmt.Errorf("%w: %s: extended attribute name %q", errTarHeader, h.name, x.key)
			}
			dst = appendPAXRecord(dst, paxXattr, x.key, x.value)
		}
	}
	if atimeRec {
		dst = appendPAXTime(dst, "atime", h.atime)
	}
	if ctimeRec {
		dst = appendPAXTime(dst, "ctime", h.ctime)
	}
	if gidRec {
		dst = appendPAXInt(dst, "gid", h.gid)
	}
	if linkRec {
		dst = appendPAXRecord(dst, "", "linkpath", h.link)
	}
	if mtimeRec {
		dst = appendPAXTime(dst, "mtime", h.mtime)
	}
	if nameRec {
		dst = appendPAXRecord(dst, "", "path", h.name)
	}
	if sizeRec {
		dst = appendPAXInt(dst, "size", h.size)
	}
	if uidRec {
		dst = appendPAXInt(dst, "uid", h.uid)
	}
	n := len(dst) - start - tarBlock
	if n > tarMaxPAX {
		return dst[:start], fmt.Errorf("%w: %s: %d bytes of PAX records", errTarHeader, h.name, n)
	}
	if n > 0 {
		dst = append(dst, make([]byte, tarPad(int64(n)))...)
		writeXHeader(dst[start:start+tarBlock], h.name, int64(n))
	} else {
		dst = dst[:start]
	}
	// The ustar block: names made ASCII, cut to their fields.
	blk := appendUstar(&dst, h, toASCII(h.name), toASCII(h.link))
	checksum(blk)
	return dst, nil
}

// splitOK reports whether a name that needs a record still fits ustar.
func splitOK(name string) bool {
	_, _, ok := splitUSTAR(name)
	return ok
}

// appendUstar appends a ustar block with h's fields (name and link as
// given; fields that do not fit are zero, their records say them) and
// returns it, its checksum not yet set.
func appendUstar(dst *[]byte, h *tarHeader, name, link string) []byte {
	start := len(*dst)
	*dst = append(*dst, make([]byte, tarBlock)...)
	blk := (*dst)[start : start+tarBlock]
	putString(blk[0:100], name)
	putOctal(blk[100:108], h.mode)
	putOctal(blk[108:116], h.uid)
	putOctal(blk[116:124], h.gid)
	putOctal(blk[124:136], h.size)
	mtime := int64(0)
	if !h.mtime.IsZero() {
		mtime = h.mtime.Unix()
	}
	putOctal(blk[136:148], mtime)
	blk[156] = h.typ
	putString(blk[157:257], link)
	copy(blk[257:265], ustarMagic)
	putOctal(blk[329:337], 0) // device numbers
	putOctal(blk[337:345], 0)
	return blk
}

// writeXHeader fills the block of an extended header of n bytes for the
// entry name, as archive/tar names it: DIR/PaxHeaders.0/BASE.
func writeXHeader(blk []byte, name string, n int64) {
	// path.Join(dir, "PaxHeaders.0", file), made ASCII, cut to 100
	// bytes, without trailing slashes.
	dir, file := path.Split(name)
	b := blk[:100]
	var k int
	if joinable(strings.TrimSuffix(name, "/")) {
		k = putASCII(b, 0, dir)
		k = putASCII(b, k, "PaxHeaders.0")
		if file != "" {
			k = putASCII(b, k, "/")
			k = putASCII(b, k, file)
		}
	} else {
		// Not a name grain makes: path.Join cleans it (and allocates).
		k = putASCII(b, 0, path.Join(dir, "PaxHeaders.0", file))
	}
	for k > 0 && b[k-1] == '/' {
		k--
	}
	clear(b[k:])
	putOctal(blk[100:108], 0)
	putOctal(blk[108:116], 0)
	putOctal(blk[116:124], 0)
	putOctal(blk[124:136], n)
	putOctal(blk[136:148], 0)
	blk[156] = 'x'
	copy(blk[257:265], ustarMagic)
	checksum(blk)
}

// putASCII puts the ASCII bytes of s but NUL into b from k on, as many
// as fit, and returns where it stopped.
func putASCII(b []byte, k int, s string) int {
	for i := 0; i < len(s) && k < len(b); i++ {
		if c := s[i]; c < 0x80 && c != 0 {
			b[k] = c
			k++
		}
	}
	return k
}

// joinable reports whether path.Join leaves name's elements as they are:
// none empty, "." or "..".
func joinable(name string) bool {
	for len(name) > 0 {
		elem, rest, more := strings.Cut(name, "/")
		if elem == "" || elem == "." || elem == ".." || more && rest == "" {
			return false
		}
		name = rest
	}
	return true
}

// putString copies s into the field b, NUL-terminated when it is
// shorter; a longer s is cut, and a slash it is cut at is dropped with
// the slashes before it (archive/tar's formatString).
func putString(b []byte, s string) {
	copy(b, s)
	if len(s) < len(b) {
		b[len(s)] = 0
	}
	if len(s) > len(b) && b[len(b)-1] == '/' {
		b[len(strings.TrimRight(s[:len(b)-1], "/"))] = 0
	}
}

// putOctal writes x as zero-padded octal digits and a NUL (zero when x
// does not fit: a record holds it).
func putOctal(b []byte, x int64) {
	if !fitsOctal(len(b), x) {
		x = 0
	}
	n := len(b) - 1
	for i := n - 1; i >= 0; i-- {
		b[i] = byte('0' + x&7)
		x >>= 3
	}
	b[n] = 0
}

// checksum sets the ustar checksum: six octal digits, NUL, space. The
// sum of the bytes (the field counting as spaces) is taken eight at a
// time, in four 16-bit lanes (at most 64 × 510 each).
func checksum(blk []byte) {
	clear(blk[148:156])
	var lanes uint64
	for i := 0; i+8 <= len(blk); i += 8 {
		x := binary.LittleEndian.Uint64(blk[i:])
		lanes += x&0x00ff00ff00ff00ff + x>>8&0x00ff00ff00ff00ff
	}
	sum := int64(lanes&0xffff + lanes>>16&0xffff + lanes>>32&0xffff + lanes>>48)
	putOctal(blk[148:155], sum+8*' ')
	blk[155] = ' '
}

// toASCII drops NULs and non-ASCII bytes (archive/tar's toASCII: every
// byte of a multi-byte or invalid UTF-8 sequence is 0x80 or above).
func toASCII(s string) string {
	if ascii(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 && c != 0 {
			b = append(b, c)
		}
	}
	return string(b)
}

// appendPAXRecord appends "LEN KEY=VALUE\n", KEY being prefix+key, LEN
// the record's own length in decimal.
func appendPAXRecord[V string | []byte](dst []byte, prefix, key string, value V) []byte {
	n := len(prefix) + len(key) + len(value) + 3
	n += decimalLen(n + decimalLen(n))
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	dst = append(dst, prefix...)
	dst = append(dst, key...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	return append(dst, '\n')
}

func decimalLen(n int) int {
	k := 1
	for n >= 10 {
		n /= 10
		k++
	}
	return k
}

func appendPAXInt(dst []byte, key string, x int64) []byte {
	var b [20]byte
	return appendPAXRecord(dst, "", key, strconv.AppendInt(b[:0], x, 10))
}

// appendPAXTime appends a time record: seconds, and the nanoseconds
// without trailing zeros (archive/tar's formatPAXTime).
func appendPAXTime(dst []byte, key string, t time.Time) []byte {
	var b [32]byte
	v := b[:0]
	secs, nsecs := t.Unix(), int64(t.Nanosecond())
	if nsecs == 0 {
		v = strconv.AppendInt(v, secs, 10)
	} else {
		if secs < 0 {
			v = append(v, '-')
			secs, nsecs = -(secs + 1), 1e9-nsecs
		}
		v = strconv.AppendInt(v, secs, 10)
		v = append(v, '.')
		var ns [9]byte
		for i := 8; i >= 0; i-- {
			ns[i] = byte('0' + nsecs%10)
			nsecs /= 10
		}
		k := 9
		for k > 0 && ns[k-1] == '0' {
			k--
		}
		v = append(v, ns[:k]...)
	}
	return appendPAXRecord(dst, "", key, v)
}
