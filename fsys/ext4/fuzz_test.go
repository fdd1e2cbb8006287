package ext4

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"testing"
)

// smallImage is testdata/small.img.gz, decompressed (see mksmall.sh).
func smallImage(t testing.TB) []byte {
	t.Helper()
	return gunzipTestdata(t, "small.img.gz")
}

// gunzipTestdata is testdata/name, decompressed.
func gunzipTestdata(t testing.TB, name string) []byte {
	t.Helper()
	gz, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openBytes(t testing.TB, b []byte) *FS {
	t.Helper()
	v, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exercise walks the whole volume, reading every file and its metadata;
// errors are expected on damaged input, panics and hangs are not.
func exercise(v *FS) int {
	n := 0
	fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		n++
		if n > 1000 {
			return fs.SkipAll
		}
		info, err := v.Lstat(p)
		if err != nil {
			return nil
		}
		info.Sys()
		if info.Mode()&fs.ModeSymlink != 0 {
			v.ReadLink(p)
			return nil
		}
		if info.Mode().IsRegular() {
			f, err := v.Open(p)
			if err != nil {
				return nil
			}
			io.Copy(io.Discard, io.LimitReader(f.(io.Reader), 256<<10))
			f.Close()
		}
		return nil
	})
	// The parallel walk, on the same damage.
	k := 0
	v.Walk(".", func(p string, info fs.FileInfo) error {
		if k++; k > 1000 {
			return fs.SkipAll
		}
		info.Sys()
		return nil
	})
	// The names-first walk, asking for some entries' Info.
	k = 0
	v.WalkDir(".", func(p string, d fs.DirEntry) error {
		if k++; k > 1000 {
			return fs.SkipAll
		}
		if k%3 == 0 {
			if info, err := d.Info(); err == nil {
				info.Sys()
			}
		}
		return nil
	})
	return n
}

// inodeOffset is where inode ino lies in the volume.
func inodeOffset(v *FS, ino uint32) int64 {
	g := (ino - 1) / v.sb.InodesPerGroup
	i := (ino - 1) % v.sb.InodesPerGroup
	return int64(v.groups[g].InodeTable)*v.bs + int64(i)*int64(v.sb.InodeSize)
}

func inodeOf(t testing.TB, v *FS, name string) *inode {
	t.Helper()
	in, err := v.resolve("test", name, false)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func FuzzSuperblock(f *testing.F) {
	img := smallImage(f)
	f.Add(img[1024:2048])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1024 {
			return
		}
		sb := make([]byte, 1024)
		copy(sb, b)
		s, err := parseSuperblock(sb)
		if err != nil {
			return
		}
		s.unsupportedIncompat()
		s.label()
		// Open the seed volume with this superblock.
		vol := append([]byte(nil), img...)
		copy(vol[1024:], sb)
		if v, err := Open(bytes.NewReader(vol), int64(len(vol))); err == nil {
			v.Type()
			v.Usage()
			exercise(v)
		}
	})
}

func FuzzGroupDescriptors(f *testing.F) {
	img := smallImage(f)
	v := openBytes(f, img)
	gdt := (int64(v.sb.FirstDataBlock) + 1) * v.bs
	f.Add(img[gdt : gdt+v.bs])
	f.Fuzz(func(t *testing.T, b []byte) {
		if int64(len(b)) > v.bs {
			return
		}
		vol := append([]byte(nil), img...)
		copy(vol[gdt:], b)
		if w, err := Open(bytes.NewReader(vol), int64(len(vol))); err == nil {
			exercise(w)
		}
	})
}

