package exfat

import "unicode"

// upcase maps UTF-16 code units to upper case as the volume's up-case
// table says (spec 7.2). Code units past the table map to themselves.
type upcase []uint16

// tableChecksum is the TableChecksum of an up-case table (spec 7.2.2).
func tableChecksum(b []byte) uint32 {
	var sum uint32
	for _, c := range b {
		sum = (sum>>1 | sum<<31) + uint32(c)
	}
	return sum
}

// decodeUpcase expands a stored up-case table, compressed or not: in the
// compressed form 0xFFFF followed by n stands for n identity mappings.
func decodeUpcase(b []byte) upcase {
	t := make(upcase, 0, 65536)
	for i := 0; i+1 < len(b) && len(t) < 65536; i += 2 {
		v := uint16(b[i]) | uint16(b[i+1])<<8
		if v == 0xFFFF && i+3 < len(b) {
			n := int(uint16(b[i+2]) | uint16(b[i+3])<<8)
			for k := 0; k < n && len(t) < 65536; k++ {
				t = append(t, uint16(len(t)))
			}
			i += 2
			continue
		}
		t = append(t, v)
	}
	return t
}

// defaultUpcase is used when the volume's table cannot be read: Unicode
// simple upper-case mapping of the Basic Multilingual Plane.
func defaultUpcase() upcase {
	t := make(upcase, 65536)
	for i := range t {
		r := unicode.ToUpper(rune(i))
		if r > 0xFFFF || (i >= 0xD800 && i < 0xE000) {
			r = rune(i)
		}
		t[i] = uint16(r)
	}
	return t
}

// fold upper-cases each UTF-16 code unit of s.
func (t upcase) fold(s string) string {
	u := make([]uint16, 0, len(s))
	for _, r := range s {
		if r > 0xFFFF {
			u = append(u, 0xD800+uint16((r-0x10000)>>10), 0xDC00+uint16((r-0x10000)&0x3FF))
			continue
		}
		c := uint16(r)
		if int(c) < len(t) {
			c = t[c]
		}
		u = append(u, c)
	}
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	return string(b)
}
