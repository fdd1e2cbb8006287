// Package lzx decompresses LZX as Windows' WOF (System Compression,
// "LZX" = FILE_PROVIDER_COMPRESSION_LZX) and WIM files store it: every
// chunk of at most 32 KiB is compressed on its own, with a 32 KiB window,
// no LZX DELTA extensions, and x86 CALL (E8) translation always applied
// with the fixed "file size" 12000000.
//
// The format is that of "Microsoft LZX Data Compression Format" (1997, for
// cabinet files) as corrected by [MS-PATCH] "LZX DELTA Compression and
// Decompression", restricted as WIM/WOF use it (the details were checked
// against wimlib's documentation and decoder):
//
//   - the bit stream is 16-bit little-endian words read from the most
//     significant bit; there is no E8 header bit or file size in the
//     stream (cabinet LZX has one);
//   - a chunk is a series of blocks: 3 bits of type (1 verbatim, 2 aligned
//     offset, 3 uncompressed), then 1 bit that says the block holds 32768
//     bytes, or else 16 bits of size;
//   - verbatim and aligned blocks carry the main tree (496 symbols: 256
//     literals and 30 offset slots × 8 length headers) and the length tree
//     (249 symbols), each coded as deltas from the previous block's lengths
//     with a 20-symbol pretree; aligned blocks first give 8 3-bit aligned
//     offset code lengths;
//   - an uncompressed block aligns the stream to 16 bits (skipping a whole
//     word when already aligned), gives the three recent offsets R0–R2 as
//     32-bit integers and then the bytes, padded to an even count;
//   - matches are 2 to 257 bytes long, offsets use the three-entry
//     recent-offset queue (starting as 1, 1, 1 in every chunk), and no match
//     crosses the end of its block.
//
// After decoding, E8 translation is undone over the chunk: for each 0xE8
// byte that starts before the chunk's last 10 bytes, the following 32-bit
// absolute target is turned back into a relative one.
//
// Decoding allocates nothing per symbol (Huffman tables are fixed-size,
// table-driven), never writes past the destination, and takes time bounded
// by the input and output sizes.
package lzx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/grainvm/grain/internal/compress/internal/huffman"
)

// ErrFormat is wrapped by every error that reports invalid compressed data.
var ErrFormat = errors.New("lzx: invalid compressed data")

// WindowSize is the largest chunk Decompress handles.
const WindowSize = 32768

const (
	numChars         = 256
	numLenHeaders    = 8 // length headers per offset slot in the main code
	numPrimaryLens   = 7 // length header 7 means "read the length tree"
	minMatch         = 2
	numOffsetSlots   = 30 // for a 32 KiB window
	mainSyms         = numChars + numOffsetSlots*numLenHeaders
	lenSyms          = 249
	alignedSyms      = 8
	preSyms          = 20
	numRecentOffsets = 3
	defaultBlockSize = 32768
	offsetAdjust     = 2 // formatted offsets are real offsets + 2
	alignedBits      = 3
	e8FileSize       = 12000000

	blockVerbatim     = 1
	blockAligned      = 2
	blockUncompressed = 3

	maxCodeLen      = 16
	maxPreLen       = 15
	maxAlignedLen   = 7
	lensOverrun     = 50 // a pretree run may reach this far past the end
	mainPrimary     = 11
	lenPrimary      = 10
	preTablePrimary = 8
)

// Offset slots: the first formatted offset of each and its extra bits.
var (
	slotBase  [numOffsetSlots]uint32
	slotExtra [numOffsetSlots]uint8
)