func FuzzInode(f *testing.F) {
	img := smallImage(f)
	v := openBytes(f, img)
	for _, name := range []string{"frag", "docs", "docs/hello.txt", "link", "longlink", "many", "null", "tiny"} {
		in := inodeOf(f, v, name)
		off := inodeOffset(v, in.Ino)
		f.Add(in.Ino, img[off:off+int64(v.sb.InodeSize)])
	}
	f.Fuzz(func(t *testing.T, ino uint32, b []byte) {
		if len(b) > int(v.sb.InodeSize) {
			return
		}
		raw := make([]byte, v.sb.InodeSize)
		copy(raw, b)
		w := openBytes(t, img)
		in, err := w.parseInode(ino, raw)
		if err != nil {
			return
		}
		w.meta(in)
		fi := &file{fs: w, in: in}
		if in.isDir() {
			w.readDir(in)
		}
		buf := make([]byte, 64<<10)
		for off := int64(0); off < in.Size && off < 1<<20; off += int64(len(buf)) {
			if _, err := fi.ReadAt(buf, off); err != nil {
				break
			}
		}
	})
}

func FuzzExtentTree(f *testing.F) {
	img := smallImage(f)
	v := openBytes(f, img)
	in := inodeOf(f, v, "frag")
	// The seed's only extent tree block, the child of frag's root.
	leaf := binary.LittleEndian.Uint32(in.Block[12+4:])
	f.Add(in.Block[:], img[int64(leaf)*v.bs:int64(leaf+1)*v.bs])
	f.Fuzz(func(t *testing.T, root, node []byte) {
		if len(root) > 60 || int64(len(node)) > v.bs {
			return
		}
		vol := append([]byte(nil), img...)
		copy(vol[int64(leaf)*v.bs:], node)
		w := openBytes(t, vol)
		fake := *in
		fake.Block = [60]byte{}
		copy(fake.Block[:], root)
		fake.Size = 1 << 30
		rs, err := w.extentRuns(&fake)
		if err != nil {
			return
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Logical < rs[i-1].Logical+rs[i-1].Length {
				t.Fatalf("runs overlap: %+v", rs)
			}
		}
		w.blockMapRuns(&fake)
	})
}

func FuzzDirBlock(f *testing.F) {
	img := smallImage(f)
	v := openBytes(f, img)
	for _, name := range []string{"many", "lost+found", "."} {
		in := inodeOf(f, v, name)
		rs, err := v.fileRuns(in)
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range rs {
			for k := uint64(0); k < r.Length && k < 4; k++ {
				off := int64(r.Physical+k) * v.bs
				f.Add(r.Logical+k == 0 && in.Flags&flagIndex != 0, img[off:off+v.bs])
			}
		}
	}
	dir := inodeOf(f, v, "many")
	f.Fuzz(func(t *testing.T, indexed bool, b []byte) {
		if int64(len(b)) > v.bs {
			return
		}
		blk := make([]byte, v.bs)
		copy(blk, b)
		in := *dir
		if indexed {
			in.Flags |= flagIndex
		} else {
			in.Flags &^= flagIndex
		}
		p := &dirParser{f: v, in: &in, sc: &dirScratch{}}
		p.block(blk, 0, 1)
		p.checkDx(blk, 0, func() string { return "fuzz" })
		// Inline directory form: the block as i_block.
		in.Flags |= flagInlineData
		copy(in.Block[:], blk)
		p = &dirParser{f: v, in: &in, sc: &dirScratch{}}
		p.inline()
	})
}

func FuzzVolume(f *testing.F) {
	img := smallImage(f)
	v := openBytes(f, img)
	seed := func(off int64, n int64) { f.Add(uint32(off), img[off:off+n]) }
	seed(1024, 256)                               // superblock
	seed((int64(v.sb.FirstDataBlock)+1)*v.bs, 64) // group descriptors
	for _, name := range []string{"frag", "docs", "many", "longlink"} {
		seed(inodeOffset(v, inodeOf(f, v, name).Ino), int64(v.sb.InodeSize))
	}
	if rs, err := v.fileRuns(inodeOf(f, v, "many")); err == nil && len(rs) > 0 {
		seed(int64(rs[0].Physical)*v.bs, 128) // htree root
	}
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		if len(patch) > 4096 {
			return
		}
		vol := append([]byte(nil), img...)
		copy(vol[int(off)%len(vol):], patch)
		w, err := Open(bytes.NewReader(vol), int64(len(vol)))
		if err != nil {
			return
		}
		exercise(w)
		w.Warnings()
	})
}
