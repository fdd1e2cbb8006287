package cli

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openDirect opens f's file a second time for writing with O_DIRECT, or
// returns nil where the file system does not allow it. It reopens through
// /proc/self/fd so that it is the very file f is, whatever became of its
// path.
func openDirect(f *os.File) *os.File {
	d, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return d
}

// mapFile maps n bytes of f at off read-only and shared: the file's page
// cache pages themselves, no copy. unmap releases them.
func mapFile(f *os.File, off, n int64) (b []byte, unmap func(), err error) {
	page := int64(os.Getpagesize())
	delta := off % page
	if n <= 0 || off < 0 || n > 1<<40 {
		return nil, nil, unix.EINVAL
	}
	m, err := unix.Mmap(int(f.Fd()), off-delta, int(n+delta), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil, err
	}
	return m[delta : delta+n], func() { unix.Munmap(m) }, nil
}