func init() {
	base := uint32(0)
	for s := range numOffsetSlots {
		extra := uint8(0)
		if s >= 4 {
			extra = uint8(s/2 - 1)
		}
		slotBase[s], slotExtra[s] = base, extra
		base += 1 << extra
	}
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// bitReader reads the LZX bit stream. pos counts the bytes loaded into buf
// (words past the end of src load as zeros, and pos goes on counting them),
// so the stream's bit position is pos*8 - n.
type bitReader struct {
	src []byte
	pos int
	buf uint64 // the next n bits, from bit 63 down
	n   uint
}

func (r *bitReader) fill() {
	for r.n <= 48 {
		var w uint64
		if r.pos+2 <= len(r.src) {
			w = uint64(binary.LittleEndian.Uint16(r.src[r.pos:]))
		}
		r.buf |= w << (48 - r.n)
		r.n += 16
		r.pos += 2
	}
}

// bits reads k (<= 32) bits.
func (r *bitReader) bits(k uint) uint32 {
	if k == 0 {
		return 0
	}
	if r.n < k {
		r.fill()
	}
	v := uint32(r.buf >> (64 - k))
	r.buf <<= k
	r.n -= k
	return v
}

// decode reads one symbol of t; ok is false when no codeword matches.
func (r *bitReader) decode(t *huffman.Table) (uint16, bool) {
	if r.n < 16 {
		r.fill()
	}
	sym, l := t.Decode(uint32(r.buf >> 48))
	r.buf <<= l
	r.n -= uint(l)
	return sym, l != 0
}

// overrun reports whether bits past the end of the input were consumed.
func (r *bitReader) overrun() bool {
	return r.pos*8-int(r.n) > len(r.src)*8
}

// align moves to the next 16-bit boundary, or past the next 16 bits when
// already on one, and returns the byte position reached, emptying buf so
// that raw bytes can be read from there.
func (r *bitReader) align() int {
	var p int
	if r.n%16 == 0 {
		p = r.pos - int(r.n/8) + 2 // on a boundary: skip a whole word
	} else {
		p = r.pos - 2*int(r.n/16) // drop the rest of the current word
	}
	r.buf, r.n = 0, 0
	r.pos = p
	return p
}

// decoder holds the Huffman state of one chunk.
type decoder struct {
	main, length, aligned, pre huffman.Table
	mainLens                   [mainSyms + lensOverrun]uint8
	lenLens                    [lenSyms + lensOverrun]uint8
	alignedLens                [alignedSyms]uint8
	r                          bitReader
}

// Decompress decodes one WOF LZX chunk (window 32 KiB, as Windows' WOF
// writes it) from src into dst; len(dst) is the exact expected size.
func Decompress(dst, src []byte) (int, error) {
	if len(dst) > WindowSize {
		return 0, fmt.Errorf("lzx: chunk of %d bytes larger than the %d-byte window", len(dst), WindowSize)
	}
	d := decoder{r: bitReader{src: src}}
	recent := [numRecentOffsets]uint32{1, 1, 1}
	out := 0
	for block := 0; out < len(dst); block++ {
		btype := d.r.bits(3)
		size := defaultBlockSize
		if d.r.bits(1) == 0 {
			size = int(d.r.bits(16))
		}
		if d.r.overrun() {
			return out, formatErr("block %d: header beyond end of input", block)
		}
		if size > len(dst)-out {
			return out, formatErr("block %d: %d bytes beyond end of chunk (%d of %d written)", block, size, out, len(dst))
		}
		switch btype {
		case blockAligned:
			for i := range d.alignedLens {
				d.alignedLens[i] = uint8(d.r.bits(3))
			}
			if err := d.aligned.Build(d.alignedLens[:], maxAlignedLen, maxAlignedLen); err != nil {
				return out, formatErr("block %d: invalid aligned offset tree: %v", block, err)
			}
			fallthrough
		case blockVerbatim:
			if err := d.readLens(d.mainLens[:], numChars); err != nil {
				return out, formatErr("block %d: main tree literals: %v", block, err)
			}
			if err := d.readLens(d.mainLens[numChars:], mainSyms-numChars); err != nil {
				return out, formatErr("block %d: main tree matches: %v", block, err)
			}
			if err := d.main.Build(d.mainLens[:mainSyms], mainPrimary, maxCodeLen); err != nil {
				return out, formatErr("block %d: invalid main tree: %v", block, err)
			}
			if err := d.readLens(d.lenLens[:], lenSyms); err != nil {
				return out, formatErr("block %d: length tree: %v", block, err)
			}
			if err := d.length.Build(d.lenLens[:lenSyms], lenPrimary, maxCodeLen); err != nil {
				return out, formatErr("block %d: invalid length tree: %v", block, err)
			}
			if d.r.overrun() {
				return out, formatErr("block %d: trees beyond end of input", block)
			}
			n, err := d.block(dst[:out+size], out, btype == blockAligned, &recent)
			if err != nil {
				return n, formatErr("block %d: %v", block, err)
			}
			out = n
		case blockUncompressed:
			p := d.r.align()
			if len(src)-p < 12 {
				return out, formatErr("block %d: uncompressed block header beyond end of input", block)
			}
			for i := range recent {
				recent[i] = binary.LittleEndian.Uint32(src[p+4*i:])
				if recent[i] == 0 {
					return out, formatErr("block %d: recent offset R%d is 0", block, i)
				}
			}
			p += 12
			if len(src)-p < size {
				return out, formatErr("block %d: %d uncompressed bytes beyond end of input", block, size)
			}
			out += copy(dst[out:out+size], src[p:p+size])
			p += size + size&1
			d.r.pos = p
		default:
			return out, formatErr("block %d: invalid block type %d", block, btype)
		}
	}
	if d.r.overrun() {
		return out, formatErr("input truncated")
	}
	undoE8(dst[:out])
	return out, nil
}

// readLens reads n codeword lengths into lens (which has room for a run
// that overshoots, as real decoders allow) as deltas from their values
// there, with a pretree read first.
func (d *decoder) readLens(lens []uint8, n int) error {
	var preLens [preSyms]uint8
	for i := range preLens {
		preLens[i] = uint8(d.r.bits(4))
	}
	if err := d.pre.Build(preLens[:], preTablePrimary, maxPreLen); err != nil {
		return fmt.Errorf("invalid pretree: %v", err)
	}
	for i := 0; i < n; {
		sym, ok := d.r.decode(&d.pre)
		if !ok {
			return errors.New("invalid pretree symbol")
		}
		var run int
		var v uint8
		switch sym {
		case 17:
			run = 4 + int(d.r.bits(4))
		case 18:
			run = 20 + int(d.r.bits(5))
		case 19:
			run = 4 + int(d.r.bits(1))
			s, ok := d.r.decode(&d.pre)
			if !ok || s > 16 {
				return errors.New("invalid pretree symbol in run")
			}
			v = (lens[i] + 17 - uint8(s)) % 17
		default:
			lens[i] = (lens[i] + 17 - uint8(sym)) % 17
			i++
			continue
		}
		for ; run > 0; run-- {
			lens[i] = v
			i++
		}
	}
	return nil
}

// block decodes a verbatim or aligned offset block from out to len(dst).
func (d *decoder) block(dst []byte, out int, aligned bool, recent *[numRecentOffsets]uint32) (int, error) {
	r := &d.r
	for out < len(dst) {
		sym, ok := r.decode(&d.main)
		if !ok {
			return out, fmt.Errorf("invalid main tree symbol at %d", out)
		}
		if sym < numChars {
			dst[out] = byte(sym)
			out++
			continue
		}
		sym -= numChars
		length := int(sym % numLenHeaders)
		slot := int(sym / numLenHeaders)
		if length == numPrimaryLens {
			l, ok := r.decode(&d.length)
			if !ok {
				return out, fmt.Errorf("invalid length tree symbol at %d", out)
			}
			length += int(l)
		}
		length += minMatch
		var offset uint32
		if slot < numRecentOffsets {
			offset = recent[slot]
			recent[slot] = recent[0]
			recent[0] = offset
		} else {
			extra := uint(slotExtra[slot])
			offset = slotBase[slot]
			if aligned && extra >= alignedBits {
				offset += r.bits(extra-alignedBits) << alignedBits
				a, ok := r.decode(&d.aligned)
				if !ok {
					return out, fmt.Errorf("invalid aligned offset symbol at %d", out)
				}
				offset += uint32(a)
			} else {
				offset += r.bits(extra)
			}
			offset -= offsetAdjust
			recent[2] = recent[1]
			recent[1] = recent[0]
			recent[0] = offset
		}
		if length > len(dst)-out {
			return out, fmt.Errorf("match of %d bytes at %d crosses the end of the block", length, out)
		}
		if uint64(offset) > uint64(out) || offset == 0 {
			return out, fmt.Errorf("match offset %d at %d before start of chunk", offset, out)
		}
		// Overlapping copies repeat the pattern: each copy can take
		// what the previous ones wrote.
		from, end := out-int(offset), out+length
		for out < end {
			out += copy(dst[out:end], dst[from:out])
		}
		if r.overrun() {
			return out, errors.New("input truncated")
		}
	}
	return out, nil
}

// undoE8 turns the absolute x86 CALL targets the encoder wrote back into
// relative ones.
func undoE8(b []byte) {
	if len(b) <= 10 {
		return
	}
	for i := 0; i < len(b)-10; i++ {
		if b[i] != 0xe8 {
			continue
		}
		abs := int32(binary.LittleEndian.Uint32(b[i+1:]))
		pos := int32(i)
		switch {
		case abs >= 0 && abs < e8FileSize:
			binary.LittleEndian.PutUint32(b[i+1:], uint32(abs-pos))
		case abs < 0 && abs >= -pos:
			binary.LittleEndian.PutUint32(b[i+1:], uint32(abs+e8FileSize))
		}
		i += 4
	}
}
