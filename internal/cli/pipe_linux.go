package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// widenPipe raises the kernel buffer of w, when it is a pipe, to 1 MiB
// (or the system's pipe-max-size if lower): a stream of gigabytes then
// costs the writer and the reader a sixteenth of the wake-ups of the
// default 64 KiB buffer. Best effort: errors leave the pipe as it was.
func widenPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return
	}
	for size := 1 << 20; size > 64<<10; size /= 2 {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, size); err == nil {
			return
		}
	}
}
