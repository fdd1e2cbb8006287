// Package lznt1 decompresses LZNT1, the compression NTFS uses for files
// with the compressed attribute, as specified in [MS-XCA] section 2.5
// ("LZNT1 Algorithm Details").
//
// An NTFS compression unit (usually 16 clusters) is stored as a sequence of
// chunks. Each chunk starts with a 16-bit little-endian header: bits 0–11
// hold the chunk's total size (header included) minus 3, bit 15 says the
// chunk is compressed, and bits 12–14 carry a signature (3) that is not
// checked here. A chunk decompresses to at most 4096 bytes; a header of
// zero, or the end of the input, ends the unit. A compressed chunk is a
// series of flag bytes, each followed by eight items: a literal byte (flag
// bit 0) or a 16-bit copy token (flag bit 1) whose split between offset and
// length bits depends on how far into the chunk the decoder is.
//
// A chunk that decompresses to fewer than 4096 bytes and is followed by
// another chunk is padded with zeros to 4096, as Windows and ntfs-3g do; the
// last chunk of a unit may be short, and Decompress then returns the shorter
// count (the NTFS reader zero-fills the rest of the unit).
//
// The package only decompresses; it never allocates and never writes past
// the destination buffer.
package lznt1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// ErrFormat is wrapped by every error that reports invalid compressed data.
var ErrFormat = errors.New("lznt1: invalid compressed data")

// ChunkSize is the most a chunk decompresses to.
const ChunkSize = 4096

const (
	headerSizeMask   = 0x0fff // chunk size minus 3
	headerCompressed = 0x8000 // chunk holds compressed data
)

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Decompress decodes one LZNT1 compression unit (a sequence of chunks with
// 2-byte headers; a chunk may be stored uncompressed; a zero header ends the
// unit) from src into dst and returns the number of bytes written. dst is
// sized by the caller to the expected uncompressed size (e.g. 16 clusters);
// output beyond len(dst) is an error, and a unit that ends early returns the
// shorter count (the caller zero-fills).
func Decompress(dst, src []byte) (int, error) {
	in, out := 0, 0
	for chunk := 0; ; chunk++ {
		if len(src)-in < 2 {
			return out, nil // end of input: the unit ends here
		}
		h := binary.LittleEndian.Uint16(src[in:])
		if h == 0 {
			return out, nil
		}
		size := int(h&headerSizeMask) + 3
		if size > len(src)-in {
			return out, formatErr("chunk %d at offset %d: size %d beyond end of input (%d bytes)", chunk, in, size, len(src))
		}
		// Every chunk after the first starts at a 4096-byte boundary of
		// the output: a short chunk before it is padded with zeros.
		if start := chunk * ChunkSize; out < start {
			if start > len(dst) {
				return out, formatErr("chunk %d: output offset %d beyond destination (%d bytes)", chunk, start, len(dst))
			}
			clear(dst[out:start])
			out = start
		}
		data := src[in+2 : in+size]
		limit := min(len(dst), out+ChunkSize)
		var n int
		var err error
		if h&headerCompressed == 0 {
			if len(data) > limit-out {
				return out, formatErr("chunk %d at offset %d: %d stored bytes beyond destination (%d bytes)", chunk, in, len(data), len(dst))
			}
			n = copy(dst[out:], data)
		} else {
			n, err = decodeChunk(dst[out:limit], data, limit-out < ChunkSize && limit == len(dst))
			if err != nil {
				return out + n, fmt.Errorf("%w: chunk %d at offset %d: %v", ErrFormat, chunk, in, err)
			}
		}
		out += n
		in += size
	}
}

var (
	errOffset   = errors.New("copy offset before start of chunk")
	errOverflow = errors.New("output beyond destination")
	errChunk    = errors.New("chunk decompresses to more than 4096 bytes")
	errToken    = errors.New("truncated copy token")
)

// decodeChunk decodes one compressed chunk's data into dst (at most 4096
// bytes, or fewer where the caller's buffer ends: then short says an
// overflow is a destination overflow, not a chunk overflow).
func decodeChunk(dst, src []byte, short bool) (int, error) {
	overflow := errChunk
	if short {
		overflow = errOverflow
	}
	in, out := 0, 0
	for in < len(src) {
		flags := src[in]
		in++
		for bit := 0; bit < 8 && in < len(src); bit++ {
			if flags&(1<<bit) == 0 {
				if out >= len(dst) {
					return out, overflow
				}
				dst[out] = src[in]
				out++
				in++
				continue
			}
			if len(src)-in < 2 {
				return out, errToken
			}
			token := int(binary.LittleEndian.Uint16(src[in:]))
			in += 2
			// The offset takes as many bits as the position needs
			// (at least 4); the length takes the rest of the 16.
			shift := 12
			if out > 0x10 {
				shift = 16 - bits.Len(uint(out-1))
			}
			offset := token>>shift + 1
			length := token&(1<<shift-1) + 3
			if offset > out {
				return out, errOffset
			}
			if length > len(dst)-out {
				return out, overflow
			}
			// Where source and destination overlap, the bytes
			// already copied repeat the pattern: each copy can take
			// what the previous ones wrote.
			from, end := out-offset, out+length
			for out < end {
				out += copy(dst[out:end], dst[from:out])
			}
		}
	}
	return out, nil
}
