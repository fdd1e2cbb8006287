package exfat_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/exfat"
)

func Example() {
	img := exfat.TinyVolume() // a hand-made 48 KiB volume
	v, err := exfat.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Type(), v.Label(), v.ID())
	entries, _ := fs.ReadDir(v, ".")
	for _, d := range entries {
		info, _ := d.Info()
		fmt.Println(d.Name(), info.Size(), info.ModTime())
	}
	f, _ := v.Open("HELLO.TXT") // look-ups go through the up-case table
	data, _ := io.ReadAll(f)
	fmt.Printf("%q\n", data)
	// Output:
	// exfat TINY 1234-ABCD
	// hello.txt 13 2024-05-06 10:34:56.78 +0000 UTC
	// "hello, world\n"
}

// ExampleFS_Walk lists a volume in one walk and opens a file from the info
// the walk gave, without looking its path up again.
func ExampleFS_Walk() {
	img := exfat.TinyVolume()
	v, err := exfat.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	v.Walk(".", func(p string, info fs.FileInfo) error {
		fmt.Println(p, info.IsDir(), info.Size(), len(fsys.MetaOf(info).Extents))
		if !info.IsDir() {
			f, err := v.OpenInfo(p, info)
			if err != nil {
				return err
			}
			defer f.Close()
			data, _ := io.ReadAll(f)
			fmt.Printf("%q\n", data)
		}
		return nil
	})
	// Output:
	// . true 0 1
	// hello.txt false 13 1
	// "hello, world\n"
}
