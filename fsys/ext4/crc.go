package ext4

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the kernel's raw crc32c_le(crc, p): no pre- or post-inversion,
// which is how ext4 chains its metadata checksums.
func crc32c(crc uint32, p []byte) uint32 {
	return ^crc32.Update(^crc, castagnoli, p)
}

// crc32cU32 is crc32c over the 4 little-endian bytes of v, bytewise from
// the table (a byte slice would escape to the heap through crc32.Update).
func crc32cU32(crc, v uint32) uint32 {
	for range 4 {
		crc = castagnoli[byte(crc)^byte(v)] ^ crc>>8
		v >>= 8
	}
	return crc
}

// crc16 is the CRC-16 (polynomial 0x8005, reflected as 0xA001) of the
// old uninit_bg group descriptor checksum (gdt_csum).
func crc16(crc uint16, p []byte) uint16 {
	for _, c := range p {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
