//go:build !linux

package backup

import (
	"fmt"
	"runtime"
)

// restoreXattrs: extended attributes other than named streams are set on
// Linux only; elsewhere they are skipped with one note.
func restoreXattrs(target string, xs []xattrEntry, report func(string, error)) int {
	if len(xs) > 0 && report != nil {
		report(target, fmt.Errorf("note: extended attributes of %d entries not restored (not supported on %s)", len(xs), runtime.GOOS))
	}
	return 0
}
