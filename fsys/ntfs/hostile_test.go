package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"unicode/utf16"
)

func smallVolumeT(t *testing.T) ([]byte, regions) {
	t.Helper()
	vol := buildSmall(t)
	rg, ok := findRegions(vol)
	if !ok {
		t.Fatal("small volume does not open")
	}
	return vol, rg
}

func openBytes(t *testing.T, b []byte) (*FS, error) {
	t.Helper()
	return Open(bytes.NewReader(b), int64(len(b)))
}

// recordOf finds the MFT record number of a path in the intact volume.
func recordOf(t *testing.T, vol []byte, path string) uint64 {
	v, err := openBytes(t, vol)
	if err != nil {
		t.Fatal(err)
	}
	info, err := v.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return metaOf(info).Inode
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func TestHostile(t *testing.T) {
	vol, rg := smallVolumeT(t)
	recOff := func(n uint64) int64 { return rg.mftOff + int64(n)*1024 }

	t.Run("fixup mismatch", func(t *testing.T) {
		img := bytes.Clone(vol)
		n := recordOf(t, vol, "s.txt")
		img[recOff(n)+1022] ^= 0xFF
		v, err := openBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Stat("s.txt")
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "MFT record") || !strings.Contains(err.Error(), "update sequence") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("MFTMirr fallback", func(t *testing.T) {
		img := bytes.Clone(vol)
		copy(img[recOff(0):], "XXXX")
		v, err := openBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := fs.ReadFile(v, "s.txt"); err != nil || string(b) != "hi\n" {
			t.Errorf("s.txt: %q %v", b, err)
		}
	})
	t.Run("runlist beyond volume", func(t *testing.T) {
		img := bytes.Clone(vol)
		n := recordOf(t, vol, "r.bin")
		rec := img[recOff(n) : recOff(n)+1024]
		// Find the $DATA attribute and make its first run's LCN huge.
		a := int(binary.LittleEndian.Uint16(rec[0x14:]))
		for binary.LittleEndian.Uint32(rec[a:]) != attrData {
			a += int(binary.LittleEndian.Uint32(rec[a+4:]))
		}
		ro := a + int(binary.LittleEndian.Uint16(rec[a+0x20:]))
		h := rec[ro]
		ln, on := int(h&15), int(h>>4)
		for i := 0; i < on; i++ {
			rec[ro+1+ln+i] = 0x7F
		}
		v, err := openBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fs.ReadFile(v, "r.bin")
		if err == nil || !strings.Contains(err.Error(), "beyond the volume") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("names with slash and NUL", func(t *testing.T) {
		img := bytes.Clone(vol)
		for _, c := range []struct{ from, to string }{{"f1.txt", "f/.txt"}, {"f2.txt", "f\x00.txt"}} {
			i := bytes.Index(img[rg.idxOff:rg.idxOff+rg.idxLen], utf16le(c.from))
			if i < 0 {
				t.Fatalf("%s not in the index block", c.from)
			}
			copy(img[rg.idxOff+int64(i):], utf16le(c.to))
		}
		v, err := openBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := v.ReadDir("d")
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, e := range ents {
			if !fs.ValidPath(e.Name()) || strings.Contains(e.Name(), "/") {
				t.Errorf("invalid name %q", e.Name())
			}
			names[e.Name()] = true
		}
		if !names["f%2F.txt"] || !names["f%00.txt"] {
			t.Errorf("names %v", names)
		}
	})
	t.Run("index cycle", func(t *testing.T) {
		v, err := openBytes(t, vol)
		if err != nil {
			t.Fatal(err)
		}
		dir, err := v.lookup(mustInode(v, recRoot), "d")
		if err != nil {
			t.Fatal(err)
		}
		ix, err := v.openIndex(dir)
		if err != nil || ix.alloc == nil {
			t.Fatalf("index: %v", err)
		}
		// A block whose last entry points back at itself.
		node, err := ix.node(0)
		if err != nil {
			t.Fatal(err)
		}
		cyc := append([]indexEntry(nil), node...)
		cyc[len(cyc)-1].Subnode = 0
		v.idxCache.Put(idxKey{dir.num, 0}, cyc, 1)
		err = ix.walk(func(*indexEntry) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "cycles") {
			t.Errorf("walk: %v", err)
		}
		if _, err := ix.lookup(utf16.Encode([]rune("zzz"))); err == nil {
			t.Errorf("lookup in a cycle: no error")
		}
	})
	t.Run("initialized size", func(t *testing.T) {
		v, err := openBytes(t, vol)
		if err != nil {
			t.Fatal(err)
		}
		ino, err := v.lookup(mustInode(v, recRoot), "r.bin")
		if err != nil {
			t.Fatal(err)
		}
		s, err := ino.stream(attrData, "")
		if err != nil {
			t.Fatal(err)
		}
		full, _ := s.readAll(1 << 20)
		s.init = 1000
		part, _ := s.readAll(1 << 20)
		if !bytes.Equal(part[:1000], full[:1000]) || !bytes.Equal(part[1000:], make([]byte, len(part)-1000)) {
			t.Errorf("bytes past the initialized size are not zeros")
		}
	})
}
