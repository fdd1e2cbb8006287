//go:build linux

package backup

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/grainvm/grain/restic"
)

// restoreXattrs sets the extended attributes of the entries below target
// and returns how many entries failed (each reported). Nothing outside
// target is touched and no symbolic link is followed: every folder on the
// way is opened with O_NOFOLLOW from the one above it, starting at
// target; regular files and folders get their attributes through their
// own descriptor (opened with O_NOFOLLOW), other entries (symbolic links,
// devices, fifos) through lsetxattr on /proc/self/fd/DIR/NAME, which does
// not follow the last element (as restic's lsetxattr on the path).
// Namespaces other than user.* are set only when running as root (the
// kernel refuses them otherwise); they are counted in one note.
func restoreXattrs(target string, xs []xattrEntry, report func(string, error)) int {
	if len(xs) == 0 {
		return 0
	}
	rep := func(p string, err error) {
		if report != nil {
			report(p, err)
		}
	}
	top, err := unix.Open(target, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		rep(target, fmt.Errorf("backup: restore: extended attributes not set: open %s: %w", target, err))
		return len(xs)
	}
	w := &xattrWriter{root: os.Geteuid() == 0, stack: []openedDir{{rel: "", fd: top}}}
	defer w.closeAll()
	failed := 0
	for _, x := range xs {
		if err := w.set(x); err != nil {
			failed++
			rep("/"+x.src, fmt.Errorf("extended attributes: %w", err))
		}
	}
	if w.skipped > 0 {
		rep(target, fmt.Errorf("note: %d extended attributes outside the user.* namespace not restored (needs root)", w.skipped))
	}
	if w.unsupported > 0 {
		rep(target, fmt.Errorf("note: the target's file system holds no extended attributes: %d entries restored without theirs", w.unsupported))
	}
	return failed
}

type openedDir struct {
	rel string // "" for the target
	fd  int
}

type xattrWriter struct {
	root  bool
	stack []openedDir // the target, then each folder down to the last one used

	skipped, unsupported int
}

func (w *xattrWriter) closeAll() {
	for _, d := range w.stack {
		unix.Close(d.fd)
	}
	w.stack = nil
}

// dir returns a descriptor of the folder rel ("" for the target), opening
// each element below the deepest open ancestor without following links.
func (w *xattrWriter) dir(rel string) (int, error) {
	for len(w.stack) > 1 {
		top := w.stack[len(w.stack)-1].rel
		if rel == top || strings.HasPrefix(rel, top+"/") {
			break
		}
		unix.Close(w.stack[len(w.stack)-1].fd)
		w.stack = w.stack[:len(w.stack)-1]
	}
	cur := w.stack[len(w.stack)-1]
	if cur.rel == rel {
		return cur.fd, nil
	}
	rest := strings.TrimPrefix(rel, cur.rel)
	rest = strings.TrimPrefix(rest, "/")
	for _, part := range strings.Split(rest, "/") {
		next := part
		if cur.rel != "" {
			next = cur.rel + "/" + part
		}
		fd, err := unix.Openat(cur.fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open folder %s in the target: %w", next, err)
		}
		cur = openedDir{rel: next, fd: fd}
		w.stack = append(w.stack, cur)
	}
	return cur.fd, nil
}

// set writes x's attributes, trying every one; the errors are joined.
func (w *xattrWriter) set(x xattrEntry) error {
	dirRel, base := "", x.rel
	if i := strings.LastIndexByte(x.rel, '/'); i >= 0 {
		dirRel, base = x.rel[:i], x.rel[i+1:]
	}
	dfd, err := w.dir(dirRel)
	if err != nil {
		return err
	}
	var attrs []restic.ExtendedAttribute
	for _, a := range x.attrs {
		if !w.root && !strings.HasPrefix(a.Name, "user.") {
			w.skipped++
			continue
		}
		attrs = append(attrs, a)
	}
	if len(attrs) == 0 {
		return nil
	}
	var setOne func(name string, value []byte) error
	switch x.typ {
	case restic.NodeTypeFile, restic.NodeTypeDir:
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
		want := uint32(unix.S_IFREG)
		if x.typ == restic.NodeTypeDir {
			flags |= unix.O_DIRECTORY
			want = unix.S_IFDIR
		}
		fd, err := unix.Openat(dfd, base, flags, 0)
		if err == nil {
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT != want {
				return fmt.Errorf("%s in the target is not a %s", x.rel, x.typ)
			}
			setOne = func(name string, value []byte) error {
				err := unix.Fsetxattr(fd, name, value, 0)
				if errors.Is(err, unix.EACCES) && !w.root && st.Mode&0o200 == 0 {
					// A read-only file of our own: restic sets attributes
					// before the mode; here the mode is lifted for a moment.
					if unix.Fchmod(fd, st.Mode&0o7777|0o200) == nil {
						err = unix.Fsetxattr(fd, name, value, 0)
						unix.Fchmod(fd, st.Mode&0o7777)
					}
				}
				return err
			}
			break
		}
		if !errors.Is(err, unix.EACCES) {
			return fmt.Errorf("open %s in the target: %w", x.rel, err)
		}
		fallthrough // unreadable: by its path below the open folder
	default:
		p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
		setOne = func(name string, value []byte) error { return unix.Lsetxattr(p, name, value, 0) }
	}
	var errs []error
	for _, a := range attrs {
		err := setOne(a.Name, a.Value)
		if errors.Is(err, unix.ENOTSUP) {
			// As restic: a file system without attributes is no error.
			w.unsupported++
			return nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.Name, err))
		}
	}
	return errors.Join(errs...)
}
