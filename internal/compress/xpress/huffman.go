// Package xpress decompresses the Xpress formats of [MS-XCA] "Xpress
// Compression Algorithm": LZ77+Huffman ("XPRESS Huffman", sections 2.1 and
// 2.2), which Windows' WOF uses for XPRESS4K/8K/16K compressed files and WIM
// images use for XPRESS resources, and Plain LZ77 (sections 2.3 and 2.4).
//
// LZ77+Huffman data is a series of blocks, each producing up to 65536 bytes:
// 256 bytes of 4-bit codeword lengths for 512 symbols (literals 0–255,
// matches 256–511), then a bit stream of 16-bit little-endian words read
// from the most significant bit, with the extra bytes of long match lengths
// interleaved at the position the word reader has reached. Decoding stops
// when the destination is full: the caller knows the exact uncompressed
// size (a WOF or WIM chunk), so the optional end-of-data symbol is not
// required.
//
// Decoding never allocates per symbol, never writes past the destination,
// and takes time bounded by the destination's size.
package xpress

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/grainvm/grain/internal/compress/internal/huffman"
)

// ErrFormat is wrapped by every error that reports invalid compressed data.
var ErrFormat = errors.New("xpress: invalid compressed data")

const (
	huffBlockSize = 65536 // output bytes per LZ77+Huffman block
	huffTableSize = 256   // bytes of codeword lengths per block
	huffSymbols   = 512
	huffMaxLen    = 15
	huffPrimary   = 11
	minMatch      = 3
)

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// huffReader is the LZ77+Huffman bit reader of [MS-XCA] 2.2.4: bits holds
// the next 16+extra bits at its top; after each read it is refilled by one
// 16-bit word as soon as fewer than 16 bits remain, so that the interleaved
// length bytes are found exactly where the encoder put them.
type huffReader struct {
	src     []byte
	pos     int    // next byte of src (CurrentPosition)
	bits    uint32 // NextBits
	extra   int    // ExtraBitCount: bits held = 16 + extra
	phantom int    // bits loaded from beyond the end of src (as zeros)
}

func (r *huffReader) word() uint32 {
	if len(r.src)-r.pos >= 2 {
		w := uint32(binary.LittleEndian.Uint16(r.src[r.pos:]))
		r.pos += 2
		return w
	}
	r.pos = len(r.src)
	r.phantom += 16
	return 0
}

func (r *huffReader) start(pos int) {
	r.pos = pos
	r.phantom = 0
	r.bits = r.word() << 16
	r.bits |= r.word()
	r.extra = 16
}

func (r *huffReader) consume(n uint8) {
	r.bits <<= n
	r.extra -= int(n)
	if r.extra < 0 {
		r.bits |= r.word() << uint(-r.extra)
		r.extra += 16
	}
}

// overrun reports whether bits from beyond the input were consumed.
func (r *huffReader) overrun() bool {
	return r.phantom > 16+r.extra
}

// DecompressHuffman decodes one LZ77+Huffman ("XPRESS Huffman", MS-XCA
// 2.1–2.2) stream from src into dst; len(dst) is the exact expected
// uncompressed size (WOF chunks are 4, 8 or 16 KiB, the final one shorter).
func DecompressHuffman(dst, src []byte) (int, error) {
	var (
		t    huffman.Table
		lens [huffSymbols]uint8
		r    = huffReader{src: src}
		out  int
	)
	for block := 0; out < len(dst); block++ {
		if len(src)-r.pos < huffTableSize {
			return out, formatErr("block %d at offset %d: Huffman table truncated", block, r.pos)
		}
		for i, b := range src[r.pos : r.pos+huffTableSize] {
			lens[2*i] = b & 15
			lens[2*i+1] = b >> 4
		}
		if err := t.Build(lens[:], huffPrimary, huffMaxLen); err != nil {
			return out, formatErr("block %d: %v", block, err)
		}
		r.start(r.pos + huffTableSize)
		end := min(len(dst), out+huffBlockSize)
		for out < end {
			sym, n := t.Decode(r.bits >> 16)
			if n == 0 {
				return out, formatErr("block %d: undecodable symbol at output %d", block, out)
			}
			r.consume(n)
			if sym < 256 {
				dst[out] = byte(sym)
				out++
				continue
			}
			sym -= 256
			length := int(sym & 15)
			offBits := uint8(sym >> 4)
			if length == 15 {
				if r.pos >= len(src) {
					return out, formatErr("block %d: match length byte beyond end of input", block)
				}
				length = int(src[r.pos])
				r.pos++
				if length == 255 {
					if len(src)-r.pos < 2 {
						return out, formatErr("block %d: match length beyond end of input", block)
					}
					length = int(binary.LittleEndian.Uint16(src[r.pos:]))
					r.pos += 2
					if length == 0 {
						if len(src)-r.pos < 4 {
							return out, formatErr("block %d: match length beyond end of input", block)
						}
						length = int(min(binary.LittleEndian.Uint32(src[r.pos:]), 1<<30)) // past any destination
						r.pos += 4
					}
					if length < 15 {
						return out, formatErr("block %d: match length %d too small", block, length)
					}
					length -= 15
				}
				length += 15
			}
			length += minMatch
			offset := int(r.bits>>(32-uint32(offBits))) + 1<<offBits
			r.consume(offBits)
			if offset > out {
				return out, formatErr("block %d: match offset %d before start of output %d", block, offset, out)
			}
			if length > len(dst)-out {
				return out, formatErr("block %d: match of %d bytes beyond end of output at %d", block, length, out)
			}
			copyMatch(dst, out, offset, length)
			out += length
		}
		if r.overrun() {
			return out, formatErr("block %d: input truncated", block)
		}
	}
	return out, nil
}

// copyMatch copies length bytes from offset bytes back. Where source and
// destination overlap, the bytes already copied repeat the pattern, so each
// copy can take twice as much as the one before.
func copyMatch(dst []byte, out, offset, length int) {
	from := out - offset
	end := out + length
	for out < end {
		out += copy(dst[out:end], dst[from:out])
	}
}
