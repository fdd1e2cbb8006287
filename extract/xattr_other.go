//go:build !linux

package extract

import (
	"errors"
	"os"
	"runtime"
)

// streamSideFileIsNative: on Windows "file:stream" names the stream itself.
const streamSideFileIsNative = runtime.GOOS == "windows"

func writeStreamAttr(f *os.File, name string, data []byte) error {
	return errors.ErrUnsupported
}
