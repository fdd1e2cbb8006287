//go:build linux

package ext4

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/grainvm/grain/fsys"
)

// TestWalkCompareWithKernel checks Walk's listing against a loop mount:
// the same paths, and for each the kernel's inode, type and mode, size,
// link count and times.
func TestWalkCompareWithKernel(t *testing.T) {
	dir := images(t)
	for _, name := range variants {
		if name == "ext4-casefold" {
			continue // the kernel here cannot mount it (no CONFIG_UNICODE)
		}
		t.Run(name, func(t *testing.T) {
			img := imagePath(dir, name)
			v := openImage(t, img)
			mnt := mountRO(t, img)
			want := map[string]syscall.Stat_t{}
			err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				var st syscall.Stat_t
				if err := syscall.Lstat(p, &st); err != nil {
					return err
				}
				rel, _ := filepath.Rel(mnt, p)
				want[filepath.ToSlash(rel)] = st
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = v.Walk(".", func(p string, info fs.FileInfo) error {
				n++
				st, ok := want[p]
				if !ok {
					t.Errorf("%s: walked, not in the mount", p)
					return nil
				}
				delete(want, p)
				m := fsys.MetaOf(info)
				if m.Inode != st.Ino || m.UnixMode != st.Mode || m.Nlink != uint32(st.Nlink) || info.Mode() != mode(st.Mode) ||
					!info.ModTime().Equal(tsTime(st.Mtim)) || !m.Change.Equal(tsTime(st.Ctim)) || m.Allocated != st.Blocks*512 {
					t.Errorf("%s: walk %v %+v, kernel %+v", p, info, m, st)
				}
				if info.Size() != st.Size && (!info.IsDir() || p != ".") {
					t.Errorf("%s: size %d, kernel %d", p, info.Size(), st.Size)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for p := range want {
				t.Errorf("%s: in the mount, not walked", p)
			}
			if n < 1500 {
				t.Errorf("walked %d names", n)
			}
		})
	}
}

// TestWalkImages compares Walk with the descent on every built image,
// whole and for subtrees, with and without skipped directories.
func TestWalkImages(t *testing.T) {
	dir := images(t)
	for _, name := range variants {
		t.Run(name, func(t *testing.T) {
			v := openImage(t, imagePath(dir, name))
			if n := agree(t, v, ".", nil); n < 1500 {
				t.Errorf("walked %d names", n)
			}
			agree(t, v, "a", nil)
			agree(t, v, "big", nil)
			agree(t, v, ".", func(p string) bool { return p == "big" || p == "a/b" })
			if n := checkOpenInfo(t, v, 400); n < 100 {
				t.Errorf("opened %d files", n)
			}
		})
	}
}
