//go:build !linux

package cli

import (
	"errors"
	"os"
)

// openDirect: direct I/O is used on Linux only.
func openDirect(*os.File) *os.File { return nil }

// mapFile: mapping is used on Linux only; the caller reads instead.
func mapFile(*os.File, int64, int64) ([]byte, func(), error) {
	return nil, nil, errors.ErrUnsupported
}
