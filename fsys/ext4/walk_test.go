package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// agree checks that Walk (without and with Sys asked for) and WalkDir
// (without, with and with some Infos asked for) list what the descent
// lists, or all fail.
func agree(t *testing.T, v *FS, root string, skip func(string) bool) int {
	t.Helper()
	n := drivertest.Agree(t, v, root, skip, false, true)
	for _, every := range []int{0, 1, 7} {
		drivertest.AgreeDir(t, v, root, skip, every)
	}
	return n
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
	got, _ := drivertest.WalkSkip(v, ".", nil, false)
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
	if _, err := v.OpenInfo("tiny", drivertest.MetaOnly{M: &m}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenInfo with a stale generation: %v", err)
	}
	if _, err := v.OpenInfo("x", drivertest.MetaOnly{}); err == nil {
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
		for _, in := range []fs.FileInfo{info, drivertest.MetaOnly{M: fsys.MetaOf(info)}} {
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

func TestFlagsString(t *testing.T) {
	for _, fl := range []uint32{0, flagExtents, flagExtents | flagIndex, flagInlineData, 0x12345, 0xFFFFFFFF} {
		if got, want := flagsString(fl), fmt.Sprintf("%#x", fl); got != want {
			t.Errorf("flagsString(%#x) = %s", fl, got)
		}
	}
}
