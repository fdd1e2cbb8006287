package fat_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/fat"
)

// tinyVolume lays out a 64 KiB FAT12 volume by hand: one file, hello.txt.
func tinyVolume() []byte {
	le := binary.LittleEndian
	b := make([]byte, 128*512)
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "EXAMPLE ")
	le.PutUint16(b[11:], 512) // BytsPerSec
	b[13] = 1                 // SecPerClus
	le.PutUint16(b[14:], 1)   // RsvdSecCnt
	b[16] = 2                 // NumFATs
	le.PutUint16(b[17:], 16)  // RootEntCnt
	le.PutUint16(b[19:], 128) // TotSec16
	b[21] = 0xF8
	le.PutUint16(b[22:], 1) // FATSz16
	b[38] = 0x29            // BootSig
	le.PutUint32(b[39:], 0x1234ABCD)
	copy(b[43:], "EXAMPLE    FAT12   ")
	le.PutUint16(b[510:], 0xAA55)
	for _, fatStart := range []int{512, 1024} {
		copy(b[fatStart:], []byte{0xF8, 0xFF, 0xFF, 0xFF, 0x0F}) // cluster 2: end of chain
	}
	e := b[3*512:]
	copy(e, "HELLO   TXT")
	e[11] = 0x20                                      // archive
	e[12] = 0x18                                      // base and extension lower case
	le.PutUint16(e[22:], 12<<11|34<<5|56/2)           // 12:34:56
	le.PutUint16(e[24:], uint16(2024-1980)<<9|5<<5|6) // 2024-05-06
	le.PutUint16(e[26:], 2)
	le.PutUint32(e[28:], 13)
	copy(b[4*512:], "hello, world\n")
	return b
}

func Example() {
	img := tinyVolume()
	v, err := fat.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Type(), v.Label(), v.ID())
	entries, _ := fs.ReadDir(v, ".")
	for _, d := range entries {
		info, _ := d.Info()
		fmt.Println(d.Name(), info.Size(), info.ModTime())
	}
	f, _ := v.Open("HELLO.TXT") // look-ups ignore case
	data, _ := io.ReadAll(f)
	fmt.Printf("%q\n", data)
	// Output:
	// fat12 EXAMPLE 1234-ABCD
	// hello.txt 13 2024-05-06 12:34:56 +0000 UTC
	// "hello, world\n"
}

// ExampleFS_Walk lists a volume in one walk and opens a file from the info
// the walk gave, without looking its path up again.
func ExampleFS_Walk() {
	img := tinyVolume()
	v, err := fat.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	v.Walk(".", func(p string, info fs.FileInfo) error {
		m := fsys.MetaOf(info)
		fmt.Println(p, info.IsDir(), m.Size, len(m.Extents))
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
