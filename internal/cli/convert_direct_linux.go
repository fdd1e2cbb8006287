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
