// Package huffman builds decoding tables for the canonical Huffman codes
// of Microsoft's XPRESS Huffman and LZX formats, whose bit streams are read
// most significant bit first.
//
// A code is given by its codeword lengths (0 = symbol unused). Codewords
// are assigned canonically: shorter codes first, and within one length in
// symbol order. A table decodes the codewords of up to Primary bits with
// one lookup; longer ones (rare by construction) finish with a short
// canonical search over the remaining lengths. Tables are fixed-size
// arrays, so building one allocates nothing.
package huffman

import "errors"

const (
	// MaxLen is the longest codeword supported.
	MaxLen = 16
	// MaxSymbols is the largest alphabet supported.
	MaxSymbols = 512
	// MaxPrimary is the most bits a table resolves in one lookup.
	MaxPrimary = 11
)

// Errors from Build: the lengths do not describe a usable prefix code.
var (
	ErrOversubscribed = errors.New("over-subscribed Huffman code")
	ErrIncomplete     = errors.New("incomplete Huffman code")
	ErrLength         = errors.New("Huffman codeword length out of range")
)

// Table decodes one canonical Huffman code.
type Table struct {
	// primary holds, for each Primary-bit prefix, sym<<5 | len when a
	// codeword of len <= Primary bits matches, or 0 when the codeword is
	// longer (or, in an empty code, absent).
	primary [1 << MaxPrimary]uint16
	// For the slow path: per length, the number of codewords, the first
	// codeword's value and the index of its symbol in sorted.
	count  [MaxLen + 1]uint16
	first  [MaxLen + 1]uint32
	index  [MaxLen + 1]uint16
	sorted [MaxSymbols]uint16
	bits   uint8 // primary bits in use
	max    uint8 // longest codeword
	empty  bool
}

// Build makes t decode the code with the given codeword lengths, resolving
// up to primary bits per lookup (primary <= MaxPrimary). lengths longer than
// maxLen (<= MaxLen) are an error. A code with all lengths zero is accepted
// (some LZX trees are unused), but decoding from it fails; any other code
// must be complete.
func (t *Table) Build(lengths []uint8, primary, maxLen uint8) error {
	if len(lengths) > MaxSymbols || primary > MaxPrimary || maxLen > MaxLen || primary > maxLen {
		return ErrLength
	}
	t.count = [MaxLen + 1]uint16{}
	for _, l := range lengths {
		if l > maxLen {
			return ErrLength
		}
		t.count[l]++
	}
	t.count[0] = 0
	t.bits, t.max = primary, maxLen
	// Kraft sum, in units of 2^-maxLen.
	left := 1
	for l := 1; l <= int(maxLen); l++ {
		left = left<<1 - int(t.count[l])
		if left < 0 {
			return ErrOversubscribed
		}
	}
	t.primary = [1 << MaxPrimary]uint16{}
	if left == 1<<maxLen {
		t.empty = true
		return nil
	}
	t.empty = false
	if left != 0 {
		return ErrIncomplete
	}
	// Canonical first codes and symbol indexes per length.
	code, idx := uint32(0), uint16(0)
	for l := 1; l <= int(maxLen); l++ {
		t.first[l] = code
		t.index[l] = idx
		code = (code + uint32(t.count[l])) << 1
		idx += t.count[l]
	}
	next := t.index
	for sym, l := range lengths {
		if l != 0 {
			t.sorted[next[l]] = uint16(sym)
			next[l]++
		}
	}
	// Fill the primary table with the short codewords.
	for l := 1; l <= int(primary); l++ {
		shift := primary - uint8(l)
		for i := uint16(0); i < t.count[l]; i++ {
			c := (t.first[l] + uint32(i)) << shift
			e := t.sorted[t.index[l]+i]<<5 | uint16(l)
			for j := uint32(0); j < 1<<shift; j++ {
				t.primary[c+j] = e
			}
		}
	}
	return nil
}

// Decode returns the symbol whose codeword starts the 16 bits of window
// (the next bits of the stream, first bit in bit 15) and the codeword's
// length; a length of 0 means no codeword matches (an empty code).
func (t *Table) Decode(window uint32) (sym uint16, n uint8) {
	e := t.primary[window>>(16-uint32(t.bits))]
	if e != 0 {
		return e >> 5, uint8(e & 31)
	}
	if t.empty {
		return 0, 0
	}
	for l := t.bits + 1; l <= t.max; l++ {
		c := window >> (16 - uint32(l))
		if d := c - t.first[l]; d < uint32(t.count[l]) {
			return t.sorted[uint32(t.index[l])+d], l
		}
	}
	return 0, 0
}
