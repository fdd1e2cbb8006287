package xpress

import "encoding/binary"

// Decompress decodes plain LZ77 (MS-XCA 2.3–2.4 "Plain LZ77") from src into
// dst and returns the number of bytes written. The stream is 32-bit flag
// words (read from the most significant bit: 0 = literal byte, 1 = 16-bit
// match token) with their items; it ends where the input ends, normally at
// a match flag with no token left. Output beyond len(dst) is an error.
func Decompress(dst, src []byte) (int, error) {
	var (
		in, out   int
		flags     uint32
		flagCount int
		halfByte  = -1 // position of the byte whose high nibble is pending
	)
	for {
		if flagCount == 0 {
			if len(src)-in < 4 {
				// The input ends between items: an encoder always
				// writes a final flag word, but a stream cut at a flag
				// word boundary holds nothing more either way.
				if in == len(src) {
					return out, nil
				}
				return out, formatErr("plain: flag word at offset %d truncated", in)
			}
			flags = binary.LittleEndian.Uint32(src[in:])
			in += 4
			flagCount = 32
		}
		flagCount--
		if flags&(1<<flagCount) == 0 {
			if in >= len(src) {
				return out, nil // the literal run ends with the input
			}
			if out >= len(dst) {
				return out, formatErr("plain: output beyond %d bytes", len(dst))
			}
			dst[out] = src[in]
			in++
			out++
			continue
		}
		if in == len(src) {
			return out, nil // end of data
		}
		if len(src)-in < 2 {
			return out, formatErr("plain: match token at offset %d truncated", in)
		}
		token := int(binary.LittleEndian.Uint16(src[in:]))
		in += 2
		length := token & 7
		offset := token>>3 + 1
		if length == 7 {
			if halfByte < 0 {
				if in >= len(src) {
					return out, formatErr("plain: match length at offset %d truncated", in)
				}
				length = int(src[in] & 15)
				halfByte = in
				in++
			} else {
				length = int(src[halfByte] >> 4)
				halfByte = -1
			}
			if length == 15 {
				if in >= len(src) {
					return out, formatErr("plain: match length at offset %d truncated", in)
				}
				length = int(src[in])
				in++
				if length == 255 {
					if len(src)-in < 2 {
						return out, formatErr("plain: match length at offset %d truncated", in)
					}
					length = int(binary.LittleEndian.Uint16(src[in:]))
					in += 2
					if length == 0 {
						if len(src)-in < 4 {
							return out, formatErr("plain: match length at offset %d truncated", in)
						}
						length = int(min(binary.LittleEndian.Uint32(src[in:]), 1<<30)) // past any destination
						in += 4
					}
					if length < 15+7 {
						return out, formatErr("plain: match length %d too small at offset %d", length, in)
					}
					length -= 15 + 7
				}
				length += 15
			}
			length += 7
		}
		length += minMatch
		if offset > out {
			return out, formatErr("plain: match offset %d before start of output %d", offset, out)
		}
		if length > len(dst)-out {
			return out, formatErr("plain: match of %d bytes beyond end of output at %d", length, out)
		}
		copyMatch(dst, out, offset, length)
		out += length
	}
}
