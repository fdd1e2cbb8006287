package ntfs

import "unicode"

// upcaseTable maps each UTF-16 code unit to its upper case, as the volume's
// $UpCase file says.
type upcaseTable []uint16

// defaultUpcase is used when $UpCase cannot be read: Unicode simple upper
// case mapping of the Basic Multilingual Plane.
func defaultUpcase() upcaseTable {
	t := make(upcaseTable, 65536)
	for i := range t {
		t[i] = uint16(i)
		if i < 0xD800 || i > 0xDFFF {
			u := unicode.ToUpper(rune(i))
			if u < 0x10000 {
				t[i] = uint16(u)
			}
		}
	}
	return t
}

func (t upcaseTable) up(c uint16) uint16 {
	if int(c) < len(t) {
		return t[c]
	}
	return c
}

// compare orders two names as the $I30 index does (COLLATION_FILE_NAME):
// code unit by code unit after upper-casing.
func (t upcaseTable) compare(a, b []uint16) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := t.up(a[i]), t.up(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
