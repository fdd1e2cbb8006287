package ntfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

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
	sc, err := v.scanMFT()
	if err != nil {
		t.Fatal(err)
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
			t.Fatalf("record %d: %v", num, err)
		}
		want := stripInfo(v.makeInfo(ino, "x"))
		got := w.info(uint64(num), "x")
		if got.name != want.name || got.mode != want.mode || got.size != want.size || !got.mtime.Equal(want.mtime) ||
			!reflect.DeepEqual(*got.meta, *want.meta) || want.readErr != nil {
			t.Errorf("record %d:\nfast     %+v %+v\nmakeInfo %+v %+v", num, got, got.meta, want, want.meta)
		}
	}
	if kinds[wrFast] < 1000 || kinds[wrSlow] < 5 {
		t.Errorf("records by kind %v: want both paths taken", kinds)
	}
	t.Logf("records by kind %v", kinds)
}
