// Package ucs2 decodes the UTF-16 names of FAT long-name entries and exFAT
// File Name entries into UTF-8 without the intermediate []rune of
// utf16.Decode, so that listing a directory costs one allocation per name.
package ucs2

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Append appends the UTF-16 units u to b as UTF-8. A surrogate that is not
// half of a valid pair becomes U+FFFD, as with utf16.Decode.
func Append(b []byte, u []uint16) []byte {
	for i := 0; i < len(u); i++ {
		c := rune(u[i])
		switch {
		case c < utf8.RuneSelf:
			b = append(b, byte(c))
			continue
		case utf16.IsSurrogate(c):
			if i+1 < len(u) {
				if r := utf16.DecodeRune(c, rune(u[i+1])); r != utf8.RuneError {
					b = utf8.AppendRune(b, r)
					i++
					continue
				}
			}
			c = utf8.RuneError
		}
		b = utf8.AppendRune(b, c)
	}
	return b
}
