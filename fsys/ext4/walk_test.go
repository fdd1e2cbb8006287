package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/fsys"
)

// listed is one name a walk gave.
type listed struct {
	path string
	info fs.FileInfo
}

// descend lists root the slow way: fs.WalkDir, each entry's Info, as
// guest.Image does for drivers without a WalkFS; skip says which
// directories to skip.
func descend(v *FS, root string, skip func(string) bool) ([]listed, error) {
	var out []listed
	err := fs.WalkDir(v, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, listed{p, info})
		if skip != nil && skip(p) {
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	return out, err
}

// walkList lists root with Walk, checking that every directory comes
// before its entries.
func walkList(v *FS, root string, skip func(string) bool) ([]listed, error) {
	return walkListSys(v, root, skip, false)
}

// walkListSys is walkList; with sys set, fn asks each info for its Meta
// (the walk then builds them ahead, in its workers).
func walkListSys(v *FS, root string, skip func(string) bool, sys bool) ([]listed, error) {
	var out []listed
	seen := map[string]bool{}
	err := v.Walk(root, func(p string, info fs.FileInfo) error {
		if p != root {
			parent := p[:max(0, strings.LastIndexByte(p, '/'))]
			if parent == "" {
				parent = "."
			}
			if !seen[parent] {
				return fmt.Errorf("%s listed before its directory %s", p, parent)
			}
		}
		seen[p] = true
		if sys {
			info.Sys()
		}
		out = append(out, listed{p, info})
		if skip != nil && skip(p) && info.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	return out, err
}

// sameListing reports how two listings differ: paths (in order: both walk
// in sorted depth-first order), names, modes, sizes, times and Meta.
func sameListing(t *testing.T, what string, got, want []listed) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: walk lists %d names, descent %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.path != w.path {
			t.Errorf("%s: #%d: walk %s, descent %s", what, i, g.path, w.path)
			return
		}
		gi, wi := g.info, w.info
		if gi.Name() != wi.Name() || gi.Mode() != wi.Mode() || gi.Size() != wi.Size() || !gi.ModTime().Equal(wi.ModTime()) || gi.IsDir() != wi.IsDir() {
			t.Errorf("%s: %s: walk %v, descent %v", what, g.path, gi, wi)
		}
		if gm, wm := fsys.MetaOf(gi), fsys.MetaOf(wi); !reflect.DeepEqual(gm, wm) {
			t.Errorf("%s: %s: Meta\n walk    %+v\n descent %+v", what, g.path, gm, wm)
		}
	}
}

// agree checks that Walk and the descent list the same, or both fail.
func agree(t *testing.T, v *FS, root string, skip func(string) bool) int {
	t.Helper()
	want, werr := descend(v, root, skip)
	var got []listed
	for _, sys := range []bool{false, true} {
		var gerr error
		got, gerr = walkListSys(v, root, skip, sys)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("walk %s: error %v, descent %v", root, gerr, werr)
		}
		if werr == nil {
			sameListing(t, root, got, want)
		} else {
			t.Logf("walk %s: %v; descent: %v", root, gerr, werr)
		}
	}
	return len(got)
}

func TestWalkSmall(t *testing.T) {
	v := openBytes(t, smallImage(t))
	if n := agree(t, v, ".", nil); n < 90 {
		t.Errorf("walked %d names", n)
	}
	agree(t, v, "docs", nil)
	agree(t, v, "many", nil)
	agree(t, v, "tiny", nil)
	agree(t, v, "link", nil) // a link to a file: Stat follows it
	agree(t, v, ".", func(p string) bool { return p == "docs" || p == "many" })
	if err := v.Walk("nope", func(string, fs.FileInfo) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk(nope) = %v", err)
	}
	// An error from fn ends the walk and is returned.
	stop := errors.New("stop")
	n := 0
	err := v.Walk(".", func(string, fs.FileInfo) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Errorf("walk stopped after %d with %v", n, err)
	}
	// SkipDir on a file skips the rest of its directory, as fs.WalkDir.
	agree(t, v, ".", func(p string) bool { return p == "many/a_file_name_of_some_length_5" })
	got, _ := walkList(v, ".", nil)
	var skipped []string
	v.Walk(".", func(p string, info fs.FileInfo) error {
		skipped = append(skipped, p)
		if p == "many/a_file_name_of_some_length_5" {
			return fs.SkipDir
		}
		return nil
	})
	if len(skipped) >= len(got) {
		t.Errorf("SkipDir on a file skipped nothing")
	}
}

