//go:build !linux

package cli

import "io"

// widenPipe does nothing here: only Linux lets a pipe's buffer be sized.
func widenPipe(io.Writer) {}
