package ntfs

import "github.com/grainvm/grain/internal/compress/lznt1"

// lznt1Decompressor returns the LZNT1 decoder of one compression unit
// (internal/compress/lznt1).
func lznt1Decompressor() func(dst, src []byte) (int, error) {
	return lznt1.Decompress
}

// xpressDecompressor returns the XPRESS Huffman decoder of one chunk
// (internal/compress/xpress), or nil while it is not available.
func xpressDecompressor() func(dst, src []byte) (int, error) {
	return nil
}

// lzxDecompressor returns the LZX decoder of one 32 KiB chunk
// (internal/compress/lzx), or nil while it is not available.
func lzxDecompressor() func(dst, src []byte) (int, error) {
	return nil
}
