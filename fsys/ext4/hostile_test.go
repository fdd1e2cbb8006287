package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// direntOffset finds the byte offset of the entry called name in the
// blocks of directory dir.
func direntOffset(t *testing.T, v *FS, img []byte, dir, name string) int64 {
	t.Helper()
	rs, err := v.fileRuns(inodeOf(t, v, dir))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for _, r := range rs {
		for k := uint64(0); k < r.Length; k++ {
			base := int64(r.Physical+k) * v.bs
			b := img[base : base+v.bs]
			for off := 0; off+8 <= len(b); {
				rl := int(le.Uint16(b[off+4:]))
				if le.Uint32(b[off:]) != 0 && string(b[off+8:off+8+int(b[off+6])]) == name {
					return base + int64(off)
				}
				if rl < 8 {
					break
				}
				off += rl
			}
		}
	}
	t.Fatalf("no entry %s in %s", name, dir)
	return 0
}

func mutate(t *testing.T, edit func(v *FS, img []byte)) *FS {
	t.Helper()
	img := smallImage(t)
	edit(openBytes(t, img), img)
	return openBytes(t, img)
}

func readAll(v *FS, name string) error {
	f, err := v.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f.(io.Reader))
	return err
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %v, want one saying %q", err, substr)
	}
}

func TestHostileExtentLoop(t *testing.T) {
	le := binary.LittleEndian
	v := mutate(t, func(v *FS, img []byte) {
		in := inodeOf(t, v, "frag")
		ib := inodeOffset(v, in.Ino) + 0x28
		le.PutUint16(img[ib+6:], 2) // root claims depth 2
		child := int64(le.Uint32(in.Block[12+4:]))
		node := img[child*v.bs:]
		le.PutUint16(node[2:], 1) // one entry
		le.PutUint16(node[6:], 1) // depth 1: an index…
		le.PutUint32(node[12:], 0)
		le.PutUint32(node[16:], uint32(child)) // …pointing at itself
		le.PutUint16(node[20:], 0)
	})
	wantErr(t, readAll(v, "frag"), "loop")
	exercise(v)
}

func TestHostileBlockPastVolume(t *testing.T) {
	v := mutate(t, func(v *FS, img []byte) {
		in := inodeOf(t, v, "docs/blocks.txt")
		if in.Flags&flagExtents == 0 {
			t.Fatal("docs/blocks.txt has no extents")
		}
		binary.LittleEndian.PutUint32(img[inodeOffset(v, in.Ino)+0x28+12+8:], 0xFFFFFF00)
	})
	wantErr(t, readAll(v, "docs/blocks.txt"), "beyond")
}

func TestHostileDirectoryContainsItself(t *testing.T) {
	v := mutate(t, func(v *FS, img []byte) {
		off := direntOffset(t, v, img, "many", "a_file_name_of_some_length_1")
		binary.LittleEndian.PutUint32(img[off:], inodeOf(t, v, "many").Ino)
		img[off+7] = ftDir
	})
	_, err := v.Stat("many/a_file_name_of_some_length_1")
	wantErr(t, err, "loop")
	if n := exercise(v); n > 200 {
		t.Errorf("walk visited %d names", n)
	}
}

func TestHostileRecLenZero(t *testing.T) {
	v := mutate(t, func(v *FS, img []byte) {
		off := direntOffset(t, v, img, "lost+found", "..")
		binary.LittleEndian.PutUint16(img[off+4:], 0)
	})
	_, err := v.ReadDir("lost+found")
	wantErr(t, err, "rec_len 0")
}

func TestHostileCounts(t *testing.T) {
	for _, c := range []struct {
		off  int
		val  uint32
		want string
	}{
		{0x0, 0xFFFFFFFF, "inodes"},      // s_inodes_count
		{0x4, 0xFFFFFFFF, "descriptor"},  // s_blocks_count_lo
		{0x28, 0xFFFFFFFF, "inodes per"}, // s_inodes_per_group
		{0x58, 0x8000, "inode size"},     // s_inode_size (u16 + next)
		{0x18, 30, "block size"},         // s_log_block_size
		{0x60, incompatEncrypt | incompatFiletype | incompatExtents, "encrypt"},
	} {
		img := smallImage(t)
		binary.LittleEndian.PutUint32(img[1024+c.off:], c.val)
		_, err := Open(bytes.NewReader(img), int64(len(img)))
		wantErr(t, err, c.want)
		if c.want == "encrypt" && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v is not ErrUnsupported", err)
		}
	}
}

func TestChecksumMismatchIsAWarning(t *testing.T) {
	v := mutate(t, func(v *FS, img []byte) {
		img[inodeOffset(v, inodeOf(t, v, "docs/blocks.txt").Ino)+0x8]++ // i_atime
	})
	if err := readAll(v, "docs/blocks.txt"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, errors.New(strings.Join(v.Warnings(), "\n")), "checksum")
}

func TestNeedsRecoveryWarning(t *testing.T) {
	img := smallImage(t)
	f := binary.LittleEndian.Uint32(img[1024+0x60:])
	binary.LittleEndian.PutUint32(img[1024+0x60:], f|incompatRecover)
	v := openBytes(t, img)
	wantErr(t, errors.New(strings.Join(v.Warnings(), "\n")), "recovery")
	if _, err := fs.ReadFile(v, "docs/hello.txt"); err != nil {
		t.Fatal(err)
	}
}
