package drivertest

import (
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/grainvm/grain/fsys"
)

// OpenImage opens the image file path (closed in t.Cleanup) with the
// driver's open and returns the volume and the file.
func OpenImage[V any](t testing.TB, path string, open func(io.ReaderAt, int64) (V, error)) (V, *os.File) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, _ := fh.Stat()
	f, err := open(fh, st.Size())
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return f, fh
}

// MetaOf is the fsys.Meta of the named file's Stat.
func MetaOf(t testing.TB, f fs.StatFS, name string) *fsys.Meta {
	t.Helper()
	info, err := f.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fsys.MetaOf(info)
}
