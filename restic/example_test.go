package restic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grainvm/grain/restic"
)

// Make a version 2 repository in a temporary directory, store a blob and
// read it back after reopening the repository.
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "grain-restic-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "repo")

	be, err := restic.CreateLocal(dir)
	if err != nil {
		panic(err)
	}
	// Cheap scrypt parameters for the example; Init defaults to stronger ones.
	opts := restic.InitOptions{Version: 2, KDF: restic.KDFParams{N: 1024, R: 8, P: 1}}
	repo, err := restic.Init(ctx, be, "secret", opts)
	if err != nil {
		panic(err)
	}
	id, isNew, err := repo.SaveBlob(ctx, restic.DataBlob, []byte("hello, restic\n"))
	if err != nil {
		panic(err)
	}
	if err := repo.Flush(ctx); err != nil { // write the pack and an index
		panic(err)
	}
	fmt.Println("blob", id.Str(), "new:", isNew)

	be, _ = restic.OpenLocal(dir)
	repo, err = restic.Open(ctx, be, "secret")
	if err != nil {
		panic(err)
	}
	if err := repo.LoadIndex(ctx); err != nil {
		panic(err)
	}
	data, err := repo.LoadBlob(ctx, restic.DataBlob, id, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("version %d: %q\n", repo.Config().Version, data)

	_, err = restic.Open(ctx, be, "wrong")
	fmt.Println(err)
	// Output:
	// blob c81bd371 new: true
	// version 2: "hello, restic\n"
	// restic: wrong password or no key found (1 key files tried)
}
