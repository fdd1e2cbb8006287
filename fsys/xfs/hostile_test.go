package xfs

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// walkAll walks x and returns the errors met; it must end.
func walkAll(x *FS) []error {
	var errs []error
	fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.Type().IsRegular() {
			if _, err := fs.ReadFile(x, p); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	return errs
}

func TestHostile(t *testing.T) {
	base := fuzzImage(t)
	clean, err := Open(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(off int64, b []byte) *bytes.Reader {
		c := append([]byte(nil), base...)
		copy(c[off:], b)
		return bytes.NewReader(c)
	}
	open := func(r *bytes.Reader) (*FS, error) { return Open(r, r.Size()) }
	u64 := func(v uint64) []byte { b := make([]byte, 8); be.PutUint64(b, v); return b }
	u32 := func(v uint32) []byte { b := make([]byte, 4); be.PutUint32(b, v); return b }

	t.Run("bad magic", func(t *testing.T) {
		_, err := open(mutate(0, []byte("XFSC")))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "magic") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unknown incompat feature", func(t *testing.T) {
		in := be.Uint32(base[216:]) | sbIncompatMetadir
		_, err := open(mutate(216, u32(in)))
		if err == nil || !strings.Contains(err.Error(), "metadir") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("superblock crc", func(t *testing.T) {
		x, err := open(mutate(108, []byte("changed")))
		if err != nil {
			t.Fatal(err)
		}
		if w := x.Warnings(); len(w) == 0 || !strings.Contains(w[0], "CRC") {
			t.Errorf("warnings %q", w)
		}
	})
	t.Run("bmbt loop", func(t *testing.T) {
		off, _ := region(t, base, "inode-btree")
		ip := must(clean.Lstat("btree.bin")).(*fileInfo).ip
		maxrecs := (len(ip.dataFork) - 4) / 16
		if be.Uint16(ip.dataFork[2:]) < 2 {
			t.Fatal("the test volume's bmbt root has one pointer: the case cannot be built")
		}
		first := be.Uint64(ip.dataFork[4+maxrecs*8:])
		x, err := open(mutate(off+176+4+int64(maxrecs)*8+8, u64(first)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = fs.ReadFile(x, "btree.bin")
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "twice") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("bmbt block points to itself", func(t *testing.T) {
		off, _ := region(t, base, "bmbt")
		ip := must(clean.Lstat("btree.bin")).(*fileInfo).ip
		maxrecs := (len(ip.dataFork) - 4) / 16
		self := be.Uint64(ip.dataFork[4+maxrecs*8:])
		// Make the leaf a level-1 node whose first pointer is itself.
		c := mutate(off+4, []byte{0, 1})
		b := make([]byte, c.Size())
		c.ReadAt(b, 0)
		hdr := int64(72)
		nodeMax := (clean.bs - hdr) / 16
		copy(b[off+hdr+nodeMax*8:], u64(self))
		// And the root says level 2.
		ioff, _ := region(t, base, "inode-btree")
		copy(b[ioff+176:], []byte{0, 2})
		x, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.ReadFile(x, "btree.bin"); !errors.Is(err, ErrFormat) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("directory contains itself", func(t *testing.T) {
		off, _ := region(t, base, "dir-block")
		b := append([]byte(nil), base...)
		// Point every entry of the block directory at the directory itself.
		dirIno := must(clean.Lstat("block")).(*fileInfo).ip.ino
		blk := b[off : off+clean.dirbs]
		for pos := 64; pos < len(blk)-8; {
			if be.Uint16(blk[pos:]) == 0xffff {
				pos += int(be.Uint16(blk[pos+2:]))
				continue
			}
			nl := int(blk[pos+8])
			if nl == 0 {
				break
			}
			if !(nl <= 2 && blk[pos+9] == '.') {
				copy(blk[pos:], u64(dirIno))
				blk[pos+9+nl] = 2
			}
			pos += (8 + 1 + nl + 1 + 2 + 7) &^ 7
		}
		x, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		errs := walkAll(x)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), "contains itself") {
			t.Errorf("errors %v", errs)
		}
	})
	t.Run("extent past the volume", func(t *testing.T) {
		off, _ := region(t, base, "inode-root")
		// The root directory's first extent record, startblock made huge.
		rec := base[off+176 : off+176+16]
		l0, l1 := be.Uint64(rec), be.Uint64(rec[8:])
		l0 |= 0x1ff
		_, err := open(mutate(off+176, append(u64(l0), u64(l1)...)))
		if err == nil {
			// Open may succeed if the root is short-form; listing must fail.
			return
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("absurd extent count", func(t *testing.T) {
		off, _ := region(t, base, "inode-btree")
		x, err := open(mutate(off+76, u32(0xffffffff)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.ReadFile(x, "btree.bin"); !errors.Is(err, ErrFormat) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("truncated volume", func(t *testing.T) {
		r := bytes.NewReader(base[:len(base)/4])
		x, err := Open(r, r.Size())
		if err != nil {
			return
		}
		walkAll(x)
		if len(x.Warnings()) == 0 {
			t.Error("no warning for a short volume")
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
