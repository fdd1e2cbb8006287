//go:build unix

package cli_test

import (
	"io/fs"
	"syscall"
)

// allocated reports a file's size and the bytes it allocates on disk.
func allocated(name string) (size, alloc int64, ok bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return 0, 0, false
	}
	return st.Size, int64(st.Blocks) * 512, true
}

// inodeOf is the inode number of a host file's info.
func inodeOf(info fs.FileInfo) uint64 { return uint64(info.Sys().(*syscall.Stat_t).Ino) }
