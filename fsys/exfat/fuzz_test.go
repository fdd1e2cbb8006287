package exfat

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

// seedScript formats a small volume with mkfs.exfat (no mount needed) for
// the boot-region and directory seeds.
const seedScript = `
truncate -s 4M s.img
mkfs.exfat -L SEEDLABEL -c 512 s.img >/dev/null
`

func realSeed(t testing.TB) []byte {
	testutil.RequireTool(t, "mkfs.exfat")
	b, err := os.ReadFile(filepath.Join(testutil.Build(t, "exfat-fuzz-seed", seedScript), "s.img"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzBootSector(f *testing.F) {
	f.Add(realSeed(f)[:12*512])
	f.Add(TinyVolume()[:12*512])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 512 || len(b) > 12*4096 {
			return
		}
		g, err := decodeBootSector(b, 1<<40)
		if err != nil {
			return
		}
		if g.clusterSize <= 0 || g.heapOffset < g.fatOffset || g.clusters == 0 {
			t.Fatalf("bad geometry accepted: %+v", g)
		}
		if len(b) >= 12*int(g.sectorSize) {
			checkBootRegion(b, int(g.sectorSize))
		}
	})
}

func rootData(t testing.TB, img []byte) []byte {
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	x := v.root.extents[0]
	return img[x.Physical : x.Physical+x.Length]
}

func FuzzEntrySet(f *testing.F) {
	f.Add(rootData(f, realSeed(f)))
	f.Add(rootData(f, TinyVolume()))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var ri rootInfo
		entries := parseDir(nil, data, func(i int) int64 { return int64(i) }, &ri, func(string) {})
		for _, e := range entries {
			if e.offset < 0 || e.offset >= int64(len(data)) {
				t.Fatalf("entry offset %d outside the data", e.offset)
			}
			if !fs.ValidPath(fsys.SafeName(e.name)) {
				t.Fatalf("unsafe name %q", e.name)
			}
			if e.ValidDataLength > e.DataLength {
				t.Fatal("ValidDataLength past DataLength accepted")
			}
		}
		decodeUpcase(data).fold("Hello, Wörld")
	})
}

func FuzzChain(f *testing.F) {
	img := TinyVolume()
	f.Add(img[24*512:25*512], uint32(2), int64(1), false)
	f.Add(img[24*512:25*512], uint32(4), int64(-1), false)
	f.Fuzz(func(t *testing.T, fat []byte, first uint32, want int64, contiguous bool) {
		if len(fat) < 16 || len(fat) > 8192 || want < -1 || want > 1<<16 {
			return
		}
		g := &geometry{sectorSize: 512, clusterSize: 512, fatSize: int64(len(fat)), heapOffset: 1 << 20, clusters: uint32(len(fat)/4 - 2)}
		tb := newTable(bytes.NewReader(fat), g)
		ext, n, err := tb.chain(first, want, 4096, contiguous)
		// The walk's in-memory FAT follows the same chain.
		ext2, n2, err2 := chain(g, walkFAT{extentfile.NewRegion(bytes.NewReader(fat), "exfat", 0, int64(len(fat)))}, first, want, 4096, contiguous, nil)
		if (err == nil) != (err2 == nil) || n != n2 || len(ext) != len(ext2) {
			t.Fatalf("paged FAT: %v %d %v; in-memory FAT: %v %d %v", ext, n, err, ext2, n2, err2)
		}
		if err != nil {
			return
		}
		var total int64
		for _, x := range ext {
			total += x.Length
			if x.Physical < g.heapOffset || x.Physical+x.Length > g.heapOffset+int64(g.clusters)*g.clusterSize {
				t.Fatalf("extent %+v outside the heap", x)
			}
		}
		if total != n*g.clusterSize || (want >= 0 && n != want) {
			t.Fatalf("chain of %d clusters has %d bytes of extents", n, total)
		}
	})
}

func FuzzVolume(f *testing.F) {
	f.Add(TinyVolume())
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		v, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		v.Label()
		v.GUID()
		v.Usage()
		drivertest.FuzzTree(v)
	})
}
