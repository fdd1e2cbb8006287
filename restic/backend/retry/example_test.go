package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/retry"
)

// Wrap a backend; a missing file is a permanent error and is not retried.
func ExampleWrap() {
	dir, _ := os.MkdirTemp("", "grain-retry-example")
	defer os.RemoveAll(dir)
	local, err := restic.CreateLocal(dir)
	if err != nil {
		panic(err)
	}
	tries := 0
	be := retry.Wrap(local, retry.Policy{MaxTries: 5, Initial: 10 * time.Millisecond,
		Notify: func(op string, try int, err error, wait time.Duration) { tries++ }})
	_, err = be.Stat(context.Background(), restic.Handle{Type: restic.KeyFile, Name: "missing"})
	fmt.Println(errors.Is(err, fs.ErrNotExist), retry.IsPermanent(err), tries)
	// Output: true true 0
}
