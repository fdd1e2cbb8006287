package vhdx_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grainvm/grain/vdisk/vhdx"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

func Example() {
	dir, _ := os.MkdirTemp("", "vhdx-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "disk.vhdx")
	// A 4 MiB dynamic disk with 1 MiB blocks; 4 KiB written at 1 MiB.
	vhdxtest.WriteDynamic(path, 4<<20, 512, 1<<20, []vhdxtest.Write{{Offset: 1 << 20, Data: bytes.Repeat([]byte("grain"), 4096/5+1)[:4096]}})

	f, err := os.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	im, err := vhdx.NewImage(f, st.Size(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(im.Type(), im.Size(), im.LogicalSectorSize(), im.BlockSize())
	exts, _ := im.Extents(nil, 0, im.Size())
	for _, e := range exts {
		fmt.Println(e.Offset, e.Length, e.State)
	}
	p := make([]byte, 5)
	im.ReadAt(p, 1<<20)
	fmt.Printf("%s\n", p)
	// Output:
	// dynamic 4194304 512 1048576
	// 0 1048576 absent
	// 1048576 1048576 data
	// 2097152 2097152 absent
	// grain
}
