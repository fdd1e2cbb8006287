package volume_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume"
)

// fuzzMax caps fuzz inputs (a small disk).
const fuzzMax = 1 << 20

// seedHead returns the first n bytes of a built image (metadata lives there).
func seedHead(f *testing.F, path string, n int) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	if len(b) > n {
		b = b[:n]
	}
	return b
}

func FuzzRead(f *testing.F) {
	testutil.RequireTool(f, "sfdisk")
	dir := testutil.Build(f, "volume-mbr", mbrScript)
	f.Add(seedHead(f, filepath.Join(dir, "mbr05.img"), 64<<10))
	dir = testutil.Build(f, "volume-gpt", gptScript)
	f.Add(seedHead(f, filepath.Join(dir, "gpt.img"), 64<<10))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMax {
			return
		}
		tab, err := volume.Read(bytes.NewReader(data), int64(len(data)), 512)
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		for _, v := range tab.Volumes {
			if v.ReaderAt != nil {
				v.ReadAt(buf, 0)
				v.ReadAt(buf, v.Size-1)
			}
		}
	})
}

func Example() {
	// A 4 MiB disk with an MBR: one primary partition of type 0x83 from
	// sector 2048, and an extended partition holding one logical NTFS
	// partition.
	disk := make([]byte, 4<<20)
	entry := func(sector int64, slot int, typ byte, start, n uint32) {
		e := disk[sector*512+446+16*int64(slot):]
		e[4] = typ
		e[8], e[9], e[10], e[11] = byte(start), byte(start>>8), byte(start>>16), byte(start>>24)
		e[12], e[13], e[14], e[15] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		disk[sector*512+510], disk[sector*512+511] = 0x55, 0xAA
	}
	entry(0, 0, 0x83, 2048, 2048)
	entry(0, 1, 0x05, 4096, 4096)
	entry(4096, 0, 0x07, 2048, 2048) // relative to its EBR
	copy(disk[(4096+2048)*512:], "hello from p5")

	tab, err := volume.Read(bytes.NewReader(disk), int64(len(disk)), 512)
	if err != nil {
		panic(err)
	}
	for _, v := range tab.Volumes {
		fmt.Printf("%s %s offset=%d size=%d\n", v.Name, v.Type, v.Offset, v.Size)
	}
	hello := make([]byte, 13)
	io.ReadFull(io.NewSectionReader(tab.Volume("p5"), 0, 13), hello)
	fmt.Println(string(hello))
	// Output:
	// p1 0x83 Linux offset=1048576 size=1048576
	// p5 0x07 NTFS/exFAT/HPFS offset=3145728 size=1048576
	// hello from p5
}
