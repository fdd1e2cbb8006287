package mbr_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume/mbr"
)

// FuzzMBR walks the whole EBR chain of a small disk.
func FuzzMBR(f *testing.F) {
	testutil.RequireTool(f, "sfdisk")
	dir := testutil.Build(f, "mbr-fuzz-seed", `
truncate -s 1M d.img
printf 'label: dos\n,100,83\n,200,07,*\n,1200,05\n,100,83\n,100,8e\n,100,82\n' | sfdisk -q d.img
`)
	b, err := os.ReadFile(filepath.Join(dir, "d.img"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:256<<10])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		tab, err := mbr.Read(bytes.NewReader(data), int64(len(data)), 512)
		if err != nil {
			return
		}
		if len(tab.Partitions) > 4+mbr.MaxLogical*4 {
			t.Fatalf("%d partitions", len(tab.Partitions))
		}
	})
}
