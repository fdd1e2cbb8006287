package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/grainvm/grain/internal/testutil"
)

// On Linux, cp --streams writes NTFS named streams as user.grain.stream.*
// extended attributes.
func TestCpStreamsAsXattrs(t *testing.T) {
	img := testutil.DemoImage(t, "")
	dest := t.TempDir()
	mustGrain(t, "cp", "--streams", img, "/p3/Users/alice/Documents/report.txt", dest)
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(filepath.Join(dest, "report.txt"), "user.grain.stream.Zone.Identifier", buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustGrain(t, "cat", "--stream", "Zone.Identifier", img, "/p3/Users/alice/Documents/report.txt"); string(buf[:n]) != want {
		t.Errorf("stream as xattr %q, want %q", buf[:n], want)
	}
	// The same file again: kept, reported, exit status 1.
	code, _, errs := grain(t, "cp", img, "/p3/Users/alice/Documents/report.txt", dest)
	if code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("exit %d, %q", code, errs)
	}
}
