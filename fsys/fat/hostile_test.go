package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// loadImage reads a built volume into memory to be damaged.
func loadImage(t testing.TB) []byte {
	t.Helper()
	img := buildVolume(t, volSpecs[1].name, volSpecs[1].mkfs, volSpecs[1].kib, volSpecs[1].extra)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustOpen(t testing.TB, b []byte) *FS {
	t.Helper()
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func metaOf(t testing.TB, f *FS, name string) *fsys.Meta {
	t.Helper()
	return drivertest.MetaOf(t, f, name)
}

// setFAT writes FAT12 entry c = v in every FAT copy.
func setFAT(f *FS, b []byte, c, v uint32) {
	g := f.g
	for k := 0; k < int(g.bs.NumFATs); k++ {
		base := g.fatOffset + int64(k)*g.fatSz*g.sectorSize
		off := base + int64(c) + int64(c)/2
		w := binary.LittleEndian.Uint16(b[off:])
		if c&1 == 1 {
			w = w&0x000F | uint16(v)<<4
		} else {
			w = w&0xF000 | uint16(v)&0xFFF
		}
		binary.LittleEndian.PutUint16(b[off:], w)
	}
}

func clusterOf(f *FS, m *fsys.Meta) uint32 {
	return uint32((m.Extents[0].Physical-f.g.dataOffset)/f.g.clusterSize) + 2
}

// walkAll walks and reads everything, returning the errors met; it must
// end.
func walkAll(f *FS) []error {
	var errs []error
	fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !d.IsDir() {
			h, err := f.Open(p)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			if _, err := io.Copy(io.Discard, h.(io.Reader)); err != nil {
				errs = append(errs, err)
			}
			h.Close()
		}
		return nil
	})
	return errs
}

func walkFast(f *FS) error { return drivertest.WalkFast(f) }

