package ntfs

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/internal/testutil"
)

// TestScanFast checks, record by record of the test volume, that what the
// walk's fast path makes of a record equals what makeInfo makes of it,
// and that both paths were taken.
func TestScanFast(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g", "python3")
	testutil.RequireRoot(t)
	script, err := os.ReadFile("testdata/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(testutil.Build(t, "ntfs-volume", string(script)), "vol.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	kinds := checkScanFast(t, v)
	if kinds[wrFast] < 1000 || kinds[wrSlow] < 5 {
		t.Errorf("records by kind %v: want both paths taken", kinds)
	}
	t.Logf("records by kind %v", kinds)
}

// checkScanFast compares, for every record the walk's fast path
// describes, its FileInfo with makeInfo's; it returns the records by kind.
func checkScanFast(t testing.TB, v *FS) map[uint8]int {
	t.Helper()
	sc, err := v.scanMFT()
	if err != nil {
		return nil
	}
	w := &walker{v: v, sc: sc, strs: map[uint32]string{}}
	kinds := map[uint8]int{}
	for num := range sc.recs {
		r := &sc.recs[num]
		kinds[r.kind]++
		if r.kind != wrFast {
			continue
		}
		ino, err := v.inode(uint64(num))
		if err != nil {
			t.Fatalf("record %d: fast path accepts it, inode: %v", num, err)
		}
		want := stripInfo(v.makeInfo(ino, "x"))
		got := w.info(uint64(num), "x")
		gm, _ := got.Sys().(*fsys.Meta)
		if got.Name() != want.name || got.Mode() != want.mode || got.Size() != want.size || !got.ModTime().Equal(want.mtime) ||
			gm == nil || !reflect.DeepEqual(*gm, *want.meta) || want.readErr != nil {
			t.Fatalf("record %d:\nfast     %+v %+v\nmakeInfo %+v %+v", num, got, gm, want, want.meta)
		}
	}
	return kinds
}

// FuzzAppendUTF16 checks the walk's name decoder against decodeUTF16 and
// its plain flag against fsys.SafeName.
func FuzzAppendUTF16(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "x\x00", ".", "..", "\x00\xd8\x00\xdc", "\x00\xd8", "\x00\xdca\x00", "\x3d\xd8\x00\xde/\x00", "\xe5\x65\x2c\x67"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1024 {
			return
		}
		b = b[:len(b)&^1]
		got, plain := appendUTF16([]byte("pre"), b)
		want := decodeUTF16(b)
		if string(got) != "pre"+want {
			t.Fatalf("% x: %q, decodeUTF16 %q", b, got[3:], want)
		}
		isPlain := plain && want != "" && want != "." && want != ".."
		if isPlain && fsys.SafeName(want) != want {
			t.Fatalf("% x: %q called plain, SafeName gives %q", b, want, fsys.SafeName(want))
		}
		if !plain && !strings.ContainsAny(want, "/\x00") {
			t.Fatalf("% x: %q not called plain", b, want)
		}
	})
}

