package vdisk_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/grainvm/grain/vdisk"
)

// Sources tells a copier where each run of the disk comes from: here a raw
// image file, whose bytes lie in it as they are, so every data run is
// offered with the file.
func ExampleDisk_Sources() {
	dir, err := os.MkdirTemp("", "sources")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "disk.raw")
	os.WriteFile(path, make([]byte, 1<<20), 0o644)

	d, err := vdisk.Open(path, nil)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	srcs, err := d.Sources(nil, 4096, 8192)
	if err != nil {
		panic(err)
	}
	for _, s := range srcs {
		fmt.Printf("[%d, %d) %v in layer %d at file offset %d, from the file: %v\n",
			s.Offset, s.End(), s.State, s.Layer, s.FileOffset, s.File != nil)
	}
	// Output:
	// [4096, 12288) data in layer 0 at file offset 4096, from the file: true
}
