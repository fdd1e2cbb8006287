package ntfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/ntfs"
	"github.com/grainvm/grain/internal/testutil"
)

// TestSpecial reads WOF-compressed files (XPRESS 4K/8K/16K and LZX, data
// from wimlib's WIM resources, which share WOF's chunk format) and checks
// that deduplicated and encrypted files are reported, not read.
func TestSpecial(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g", "python3", "wimcapture", "fls")
	testutil.RequireRoot(t)
	script, err := os.ReadFile("testdata/special.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.Build(t, "ntfs-special", string(script))
	v := openImage(t, filepath.Join(dir, "vol.img"))
	sums := map[string]string{}
	b, _ := os.ReadFile(filepath.Join(dir, "sums.txt"))
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, sum, _ := strings.Cut(l, " ")
		sums[name] = sum
	}
	ents, err := v.ReadDir("wof")
	if err != nil || len(ents) != 8 {
		t.Fatalf("wof: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		p := "wof/" + e.Name()
		info, _ := e.Info()
		m := fsys.MetaOf(info)
		if m.ReparseTag != ntfs.TagWOF || !m.Compressed || m.Special != "" {
			t.Errorf("%s: tag 0x%x compressed %v special %q", p, m.ReparseTag, m.Compressed, m.Special)
		}
		src := e.Name()[strings.Index(e.Name()[strings.Index(e.Name(), "-")+1:], "-")+strings.Index(e.Name(), "-")+2:]
		f, err := v.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got := sha(t, f.(io.Reader))
		f.Close()
		if got != sums[src] {
			t.Errorf("%s: sha256 %s, source %s %s", p, got, src, sums[src])
		}
	}
	for _, c := range []struct{ path, special string }{{"dedup.bin", ntfs.SpecialDeduplicated}, {"efs.txt", ntfs.SpecialEncrypted}} {
		info, err := v.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if m := fsys.MetaOf(info); m.Special != c.special {
			t.Errorf("%s: special %q, want %q", c.path, m.Special, c.special)
		}
		if _, err := fs.ReadFile(v, c.path); !errors.Is(err, ntfs.ErrUnsupported) {
			t.Errorf("%s: read error %v, want ErrUnsupported", c.path, err)
		}
	}
}
