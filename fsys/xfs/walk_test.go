package xfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// agree checks that Walk and the descent list the same (paths in the same
// order, names, modes, sizes, times, Meta) or both fail; and so WalkDir
// (without, with and with some Infos asked for during the walk).
func agree(t *testing.T, x *FS, root string, skip func(string) bool) int {
	t.Helper()
	n := drivertest.Agree(t, x, root, skip)
	for _, every := range []int{0, 1, 7} {
		drivertest.AgreeDir(t, x, root, skip, every)
	}
	return n
}

// testOpenInfo opens every regular file from its walk info and from its
// Meta alone, and compares the content with Open's.
func testOpenInfo(t *testing.T, x *FS) {
	var _ fsys.InfoOpener = x
	n := 0
	err := x.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() || n > 500 {
			return nil
		}
		n++
		want, err := fs.ReadFile(x, p)
		if err != nil {
			return nil // unreadable by Open too (realtime, …)
		}
		for _, in := range []fs.FileInfo{info, drivertest.MetaOnly{M: fsys.MetaOf(info)}} {
			f, err := x.OpenInfo(p, in)
			if err != nil {
				return fmt.Errorf("%s: OpenInfo: %v", p, err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, want) {
				return fmt.Errorf("%s: OpenInfo reads %d bytes (%v), Open %d", p, len(got), err, len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no file opened")
	}
	info, err := x.Lstat("hello")
	if err != nil {
		return
	}
	m := *fsys.MetaOf(info)
	m.Generation++
	if _, err := x.OpenInfo("hello", drivertest.MetaOnly{M: &m}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenInfo with a stale generation: %v", err)
	}
	if _, err := x.OpenInfo("x", drivertest.MetaOnly{}); err == nil {
		t.Errorf("OpenInfo without Meta succeeded")
	}
}

// TestWalkHostile damages the fuzz image and checks that the walk and the
// descent agree: the same listing, or both an error.
func TestWalkHostile(t *testing.T) {
	base := fuzzImage(t)
	clean, err := Open(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	agree(t, clean, ".", nil)
	agree(t, clean, "leaf", nil)
	agree(t, clean, ".", func(p string) bool { return p == "leaf" })
	dirIno := must(clean.Lstat("block")).(*fileInfo).ip.ino
	fileIno := must(clean.Lstat("small/a")).(*fileInfo).ip.ino
	off, _ := region(t, base, "dir-block")
	// repoint rewrites the first n named entries of the block directory.
	repoint := func(n int, ino uint64, ftype byte) []byte {
		b := append([]byte(nil), base...)
		blk := b[off : off+clean.dirbs]
		for pos, k := 64, 0; pos < len(blk)-8 && k < n; {
			if be.Uint16(blk[pos:]) == 0xffff {
				pos += int(be.Uint16(blk[pos+2:]))
				continue
			}
			nl := int(blk[pos+8])
			if nl == 0 {
				break
			}
			if !(nl <= 2 && blk[pos+9] == '.') {
				be.PutUint64(blk[pos:], ino)
				if ftype != 0 {
					blk[pos+9+nl] = ftype
				}
				k++
			}
			pos += (8 + 1 + nl + 1 + 2 + 7) &^ 7
		}
		return b
	}
	free := uint64(0) // a free inode after small/a's
	for i := fileIno; i < fileIno+4096; i++ {
		if _, err := clean.inode(i); err != nil && strings.Contains(err.Error(), "free inode") {
			free = i
			break
		}
	}
	if free == 0 {
		t.Fatal("no free inode after small/a")
	}
	for _, c := range []struct {
		name string
		img  []byte
	}{
		{"directory contains itself", repoint(1000, dirIno, 2)},
		{"hard links to a file", repoint(3, fileIno, 1)},
		{"hard link to a directory", repoint(1, must(clean.Lstat("small")).(*fileInfo).ip.ino, 2)},
		{"type says directory, inode is a file", repoint(1, fileIno, 2)},
		{"type says file, inode is a directory", repoint(1, must(clean.Lstat("small")).(*fileInfo).ip.ino, 1)},
		{"inode out of range", repoint(1, 1<<60, 0)},
		{"typed file, inode out of range", repoint(1, 1<<60, 1)},
		{"free inode", repoint(1, free, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, err := Open(bytes.NewReader(c.img), int64(len(c.img)))
			if err != nil {
				t.Fatal(err)
			}
			agree(t, x, ".", nil)
			agree(t, x, "block", nil)
		})
	}
}
