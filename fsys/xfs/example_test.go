package xfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/xfs"
)

// Example lists an XFS volume held in a raw image file, with each file's
// owner and mode; a volume that is not XFS is refused with ErrFormat.
func Example() {
	list := func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		vol, err := xfs.Open(f, st.Size())
		if err != nil {
			return err
		}
		fmt.Println(vol.Type(), vol.Label(), vol.ID())
		return fs.WalkDir(vol, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			m := fsys.MetaOf(info)
			fmt.Printf("%o %d:%d %10d %s\n", m.UnixMode, m.UID, m.GID, info.Size(), p)
			return nil
		})
	}
	_ = list // list("disk.img") on a real volume

	zeros := make([]byte, 1<<20)
	_, err := xfs.Open(bytes.NewReader(zeros), int64(len(zeros)))
	fmt.Println(errors.Is(err, xfs.ErrFormat), err)
	// Output:
	// true xfs: invalid format: superblock: bad magic 0x00000000
}
