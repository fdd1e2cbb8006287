package lzx_test

import (
	"fmt"

	"github.com/grainvm/grain/internal/compress/lzx"
)

// Decode a chunk holding one uncompressed LZX block: the bits 011 (block
// type 3), 0 (the size follows) and 10 as a 16-bit size, padding to the
// word boundary, the recent offsets R0, R1, R2 = 1, 1, 1, then the bytes.
func ExampleDecompress() {
	src := []byte{
		0x00, 0x60, 0x00, 0xa0, // header bits, as 16-bit little-endian words
		0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		'h', 'e', 'l', 'l', 'o', ',', ' ', 'L', 'Z', 'X',
	}
	dst := make([]byte, 10) // WOF knows each chunk's size
	n, err := lzx.Decompress(dst, src)
	fmt.Println(n, string(dst), err)
	// Output: 10 hello, LZX <nil>
}
