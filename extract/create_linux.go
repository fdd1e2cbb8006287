package extract

import (
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// openDirFile opens the folder a root is, so that files are created in it
// by name (see createIn).
func openDirFile(r *os.Root) (*os.File, int, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, -1, err
	}
	return f, int(f.Fd()), nil
}

// createIn makes the new file name in the folder d (opened through the
// destination's root): one openat of a single name with O_EXCL and
// O_NOFOLLOW, so it never follows a link nor replaces anything, and
// without the set-up os.OpenFile does for files that might be pipes
// (four fcntl and an epoll_ctl per file).
func createIn(d *openDir, name string, perm fs.FileMode) (*os.File, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// chtimesIn sets the times of name in the folder d without following a
// link (a zero time is left as it is): one system call, where os.Root's
// Chtimes first reads the name as a link.
func chtimesIn(d *openDir, name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	if err := unix.UtimesNanoAt(d.fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}
