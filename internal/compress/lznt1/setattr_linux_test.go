package lznt1

import "syscall"

// setCompressed sets FILE_ATTRIBUTE_COMPRESSED (0x800) on dir, a directory
// on an ntfs-3g mount, through its big-endian attribute xattr.
func setCompressed(dir string) error {
	return syscall.Setxattr(dir, "system.ntfs_attrib_be", []byte{0, 0, 0x08, 0}, 0)
}
