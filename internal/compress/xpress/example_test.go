package xpress_test

import (
	"fmt"

	"github.com/grainvm/grain/internal/compress/xpress"
)

// Decode the second LZ77+Huffman example of [MS-XCA] section 3.2: "abc"
// repeated 100 times, stored as three literals and one long match.
func ExampleDecompressHuffman() {
	src := make([]byte, 256, 263) // the codeword lengths, 4 bits a symbol
	src[48] = 0x30                // 'a': 3 bits
	src[49] = 0x23                // 'b': 3 bits, 'c': 2 bits
	src[128] = 0x02               // 256 (end of data): 2 bits
	src[143] = 0x20               // 287 (match, long length, offset 2–3): 2 bits
	src = append(src, 0xa8, 0xdc, 0x00, 0x00, 0xff, 0x26, 0x01)

	dst := make([]byte, 300)
	n, err := xpress.DecompressHuffman(dst, src)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, string(dst[:12]), string(dst[n-6:]))
	// Output: 300 abcabcabcabc abcabc
}

// Decode the first Plain LZ77 example of [MS-XCA] section 3.1.
func ExampleDecompress() {
	src := append([]byte{0x3f, 0x00, 0x00, 0x00}, "abcdefghijklmnopqrstuvwxyz"...)
	dst := make([]byte, 64)
	n, err := xpress.Decompress(dst, src)
	fmt.Println(n, string(dst[:n]), err)
	// Output: 26 abcdefghijklmnopqrstuvwxyz <nil>
}
