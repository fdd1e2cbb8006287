package vhd_test

import (
	"bytes"
	"fmt"

	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
)

func Example() {
	// A dynamic 8 MiB disk in 2 MiB blocks, written once at 3 MiB.
	img, err := vhdtest.Encode(vhdtest.Spec{
		Type: vhdtest.TypeDynamic, VirtualSize: 8 << 20, BlockSize: 2 << 20,
		Writes: []vhdtest.Write{{Offset: 3 << 20, Data: bytes.Repeat([]byte("grain!!\n"), 64)}},
	})
	if err != nil {
		panic(err)
	}
	im, err := vhd.NewImage(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	fmt.Println(im.Type(), im.Size(), im.BlockSize())
	exts, _ := im.Extents(nil, 0, im.Size())
	for _, e := range exts {
		fmt.Println(e.Offset, e.Length, e.State)
	}
	buf := make([]byte, 8)
	im.ReadAt(buf, 3<<20)
	fmt.Printf("%q\n", buf)
	// Output:
	// dynamic 8388608 2097152
	// 0 2097152 absent
	// 2097152 2097152 data
	// 4194304 4194304 absent
	// "grain!!\n"
}