// TestWalkEscapedNames checks that Walk shows $FILE_NAMEs holding a slash
// or a NUL as a directory listing does (through fsys.SafeName).
func TestWalkEscapedNames(t *testing.T) {
	vol, rg := smallVolumeT(t)
	orig, err := openBytes(t, vol)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Clone(vol)
	for _, c := range []struct{ from, to string }{{"f1.txt", "f/.txt"}, {"f2.txt", "f\x00.txt"}} {
		// In the index block of d, and in the file's MFT record.
		i := bytes.Index(img[rg.idxOff:rg.idxOff+rg.idxLen], utf16le(c.from))
		if i < 0 {
			t.Fatalf("%s not in the index block", c.from)
		}
		copy(img[rg.idxOff+int64(i):], utf16le(c.to))
		st, err := orig.Stat("d/" + c.from)
		if err != nil {
			t.Fatal(err)
		}
		num := int64(fsys.MetaOf(st).Inode)
		if r := orig.mft.runs[0]; r.LCN*orig.boot.ClusterSize != rg.mftOff || (num+1)*orig.recSize > r.Length*orig.boot.ClusterSize {
			t.Fatal("the record is no longer in the $MFT's first run: the case cannot be built")
		}
		rec := img[rg.mftOff+num*orig.recSize : rg.mftOff+(num+1)*orig.recSize]
		i = bytes.Index(rec, utf16le(c.from))
		if i < 0 {
			t.Fatalf("%s not in MFT record %d", c.from, num)
		}
		for k := i; k < i+len(utf16le(c.from)); k++ {
			if k%512 >= 510 {
				t.Fatalf("%s crosses a sector's check value: the case cannot be built", c.from)
			}
		}
		copy(rec[i:], utf16le(c.to))
	}
	v, err := openBytes(t, img)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := v.ReadDir("d")
	if err != nil {
		t.Fatal(err)
	}
	var listed, walked []string
	for _, e := range ents {
		listed = append(listed, "d/"+e.Name())
	}
	if err := v.Walk("d", func(p string, info fs.FileInfo) error {
		if p != "d" {
			walked = append(walked, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(walked, "d/f%2F.txt") || !slices.Contains(walked, "d/f%00.txt") || !slices.Equal(listed, walked) {
		t.Errorf("Walk %q, ReadDir %q", walked, listed)
	}
	checkScanFast(t, v)
}

// TestScanFastWindows runs the fast-path check on the volume Windows 10
// made in the fixed VHD sample (NTFS at sector 128).
func TestScanFastWindows(t *testing.T) {
	f, err := os.Open(testutil.Sample(t, "fixed.vhd"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const start = 128 * 512
	sec := io.NewSectionReader(f, start, st.Size()-512-start)
	v, err := Open(sec, sec.Size())
	if err != nil {
		t.Fatal(err)
	}
	kinds := checkScanFast(t, v)
	if kinds[wrFast] < 5 || kinds[wrSlow] < 5 {
		t.Errorf("records by kind %v: want both paths taken", kinds)
	}
	t.Logf("records by kind %v", kinds)
}

// TestWalkHugeMFT checks that a $MFT claiming more records than the
// volume holds is an error for Walk, not a huge allocation.
func TestWalkHugeMFT(t *testing.T) {
	vol, _ := smallVolumeT(t)
	v, err := openBytes(t, vol)
	if err != nil {
		t.Fatal(err)
	}
	v.records = 1 << 40
	err = v.Walk(".", func(string, fs.FileInfo) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "more than the volume") {
		t.Errorf("got %v", err)
	}
}

// FuzzScanRecord checks the walk's fast path on one MFT record against
// parseRecord and makeInfo: a record it accepts must parse, and what it
// makes of it must equal makeInfo's FileInfo.
func FuzzScanRecord(f *testing.F) {
	if vol := smallVolume(f); vol != nil {
		if rg, ok := findRegions(vol); ok {
			for i := int64(0); i < 40; i++ {
				f.Add(vol[rg.mftOff+i*1024 : rg.mftOff+(i+1)*1024])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 || len(b) < 512 || string(b[0:4]) != "FILE" || b[0x16]&recordInUse == 0 {
			return
		}
		b = b[:len(b)/512*512]
		const num = 7
		v := &FS{boot: &bootSector{ClusterSize: 4096}, clusters: 1 << 20, recSize: int64(len(b))}
		var out walkChunkOut
		var runs []run
		recs := make([]walkRec, num+1)
		ok := v.scanFast(bytes.Clone(b), num, &recs[num], &out, &runs)
		rec, err := parseRecord(bytes.Clone(b), num, v.clusters)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path accepts a record parseRecord refuses: %v", err)
		}
		if recs[num].kind != wrFast {
			if rec.Base == 0 {
				t.Fatalf("fast path skips a base record")
			}
			return
		}
		ino := &inode{num: num, seq: rec.Seq, flags: rec.Flags, v: v}
		for i := range rec.Attrs {
			ino.attrs = append(ino.attrs, &rec.Attrs[i])
		}
		sc := &walkScan{recs: recs, perChunk: uint64(len(recs)), chunks: []walkChunk{{names: out.names, arena: string(out.arena), extents: out.extents}, {}}}
		w := &walker{v: v, sc: sc, strs: map[uint32]string{}}
		got := w.info(num, "x")
		want := stripInfo(v.makeInfo(ino, "x"))
		gm, _ := got.Sys().(*fsys.Meta)
		if got.Name() != want.name || got.Mode() != want.mode || got.Size() != want.size || !got.ModTime().Equal(want.mtime) ||
			gm == nil || !reflect.DeepEqual(*gm, *want.meta) || want.readErr != nil {
			t.Fatalf("fast     %+v %+v\nmakeInfo %+v %+v", got, gm, want, want.meta)
		}
	})
}
