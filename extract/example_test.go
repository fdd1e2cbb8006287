package extract_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/extract"
)

// tree is a Source over an in-memory tree (a guest.Image is the usual one).
type tree struct{ fstest.MapFS }

func (t tree) Walk(root string, fn func(string, fs.FileInfo) error) error {
	return fs.WalkDir(t.MapFS, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, info)
	})
}

// Tar writes a tree as a tar stream: the folder, its files (in the order
// of their data on the volume, here the walk's), its link, then the
// folder again so that extractors keep its time.
func ExampleTar() {
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	src := tree{fstest.MapFS{
		"vol/docs":        {Mode: fs.ModeDir | 0o755, ModTime: mtime},
		"vol/docs/a.txt":  {Data: []byte("hello"), ModTime: mtime},
		"vol/docs/b.txt":  {Data: []byte("bye"), ModTime: mtime},
		"vol/docs/latest": {Data: []byte("b.txt"), Mode: fs.ModeSymlink | 0o777},
	}}
	var out bytes.Buffer
	sum, err := extract.Tar(&out, src, []string{"vol/docs"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr := tar.NewReader(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if hdr.Linkname != "" {
			fmt.Printf("%c %s -> %s\n", hdr.Typeflag, hdr.Name, hdr.Linkname)
			continue
		}
		fmt.Printf("%c %s %d\n", hdr.Typeflag, hdr.Name, hdr.Size)
	}
	fmt.Printf("%d files, %d folders, %d links\n", sum.Files, sum.Dirs, sum.Symlinks)
	// Output:
	// 5 docs/ 0
	// 0 docs/a.txt 5
	// 0 docs/b.txt 3
	// 5 docs/ 0
	// 2 docs/latest -> b.txt
	// 2 files, 1 folders, 1 links
}