// TestWalkHostile damages the small image in the ways a directory walk
// meets and checks that the walk and the descent agree: the same
// listing, or both an error.
func TestWalkHostile(t *testing.T) {
	le := binary.LittleEndian
	entry := func(dir, name string, ino func(v *FS) uint32, typ uint8) func(v *FS, img []byte) {
		return func(v *FS, img []byte) {
			off := direntOffset(t, v, img, dir, name)
			le.PutUint32(img[off:], ino(v))
			if typ != 0 {
				img[off+7] = typ
			}
		}
	}
	ino := func(name string) func(v *FS) uint32 {
		return func(v *FS) uint32 { return inodeOf(t, v, name).Ino }
	}
	fixed := func(n uint32) func(v *FS) uint32 { return func(*FS) uint32 { return n } }
	for _, c := range []struct {
		name string
		edit func(v *FS, img []byte)
	}{
		{"loop", entry("many", "a_file_name_of_some_length_1", ino("many"), ftDir)},
		{"loop to root", entry("many", "a_file_name_of_some_length_2", ino("."), ftDir)},
		{"hard link to a directory", entry("many", "a_file_name_of_some_length_1", ino("docs"), ftDir)},
		{"hard link to a file", entry("many", "a_file_name_of_some_length_1", ino("tiny"), 0)},
		{"type says directory, inode is a file", entry("many", "a_file_name_of_some_length_1", ino("tiny"), ftDir)},
		{"type says directory, inode is a link", entry("many", "a_file_name_of_some_length_1", ino("link"), ftDir)},
		{"type says file, inode is a directory", entry("many", "a_file_name_of_some_length_1", ino("docs"), ftReg)},
		{"unused inode", entry("many", "a_file_name_of_some_length_1", func(v *FS) uint32 { return v.sb.InodesCount - 1 }, 0)},
		{"inode out of range", entry("many", "a_file_name_of_some_length_1", fixed(1<<30), 0)},
		{"inode zero", entry("many", "a_file_name_of_some_length_1", fixed(0), 0)},
		{"rec_len zero", func(v *FS, img []byte) {
			off := direntOffset(t, v, img, "lost+found", "..")
			le.PutUint16(img[off+4:], 0)
		}},
		{"directory inode damaged", func(v *FS, img []byte) {
			off := inodeOffset(v, inodeOf(t, v, "docs").Ino)
			le.PutUint16(img[off+0x28:], 0) // extent magic
		}},
		{"file inode damaged", func(v *FS, img []byte) {
			off := inodeOffset(v, inodeOf(t, v, "tiny").Ino)
			le.PutUint16(img[off+0x80:], 0xFFF) // i_extra_isize
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mutate(t, c.edit)
			agree(t, v, ".", nil)
			agree(t, v, "many", nil)
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

func TestOpenInfo(t *testing.T) {
	v := openBytes(t, smallImage(t))
	if n := checkOpenInfo(t, v, 1000); n < 10 {
		t.Errorf("opened %d files", n)
	}
	// A Meta whose generation no longer matches is refused.
	info, err := v.Lstat("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m := *fsys.MetaOf(info)
	m.Generation++
	if _, err := v.OpenInfo("tiny", metaInfo{&m}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenInfo with a stale generation: %v", err)
	}
	if _, err := v.OpenInfo("x", metaInfo{nil}); err == nil {
		t.Errorf("OpenInfo without Meta succeeded")
	}
}

// checkOpenInfo reads up to max regular files and links through OpenInfo
// (from the walk's info, and from its Meta alone) and through Open, and
// compares; it returns how many it checked.
func checkOpenInfo(t *testing.T, v *FS, max int) int {
	t.Helper()
	var _ fsys.InfoOpener = v
	n := 0
	err := v.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() && info.Mode()&fs.ModeSymlink == 0 || n >= max {
			return nil
		}
		n++
		want, err := fs.ReadFile(v, p)
		if err != nil {
			return err
		}
		// From the walk's info, and from a copy of its Meta alone (what a
		// caller that kept only the Meta has).
		for _, in := range []fs.FileInfo{info, metaInfo{fsys.MetaOf(info)}} {
			f, err := v.OpenInfo(p, in)
			if err != nil {
				return fmt.Errorf("%s: OpenInfo: %v", p, err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || string(got) != string(want) {
				return fmt.Errorf("%s: OpenInfo reads %d bytes (%v), Open %d", p, len(got), err, len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// metaInfo is a FileInfo that carries only a Meta, as one from another
// layer (guest) or a copy would.
type metaInfo struct{ m *fsys.Meta }

func (i metaInfo) Name() string       { return "" }
func (i metaInfo) Size() int64        { return 0 }
func (i metaInfo) Mode() fs.FileMode  { return 0 }
func (i metaInfo) ModTime() time.Time { return time.Time{} }
func (i metaInfo) IsDir() bool        { return false }
func (i metaInfo) Sys() any {
	if i.m == nil {
		return nil
	}
	return i.m
}

func TestFlagsString(t *testing.T) {
	for _, fl := range []uint32{0, flagExtents, flagExtents | flagIndex, flagInlineData, 0x12345, 0xFFFFFFFF} {
		if got, want := flagsString(fl), fmt.Sprintf("%#x", fl); got != want {
			t.Errorf("flagsString(%#x) = %s", fl, got)
		}
	}
}
