package fsys_test

import (
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/grainvm/grain/fsys"
)

// A layer above the drivers makes up a directory (here, of two volumes)
// and lists it as an open directory, a chunk at a time.
func ExampleNewDirFile() {
	vols := fstest.MapFS{"p1": {Mode: fs.ModeDir}, "p2": {Mode: fs.ModeDir}}
	entries, _ := vols.ReadDir(".")
	root, _ := fs.Stat(vols, ".")
	d := fsys.NewDirFile(root, entries)
	for {
		des, err := d.ReadDir(1)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(des[0].Name(), des[0].IsDir())
	}
	// Output:
	// p1 true
	// p2 true
	// EOF
}
