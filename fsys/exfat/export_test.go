package exfat

import (
	"encoding/binary"
	"unicode/utf16"
)

// TinyVolume lays out a 48 KiB exFAT volume by hand (512-byte sectors and
// clusters): the allocation bitmap in cluster 2, a compressed up-case
// table in 3, the root directory in 4 (label "TINY") and hello.txt in 5,
// modified 2024-05-06 12:34:56.78 at UTC+02:00.
func TinyVolume() []byte {
	le := binary.LittleEndian
	const ss = 512
	b := make([]byte, 96*ss)
	copy(b, []byte{0xEB, 0x76, 0x90})
	copy(b[3:], "EXFAT   ")
	le.PutUint64(b[72:], 96) // VolumeLength
	le.PutUint32(b[80:], 24) // FatOffset
	le.PutUint32(b[84:], 1)  // FatLength
	le.PutUint32(b[88:], 32) // ClusterHeapOffset
	le.PutUint32(b[92:], 64) // ClusterCount
	le.PutUint32(b[96:], 4)  // FirstClusterOfRootDirectory
	le.PutUint32(b[100:], 0x1234ABCD)
	le.PutUint16(b[104:], 0x0100)
	b[108], b[109], b[110], b[111] = 9, 0, 1, 0x80
	le.PutUint16(b[510:], 0xAA55)
	for s := 1; s <= 8; s++ {
		le.PutUint32(b[s*ss+ss-4:], 0xAA550000)
	}
	sum := bootChecksum(b, ss)
	for i := 0; i < ss; i += 4 {
		le.PutUint32(b[11*ss+i:], sum)
	}
	copy(b[12*ss:24*ss], b[:12*ss])
	fat := b[24*ss:]
	le.PutUint32(fat[0:], 0xFFFFFFF8)
	for c := 1; c <= 5; c++ {
		le.PutUint32(fat[4*c:], 0xFFFFFFFF)
	}
	heap := func(c int) []byte { return b[(32+c-2)*ss:] }
	heap(2)[0] = 0x0F // clusters 2-5 in use
	var up []uint16
	up = append(up, 0xFFFF, 'a')
	for c := 'A'; c <= 'Z'; c++ {
		up = append(up, uint16(c))
	}
	up = append(up, 0xFFFF, uint16(65536-0x7B))
	for i, u := range up {
		le.PutUint16(heap(3)[2*i:], u)
	}
	upLen := 2 * len(up)
	root := heap(4)
	root[0], root[1] = typeVolumeLabel, 4
	for i, u := range utf16.Encode([]rune("TINY")) {
		le.PutUint16(root[2+2*i:], u)
	}
	e := root[32:]
	e[0] = typeAllocBitmap
	le.PutUint32(e[20:], 2)
	le.PutUint64(e[24:], 8)
	e = root[64:]
	e[0] = typeUpcaseTable
	le.PutUint32(e[4:], tableChecksum(heap(3)[:upLen]))
	le.PutUint32(e[20:], 3)
	le.PutUint64(e[24:], uint64(upLen))
	set := root[96 : 96+3*32]
	set[0], set[1] = typeFile, 2
	le.PutUint16(set[4:], attrArchive)
	ts := uint32(2024-1980)<<25 | 5<<21 | 6<<16 | 12<<11 | 34<<5 | 56/2
	le.PutUint32(set[8:], ts)
	le.PutUint32(set[12:], ts)
	le.PutUint32(set[16:], ts)
	set[21] = 78       // 780 ms
	set[22] = 0x80 | 8 // UTC+02:00
	set[23] = 0x80 | 8
	set[24] = 0x80 | 8
	s := set[32:]
	s[0], s[1], s[3] = typeStreamExt, flagAllocationPossible|flagNoFatChain, 9
	le.PutUint64(s[8:], 13)
	le.PutUint32(s[20:], 5)
	le.PutUint64(s[24:], 13)
	n := set[64:]
	n[0] = typeFileName
	for i, u := range utf16.Encode([]rune("hello.txt")) {
		le.PutUint16(n[2+2*i:], u)
	}
	le.PutUint16(set[2:], setChecksum(set))
	copy(heap(5), "hello, world\n")
	return b
}
