package backup_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/grainvm/grain/backup"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/restic"
)

// Back up the demo image into a new repository twice: the second backup
// finds no changed layer and reads no file data. Then restore one folder.
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "grain-backup-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	// The demo image ships gzipped.
	src, err := os.Open(filepath.Join("..", "testdata", "demo.vhdx.gz"))
	if err != nil {
		panic(err)
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		panic(err)
	}
	image := filepath.Join(tmp, "demo.vhdx")
	out, _ := os.Create(image)
	io.Copy(out, zr)
	out.Close()

	be, err := restic.CreateLocal(filepath.Join(tmp, "repo"))
	if err != nil {
		panic(err)
	}
	// Cheap scrypt parameters for the example.
	repo, err := restic.Init(ctx, be, "secret", restic.InitOptions{KDF: restic.KDFParams{N: 1024, R: 8, P: 1}})
	if err != nil {
		panic(err)
	}
	img, err := guest.Open(image, nil)
	if err != nil {
		panic(err)
	}
	defer img.Close()
	for range 2 {
		sum, err := backup.Run(ctx, repo, img, &backup.Options{Name: "demo"})
		if err != nil {
			panic(err)
		}
		fmt.Printf("new %d, unmodified %d, read %d bytes\n", sum.FilesNew, sum.FilesUnmodified, sum.BytesRead)
	}

	sn, err := backup.FindSnapshot(ctx, repo, "latest", "")
	if err != nil {
		panic(err)
	}
	target := filepath.Join(tmp, "restore")
	s, err := backup.Restore(ctx, repo, sn, "/demo/p3/Users/alice/Documents", target, nil)
	if err != nil {
		panic(err)
	}
	note, _ := os.ReadFile(filepath.Join(target, "notes.md"))
	fmt.Printf("restored %d files: %s", s.Files, note)
	// Output:
	// new 6, unmodified 0, read 40115 bytes
	// new 0, unmodified 6, read 0 bytes
	// restored 2 files: written by the demo script
}
