package extract

import (
	"os"

	"golang.org/x/sys/unix"
)

// streamSideFileIsNative: side files are plain files here.
const streamSideFileIsNative = false

// writeStreamAttr stores an NTFS named stream as the extended attribute
// user.grain.stream.NAME of the copied file.
func writeStreamAttr(f *os.File, name string, data []byte) error {
	return unix.Fsetxattr(int(f.Fd()), "user.grain.stream."+name, data, 0)
}
