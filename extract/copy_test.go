package extract_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/extract"
	"github.com/grainvm/grain/fsys"
)

// TestCopyManyFolders: more folders than the workers keep open, files
// listed folder after folder in turn (as disk order hops between them),
// all land with their content and time, and nothing else does.
func TestCopyManyFolders(t *testing.T) {
	m := fstest.MapFS{"evil": {}}
	mtime := time.Date(2023, 2, 3, 4, 5, 6, 789, time.UTC)
	const dirs = 1300
	for i := range dirs {
		for j := range 2 {
			// Disk order: the first file of every folder, then the second.
			meta := &fsys.Meta{Extents: []fsys.Extent{{Physical: int64(j*dirs + i), Length: 1}}}
			m[fmt.Sprintf("v/d%d/s%d/f%d", i%7, i, j)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("%d/%d", i, j)), ModTime: mtime.Add(time.Duration(i)), Sys: meta}
		}
	}
	dest := t.TempDir()
	sum, err := extract.Copy(mapSource{MapFS: m}, []string{"v"}, dest, &extract.Options{Recursive: true, Workers: 5})
	if err != nil || sum.Files != 2*dirs {
		t.Fatalf("%+v %v", sum, err)
	}
	n := 0
	err = filepath.Walk(filepath.Join(dest, "v"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dest, p)
		f := m[filepath.ToSlash(rel)]
		if f == nil {
			t.Errorf("unexpected %s", rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != string(f.Data) || !info.ModTime().Equal(f.ModTime) {
			t.Errorf("%s: %q %v %v, want %q %v", rel, b, info.ModTime(), err, f.Data, f.ModTime)
		}
		return nil
	})
	if err != nil || n != 2*dirs {
		t.Errorf("%d files found (%v), want %d", n, err, 2*dirs)
	}
}