func TestHostile(t *testing.T) {
	orig := loadImage(t)
	fresh := func() ([]byte, *FS) {
		b := bytes.Clone(orig)
		return b, mustOpen(t, b)
	}

	t.Run("loop", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "multi.bin")
		c := clusterOf(f, m)
		setFAT(f, b, c+3, c) // cluster c+3 points back to c
		f = mustOpen(t, b)
		if _, err := f.Open("multi.bin"); err == nil || !strings.Contains(err.Error(), "loop") {
			t.Errorf("Open of a looping chain: %v", err)
		}
		if e := walkAll(f); len(e) != 1 {
			t.Errorf("walk errors: %v", e)
		}
		if err := walkFast(f); err != nil {
			t.Errorf("Walk: %v", err)
		}
		if info, err := f.Stat("multi.bin"); err == nil {
			if _, err := f.OpenInfo("multi.bin", info); err == nil {
				t.Error("OpenInfo of a looping chain succeeded")
			}
		}
	})
	t.Run("past-volume", func(t *testing.T) {
		b, f := fresh()
		c := clusterOf(f, metaOf(t, f, "multi.bin"))
		setFAT(f, b, c+1, f.g.clusters+10)
		f = mustOpen(t, b)
		if _, err := f.Open("multi.bin"); err == nil || !strings.Contains(err.Error(), "outside the volume") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("free-in-chain", func(t *testing.T) {
		b, f := fresh()
		c := clusterOf(f, metaOf(t, f, "multi.bin"))
		setFAT(f, b, c+1, 0)
		f = mustOpen(t, b)
		if _, err := f.Open("multi.bin"); err == nil || !strings.Contains(err.Error(), "free cluster") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("dir-contains-itself", func(t *testing.T) {
		b, f := fresh()
		parent := metaOf(t, f, "deep")
		child := metaOf(t, f, "deep/a")
		pc := clusterOf(f, parent)
		binary.LittleEndian.PutUint16(b[child.Inode+26:], uint16(pc))
		f = mustOpen(t, b)
		if _, err := f.ReadDir("deep/a"); err == nil || !strings.Contains(err.Error(), "contains itself") {
			t.Errorf("ReadDir: %v", err)
		}
		if e := walkAll(f); len(e) != 1 {
			t.Errorf("walk errors: %v", e)
		}
		if err := walkFast(f); err == nil || !strings.Contains(err.Error(), "readdir deep/a: fat: ") {
			t.Errorf("Walk: %v", err)
		}
	})
	t.Run("cross-linked-dirs", func(t *testing.T) {
		// Every entry of deep/a/b/c points at deep/a/b/c/d: each
		// directory met twice would double the tree at every level.
		b, f := fresh()
		d := clusterOf(f, metaOf(t, f, "deep/a/b/c/d"))
		binary.LittleEndian.PutUint16(b[metaOf(t, f, "docs").Inode+26:], uint16(d))
		f = mustOpen(t, b)
		if err := walkFast(f); err == nil || !strings.Contains(err.Error(), "already listed") {
			t.Errorf("Walk: %v", err)
		}
	})
	t.Run("slash-in-name", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "UPPER.TXT")
		copy(b[m.Inode:], "UP/ER   TXT")
		f = mustOpen(t, b)
		if _, err := f.Stat("UP%2FER.TXT"); err != nil {
			t.Errorf("escaped name: %v", err)
		}
		if len(walkAll(f)) != 0 || walkFast(f) != nil {
			t.Error("walk errors")
		}
	})
	t.Run("dotdot-name", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "UPPER.TXT")
		copy(b[m.Inode:], "..         ")
		b[m.Inode+11] = attrArchive
		f = mustOpen(t, b)
		// A "..": entry is taken for a dot entry and not listed.
		if _, err := f.Stat("UPPER.TXT"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat: %v", err)
		}
	})
	long := "Long Directory Name With Spaces"
	t.Run("lfn-out-of-order", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, long)
		// Three long-name entries precede the 8.3 entry; swap two.
		e1, e2 := m.Inode-3*32, m.Inode-2*32
		tmp := bytes.Clone(b[e1 : e1+32])
		copy(b[e1:e1+32], b[e2:e2+32])
		copy(b[e2:e2+32], tmp)
		f = mustOpen(t, b)
		if _, err := f.Stat(long); err == nil {
			t.Error("long name still used")
		}
		if _, err := f.Stat("LONGDI~1"); err != nil {
			t.Errorf("8.3 fallback: %v", err)
		}
	})
	t.Run("lfn-bad-checksum", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, long)
		b[m.Inode-32+13]++
		f = mustOpen(t, b)
		if _, err := f.Stat("LONGDI~1"); err != nil {
			t.Errorf("8.3 fallback: %v", err)
		}
	})
	t.Run("fat-copies-differ", func(t *testing.T) {
		b, f := fresh()
		b[f.g.fatOffset+f.g.fatSz*f.g.sectorSize+100] ^= 0xFF
		f = mustOpen(t, b)
		if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], "differs") {
			t.Errorf("Warnings = %q", w)
		}
	})
	t.Run("no-extended-bpb", func(t *testing.T) {
		b, _ := fresh()
		b[38] = 0
		f := mustOpen(t, b)
		if f.ID() != "" {
			t.Errorf("ID = %q without an extended BPB", f.ID())
		}
	})
	t.Run("root-label-wins", func(t *testing.T) {
		img := buildVolume(t, volSpecs[0].name, volSpecs[0].mkfs, volSpecs[0].kib, volSpecs[0].extra)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		copy(b[43:54], "BPBLABEL   ")
		if f := mustOpen(t, b); f.Label() != "FAT12LBL" {
			t.Errorf("Label = %q", f.Label())
		}
	})
	t.Run("truncated", func(t *testing.T) {
		_, f := fresh()
		_ = f
		b := bytes.Clone(orig[:len(orig)/2])
		f2, err := Open(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			walkAll(f2) // errors, but ends
			walkFast(f2)
		}
	})
}
