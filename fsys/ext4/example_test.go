package ext4_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/ext4"
)

func Example() {
	// testdata/small.img.gz is a 512 KiB ext4 volume (see mksmall.sh).
	gz, err := os.Open("testdata/small.img.gz")
	if err != nil {
		panic(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		panic(err)
	}
	img, err := io.ReadAll(zr)
	if err != nil {
		panic(err)
	}

	v, err := ext4.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Type(), v.Label(), v.ID())

	entries, _ := v.ReadDir(".")
	for _, e := range entries {
		fmt.Println(e.Type(), e.Name())
	}
	data, _ := fs.ReadFile(v, "link")
	fmt.Printf("link: %s", data)

	info, _ := v.Stat("docs/hello.txt")
	m := fsys.MetaOf(info)
	fmt.Println("inode", m.Inode, "mtime", m.Modify.Format("2006-01-02 15:04:05"), "xattr", m.Xattrs[0].Name, string(m.Xattrs[0].Value))
	// Output:
	// ext4 small 8b1e2a43-5c6d-4e7f-8a9b-0c1d2e3f4a5b
	// d--------- docs
	// ---------- frag
	// L--------- link
	// L--------- longlink
	// d--------- lost+found
	// d--------- many
	// Dc--------- null
	// ---------- tiny
	// link: Hello from ext4.
	// inode 14 mtime 2030-01-02 03:04:05 xattr user.note seed
}

func ExampleOpenWith() {
	// testdata/journal.img.gz was copied while mounted (see
	// mkjournal.sh): its latest changes are in the journal only.
	gz, err := os.Open("testdata/journal.img.gz")
	if err != nil {
		panic(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		panic(err)
	}
	img, err := io.ReadAll(zr)
	if err != nil {
		panic(err)
	}

	for _, opts := range []ext4.OpenOptions{{}, {IgnoreJournal: true}} {
		v, err := ext4.OpenWith(bytes.NewReader(img), int64(len(img)), opts)
		if err != nil {
			panic(err)
		}
		js := v.Journal()
		fmt.Println("replayed:", js.Replayed, "transactions:", js.Transactions)
		_, err = v.Stat("new/hello.txt")
		fmt.Println("new/hello.txt exists:", err == nil)
	}
	// Output:
	// replayed: true transactions: 2
	// new/hello.txt exists: true
	// replayed: false transactions: 0
	// new/hello.txt exists: false
}
