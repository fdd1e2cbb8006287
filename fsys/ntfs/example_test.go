package ntfs_test

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/ntfs"
)

// Example lists the root of an NTFS volume image and prints one file.
func Example() {
	f, err := os.Open("volume.img")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	v, err := ntfs.Open(f, st.Size())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Type(), v.Label(), v.ID())
	entries, _ := v.ReadDir(".")
	for _, e := range entries {
		info, _ := e.Info()
		m := fsys.MetaOf(info)
		fmt.Println(e.Name(), info.Size(), m.Inode, m.Birth)
	}
	b, err := fs.ReadFile(v, "Windows/win.ini")
	fmt.Println(len(b), err)
}
