package ntfs

import (
	"github.com/grainvm/grain/internal/compress/lznt1"
	"github.com/grainvm/grain/internal/compress/lzx"
	"github.com/grainvm/grain/internal/compress/xpress"
)

// lznt1Decompressor returns the LZNT1 decoder of one compression unit
// (internal/compress/lznt1).
func lznt1Decompressor() func(dst, src []byte) (int, error) {
	return lznt1.Decompress
}

// xpressDecompressor returns the XPRESS Huffman decoder of one chunk
// (internal/compress/xpress).
func xpressDecompressor() func(dst, src []byte) (int, error) {
	return xpress.DecompressHuffman
}

// lzxDecompressor returns the LZX decoder of one 32 KiB chunk
// (internal/compress/lzx).
func lzxDecompressor() func(dst, src []byte) (int, error) {
	return lzx.Decompress
}
