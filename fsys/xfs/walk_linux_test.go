package xfs

import (
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/grainvm/grain/fsys"
)

// TestWalkImages compares Walk with the descent on the built images, and
// (for those the kernel mounts) with a loop mount.
func TestWalkImages(t *testing.T) {
	for _, c := range []struct {
		name  string
		img   func(t *testing.T) string
		mount bool
	}{
		{"v5", func(t *testing.T) string { return buildMounted(t, "v5", "") }, true},
		{"v5-1k", func(t *testing.T) string {
			return buildMounted(t, "v5-1k", "-b size=1024 -m bigtime=0 -i nrext64=1")
		}, true},
		{"v5-isize1k", func(t *testing.T) string { return buildMounted(t, "v5-isize1k", "-i size=1024 -n size=16384") }, true},
		{"v4", func(t *testing.T) string { return buildProto(t, "v4", "-m crc=0") }, false},
		{"v4-noftype", func(t *testing.T) string { return buildProto(t, "v4-noftype", "-m crc=0 -n ftype=0 -b size=1024") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := c.img(t)
			x := openImage(t, img)
			if n := agree(t, x, ".", nil); n < 10 {
				t.Errorf("walked %d names", n)
			}
			agree(t, x, "a", nil)
			agree(t, x, "big", nil)
			agree(t, x, ".", func(p string) bool { return p == "big" || p == "a/b" })
			if c.mount {
				walkVsKernel(t, x, mountRO(t, img))
			}
			testOpenInfo(t, x)
		})
	}
}

// walkVsKernel compares Walk's listing with the kernel's: the same paths,
// and for each the inode, mode, size, link count and times.
func walkVsKernel(t *testing.T, x *FS, mnt string) {
	want := kernelListing(t, mnt, false)
	n := 0
	err := x.Walk(".", func(p string, info fs.FileInfo) error {
		n++
		k, ok := want[p]
		if !ok {
			t.Errorf("%s: walked, not in the mount", p)
			return nil
		}
		delete(want, p)
		st := k.st
		m := fsys.MetaOf(info)
		ts := func(t syscall.Timespec) time.Time { return time.Unix(t.Sec, t.Nsec) }
		if m.Inode != st.Ino || m.UnixMode != st.Mode || m.Nlink != uint32(st.Nlink) || m.Size != st.Size ||
			!info.ModTime().Equal(ts(st.Mtim)) || !m.Change.Equal(ts(st.Ctim)) {
			t.Errorf("%s: walk %v %+v, kernel %+v", p, info, m, st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		t.Errorf("%s: in the mount, not walked", p)
	}
	if n < 3200 {
		t.Errorf("walked %d names", n)
	}
}
