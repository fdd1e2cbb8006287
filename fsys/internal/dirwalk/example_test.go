package dirwalk_test

import (
	"fmt"
	"io/fs"
	"path"
	"testing/fstest"

	"github.com/grainvm/grain/fsys/internal/dirwalk"
)

// A driver supplies its entry type (with Walked and Subdir), a directory's
// size and a loader; dirwalk runs the workers and calls fn in order.
func Example() {
	m := fstest.MapFS{
		"b/y":   {},
		"a/x/1": {},
		"a/z":   {},
		"c":     {},
	}
	cfg := dirwalk.Config[*node, entry]{
		Size: func(*node) int64 { return 0 },
		NewLoader: func() func(*dir) ([]entry, error) {
			return func(d *dir) ([]entry, error) {
				des, err := m.ReadDir(d.Node.path)
				es := make([]entry, len(des))
				for i, de := range des {
					es[i].path = path.Join(d.Path, de.Name())
					es[i].info, es[i].err = de.Info()
				}
				return es, err
			}
		},
	}
	err := dirwalk.Walk(&dir{Path: ".", Node: &node{"."}}, func(p string, info fs.FileInfo) error {
		fmt.Println(p, info.IsDir())
		if p == "b" {
			return fs.SkipDir
		}
		return nil
	}, cfg)
	fmt.Println(err)
	// Output:
	// a true
	// a/x true
	// a/x/1 false
	// a/z false
	// b true
	// c false
	// <nil>
}
