package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// TestCatLargeFile cats files of several blocks from an NTFS volume
// ntfs-3g wrote, and compares them with the originals.
func TestCatLargeFile(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "cli-cat-large", `
cd "$OUT"
head -c $((5*1048576+4321)) /dev/urandom > big.bin
head -c $((2*1048576+1)) /dev/urandom > edge.bin
truncate -s 24M vol.img
mkntfs -F -Q -q vol.img
mnt=$(mktemp -d)
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
ntfs-3g vol.img "$mnt"
cp big.bin edge.bin "$mnt/"
umount "$mnt"
`)
	for _, name := range []string{"big.bin", "edge.bin"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var out, errs bytes.Buffer
		if code := Main([]string{"cat", filepath.Join(dir, "vol.img"), "/disk/" + name}, strings.NewReader(""), &out, &errs); code != 0 {
			t.Fatalf("cat %s: exit %d: %s", name, code, errs.String())
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("cat %s: %d bytes, not the file's %d", name, out.Len(), len(want))
		}
	}
}
