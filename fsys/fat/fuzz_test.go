package fat

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
	"github.com/grainvm/grain/fsys/internal/extentfile"
	"github.com/grainvm/grain/internal/testutil"
)

// seedScript builds small volumes for the fuzz seeds: a tiny FAT12 volume
// with long names, a subdirectory and a few clusters of data, and the
// boot sectors of FAT16 and FAT32 volumes.
const seedScript = `
export TZ=UTC MTOOLS_SKIP_CHECK=1
mkfs.fat -C -F 12 -s 1 -n SEED -i 11112222 small.img 64 >/dev/null
mkdir -p src/Sub; echo hello > src/readme.txt; head -c 3000 /dev/zero | tr '\0' x > "src/Sub/A long file name.txt"
echo u > "src/ünï.txt"
mcopy -s -m -i small.img src/* ::/
mkfs.fat -C -F 16 -s 1 f16.img 2100 >/dev/null
mkfs.fat -C -F 32 -s 1 f32.img 33000 >/dev/null
head -c 512 f16.img > f16.boot; head -c 512 f32.img > f32.boot; rm f16.img f32.img
`

func seeds(t testing.TB) (small, boot16, boot32 []byte) {
	testutil.RequireTool(t, "mkfs.fat", "mcopy")
	dir := testutil.Build(t, "fat-fuzz-seeds", seedScript)
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return read("small.img"), read("f16.boot"), read("f32.boot")
}

func FuzzBootSector(f *testing.F) {
	small, b16, b32 := seeds(f)
	f.Add(small[:512])
	f.Add(b16)
	f.Add(b32)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 512 {
			return
		}
		g, err := decodeBootSector(b[:512], 1<<40)
		if err != nil {
			return
		}
		if g.clusters == 0 || g.dataOffset < g.fatOffset || g.clusterSize <= 0 {
			t.Fatalf("bad geometry accepted: %+v", g)
		}
	})
}

func FuzzDirEntries(f *testing.F) {
	small, _, _ := seeds(f)
	fs0, err := Open(bytes.NewReader(small), int64(len(small)))
	if err != nil {
		f.Fatal(err)
	}
	root := fs0.root.extents[0]
	f.Add(small[root.Physical : root.Physical+root.Length])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		entries, names, _, _ := parseDir(nil, nil, data, func(i int) int64 { return int64(i) }, false)
		setNames(entries, string(names))
		for _, e := range entries {
			if e.offset < 0 || e.offset+32 > int64(len(data)) {
				t.Fatalf("entry offset %d outside the data", e.offset)
			}
			if !fs.ValidPath(safe(e.name)) {
				t.Fatalf("name %q not safe", e.name)
			}
		}
	})
}

func safe(s string) string { // as loadDir does
	return fsys.SafeName(s)
}

func FuzzChain(f *testing.F) {
	small, _, _ := seeds(f)
	f.Add(small[512:1024], uint32(2), int64(3), uint8(12))
	f.Add([]byte{0xF8, 0xFF, 0xFF, 0xFF, 3, 0, 2, 0, 0xFF, 0xFF}, uint32(2), int64(-1), uint8(16))
	f.Fuzz(func(t *testing.T, fat []byte, first uint32, want int64, kind uint8) {
		if len(fat) < 8 || len(fat) > 8192 || want < -1 || want > 1<<16 {
			return
		}
		g := &geometry{sectorSize: 512, clusterSize: 512, fatSz: int64(len(fat)+511) / 512, dataOffset: 1 << 20}
		switch kind % 3 {
		case 0:
			g.kind = "fat12"
			g.clusters = uint32(len(fat)*2/3) - 2
		case 1:
			g.kind = "fat16"
			g.clusters = uint32(len(fat)/2) - 2
		default:
			g.kind = "fat32"
			g.clusters = uint32(len(fat)/4) - 2
		}
		if g.clusters == 0 || g.clusters > 1<<20 {
			return
		}
		buf := make([]byte, g.fatSz*512)
		copy(buf, fat)
		tb := newTable(bytes.NewReader(buf), g, 0)
		ext, n, err := tb.chain(first, want, 4096)
		// The walk's in-memory FAT follows the same chain.
		ext2, n2, err2 := chain(g, &walkFAT{kind: g.kind, r: extentfile.NewRegion(bytes.NewReader(buf), "fat", 0, int64(len(buf)))}, first, want, 4096, nil)
		if (err == nil) != (err2 == nil) || n != n2 || len(ext) != len(ext2) {
			t.Fatalf("paged FAT: %v %d %v; in-memory FAT: %v %d %v", ext, n, err, ext2, n2, err2)
		}
		if err != nil {
			return
		}
		var total int64
		for _, x := range ext {
			total += x.Length
		}
		if total != n*g.clusterSize || (want >= 0 && n != want) {
			t.Fatalf("chain of %d clusters has %d bytes of extents", n, total)
		}
	})
}

func FuzzVolume(f *testing.F) {
	small, _, _ := seeds(f)
	f.Add(small)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		v, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		v.Label()
		v.Usage()
		v.Warnings()
		drivertest.FuzzTree(v)
	})
}
