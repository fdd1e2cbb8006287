package fat

import (
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// TestOpenInfo opens every file and directory from the infos of Walk,
// Stat and a foreign wrapper of their Meta (the on-disk entry at
// Meta.Inode), and compares with Open.
func TestOpenInfo(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			f, _ := openImage(t, buildVolume(t, spec.name, spec.mkfs, spec.kib, spec.extra))
			drivertest.CheckOpenInfo(t, f)
		})
	}
}

// TestOpenInfoStale checks that an info whose Meta points at anything but
// the file's entry fails instead of reading something else.
func TestOpenInfoStale(t *testing.T) {
	f, _ := openImage(t, buildVolume(t, volSpecs[1].name, volSpecs[1].mkfs, volSpecs[1].kib, volSpecs[1].extra))
	info, err := f.Stat("Long Directory Name With Spaces/A file with a rather long name.text")
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.Stat("readme.txt") // another file of another size
	if err != nil {
		t.Fatal(err)
	}
	m := fsys.MetaOf(info)
	drivertest.CheckStale(t, f, "fat", info, m.Inode-32, m.Inode+1, 0, 1<<40, uint64(f.g.fatOffset), fsys.MetaOf(other).Inode)
}
