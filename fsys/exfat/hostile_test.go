package exfat

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

func loadImage(t testing.TB) []byte {
	t.Helper()
	s := volSpecs[1]
	b, err := os.ReadFile(buildVolume(t, s.name, s.mkfs, s.mib, s.extra))
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

// fixSet recomputes the SetChecksum of the entry set at off.
func fixSet(b []byte, off uint64) {
	n := int(b[off+1])
	set := b[off : off+uint64(n+1)*32]
	binary.LittleEndian.PutUint16(set[2:], setChecksum(set))
}

func readAll(t testing.TB, f *FS, name string) ([]byte, error) {
	h, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return io.ReadAll(h.(io.Reader))
}

func walkAll(f *FS) []error {
	var errs []error
	fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if !d.IsDir() {
			if _, err := readAll(nil, f, p); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	return errs
}

func clusterOf(f *FS, m *fsys.Meta) uint32 {
	return uint32((m.Extents[0].Physical-f.g.heapOffset)/f.g.clusterSize) + 2
}

func TestHostile(t *testing.T) {
	orig := loadImage(t)
	fresh := func() ([]byte, *FS) {
		b := bytes.Clone(orig)
		return b, mustOpen(t, b)
	}
	t.Run("bad-set-checksum", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "readme.txt")
		b[m.Inode+4] ^= attrHidden
		f = mustOpen(t, b)
		if _, err := f.Stat("readme.txt"); err == nil {
			t.Error("entry set with a bad checksum is listed")
		}
		if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], "SetChecksum") {
			t.Errorf("Warnings = %q", w)
		}
		// A walk parses the root again: the warning stays one.
		if err := drivertest.WalkFast(f); err != nil {
			t.Errorf("Walk: %v", err)
		}
		if w := f.Warnings(); len(w) != 1 {
			t.Errorf("Warnings after a walk = %q", w)
		}
	})
	t.Run("no-fat-chain", func(t *testing.T) {
		b, f := fresh()
		want, _ := readAll(t, f, "multi.bin")
		m := metaOf(t, f, "multi.bin")
		if len(m.Extents) != 1 {
			t.Fatal("the test volume no longer holds multi.bin contiguously: the case cannot be built")
		}
		b[m.Inode+32+1] |= flagNoFatChain
		fixSet(b, m.Inode)
		for c := clusterOf(f, m); c < clusterOf(f, m)+uint32(m.Allocated/f.g.clusterSize); c++ {
			binary.LittleEndian.PutUint32(b[f.g.fatOffset+int64(c)*4:], 0)
		}
		f = mustOpen(t, b)
		got, err := readAll(t, f, "multi.bin")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("NoFatChain read: %v", err)
		}
	})
	t.Run("valid-data-length", func(t *testing.T) {
		b, f := fresh()
		want, _ := readAll(t, f, "docs/odd-size.bin")
		m := metaOf(t, f, "docs/odd-size.bin")
		binary.LittleEndian.PutUint64(b[m.Inode+32+8:], 1000)
		fixSet(b, m.Inode)
		f = mustOpen(t, b)
		got, err := readAll(t, f, "docs/odd-size.bin")
		if err != nil || len(got) != len(want) || !bytes.Equal(got[:1000], want[:1000]) || bytes.Count(got[1000:], []byte{0}) != len(got)-1000 {
			t.Errorf("read past ValidDataLength: %v", err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "frag/fragmented.bin")
		if len(m.Extents) < 2 {
			t.Fatalf("frag/fragmented.bin is not fragmented: %v", m.Extents)
		}
		c := clusterOf(f, m)
		binary.LittleEndian.PutUint32(b[f.g.fatOffset+int64(c)*4:], c)
		f = mustOpen(t, b)
		if _, err := f.Open("frag/fragmented.bin"); err == nil || !strings.Contains(err.Error(), "loop") {
			t.Errorf("Open: %v", err)
		}
		if e := walkAll(f); len(e) != 1 {
			t.Errorf("walk errors: %v", e)
		}
		if err := drivertest.WalkFast(f); err != nil {
			t.Errorf("Walk: %v", err)
		}
	})
	t.Run("past-heap", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "multi.bin")
		binary.LittleEndian.PutUint32(b[m.Inode+32+20:], f.g.clusters+5)
		fixSet(b, m.Inode)
		f = mustOpen(t, b)
		if _, err := f.Open("multi.bin"); err == nil {
			t.Error("Open of a file outside the heap succeeded")
		}
	})
	t.Run("dir-contains-itself", func(t *testing.T) {
		b, f := fresh()
		pc := clusterOf(f, metaOf(t, f, "deep"))
		m := metaOf(t, f, "deep/a")
		binary.LittleEndian.PutUint32(b[m.Inode+32+20:], pc)
		fixSet(b, m.Inode)
		f = mustOpen(t, b)
		if _, err := f.ReadDir("deep/a"); err == nil || !strings.Contains(err.Error(), "contains itself") {
			t.Errorf("ReadDir: %v", err)
		}
		if e := walkAll(f); len(e) != 1 {
			t.Errorf("walk errors: %v", e)
		}
		if err := drivertest.WalkFast(f); err == nil || !strings.Contains(err.Error(), "readdir deep/a") {
			t.Errorf("Walk: %v", err)
		}
	})
	t.Run("cross-linked-dirs", func(t *testing.T) {
		// docs points at deep/a/b/c/d: met twice, it is an error, not
		// a second copy of the subtree.
		b, f := fresh()
		d := metaOf(t, f, "deep/a/b/c/d")
		m := metaOf(t, f, "docs")
		binary.LittleEndian.PutUint32(b[m.Inode+32+20:], clusterOf(f, d))
		binary.LittleEndian.PutUint64(b[m.Inode+32+8:], uint64(d.Allocated))
		binary.LittleEndian.PutUint64(b[m.Inode+32+24:], uint64(d.Allocated))
		b[m.Inode+32+1] = b[d.Inode+32+1]
		fixSet(b, m.Inode)
		f = mustOpen(t, b)
		if err := drivertest.WalkFast(f); err == nil || !strings.Contains(err.Error(), "already listed") {
			t.Errorf("Walk: %v", err)
		}
	})
	t.Run("slash-in-name", func(t *testing.T) {
		b, f := fresh()
		m := metaOf(t, f, "UPPER.TXT")
		binary.LittleEndian.PutUint16(b[m.Inode+64+2+4:], '/')
		fixSet(b, m.Inode)
		f = mustOpen(t, b)
		if _, err := f.Stat("UP%2FER.TXT"); err != nil {
			t.Errorf("escaped name: %v", err)
		}
	})
	t.Run("backup-boot-region", func(t *testing.T) {
		b, _ := fresh()
		b[100] ^= 1 // serial: checksum no longer matches
		f := mustOpen(t, b)
		if w := f.Warnings(); len(w) == 0 || !strings.Contains(w[0], "backup") {
			t.Errorf("Warnings = %q", w)
		}
		b[12*512+100] ^= 1
		if _, err := Open(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Error("both boot regions bad, Open succeeded")
		}
	})
}

func TestTimestamp(t *testing.T) {
	ts := uint32(2024-1980)<<25 | 5<<21 | 6<<16 | 12<<11 | 34<<5 | 28
	base := time.Date(2024, 5, 6, 12, 34, 56, 0, time.UTC)
	for _, c := range []struct {
		inc, off uint8
		want     time.Time
	}{
		{0, 0, base}, // no offset: as UTC
		{150, 0, base.Add(1500 * time.Millisecond)}, // 10 ms increments
		{0, 0x80 | 4, base.Add(-time.Hour)},         // UTC+01:00
		{0, 0x80 | 0x7C, base.Add(time.Hour)},       // UTC-01:00
		{0, 0x80 | 0x40, base.Add(16 * time.Hour)},  // UTC-16:00
	} {
		if got := exfatTime(ts, c.inc, c.off); !got.Equal(c.want) {
			t.Errorf("exfatTime(inc %d, off 0x%02x) = %v, want %v", c.inc, c.off, got, c.want)
		}
	}
}
