package ntfs

import (
	"os"
	"path/filepath"
	"reflect"
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
		if got.name != want.name || got.mode != want.mode || got.size != want.size || !got.mtime.Equal(want.mtime) ||
			!reflect.DeepEqual(*got.meta, *want.meta) || want.readErr != nil {
			t.Fatalf("record %d:\nfast     %+v %+v\nmakeInfo %+v %+v", num, got, got.meta, want, want.meta)
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
