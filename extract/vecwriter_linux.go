package extract

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// newVecWriter returns a vecWriter for w when it is a file or pipe, else
// nil.
func newVecWriter(w io.Writer) *vecWriter {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	return newVecWriterFunc(func(iov [][]byte) (int, error) {
		var n int
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			for {
				n, werr = unix.Writev(int(fd), iov[:min(len(iov), vecMax)])
				if werr != unix.EINTR {
					return werr != unix.EAGAIN
				}
			}
		})
		if werr == nil && err != nil {
			werr = err
		}
		if werr != nil {
			return max(n, 0), &os.PathError{Op: "write", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return 0, io.ErrShortWrite
		}
		return n, nil
	})
}
