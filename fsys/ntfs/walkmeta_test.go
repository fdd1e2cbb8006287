package ntfs_test

import (
	"io/fs"
	"reflect"
	"testing"

	"github.com/grainvm/grain/fsys"
)

// TestWalkMeta checks that every FileInfo Walk gives equals, field by
// field and with all its metadata, what Stat through a directory descent
// gives.
func TestWalkMeta(t *testing.T) {
	v := openImage(t, buildVolume(t))
	type full struct {
		name  string
		mode  fs.FileMode
		size  int64
		mtime string
		meta  fsys.Meta
	}
	mk := func(info fs.FileInfo) full {
		return full{info.Name(), info.Mode(), info.Size(), info.ModTime().String(), *fsys.MetaOf(info)}
	}
	descent := map[string]full{}
	if err := fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		descent[p] = mk(info)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := v.Walk(".", func(p string, info fs.FileInfo) error {
		n++
		want, ok := descent[p]
		if !ok {
			t.Errorf("%s: walked, not in the descent", p)
			return nil
		}
		if got := mk(info); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nWalk    %+v\nWalkDir %+v", p, got, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(descent) {
		t.Errorf("Walk gave %d entries, WalkDir %d", n, len(descent))
	}
}
