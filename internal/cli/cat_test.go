package cli

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// TestCopyAhead checks the read-ahead copy cat uses for large files:
// every size around the block boundaries, and read and write errors.
func TestCopyAhead(t *testing.T) {
	data := make([]byte, 7*catBlock+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, size := range []int64{1, catBlock - 1, catBlock, catBlock + 1, 3 * catBlock, int64(len(data))} {
		var out bytes.Buffer
		if err := copyAhead(&out, bytes.NewReader(data[:size]), size); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(out.Bytes(), data[:size]) {
			t.Fatalf("size %d: copied %d bytes, not the same", size, out.Len())
		}
	}
	// The reader ends early: an error, not a short copy taken as whole.
	var out bytes.Buffer
	if err := copyAhead(&out, bytes.NewReader(data[:3*catBlock]), int64(len(data))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
	// A read error stops the copy with that error.
	bad := errors.New("bad sector")
	if err := copyAhead(io.Discard, failAt{bytes.NewReader(data), 4 * catBlock, bad}, int64(len(data))); !errors.Is(err, bad) {
		t.Errorf("read error: %v", err)
	}
	// A write error too (and nothing hangs).
	if err := copyAhead(failWriter{}, bytes.NewReader(data), int64(len(data))); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: %v", err)
	}
}

// failAt fails reads that reach off.
type failAt struct {
	r   io.ReaderAt
	off int64
	err error
}

func (f failAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

// TestCatLargeFile cats files larger than the read-ahead threshold from
// an NTFS volume ntfs-3g wrote, and compares them with the originals.
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
