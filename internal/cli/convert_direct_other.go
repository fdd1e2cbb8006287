//go:build !linux

package cli

import "os"

// openDirect: direct I/O is used on Linux only.
func openDirect(*os.File) *os.File { return nil }
