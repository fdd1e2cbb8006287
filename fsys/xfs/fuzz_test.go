package xfs

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// fuzzImage builds a small v5 volume (1 KiB blocks) with one of each
// structure and returns its bytes.
func fuzzImage(t testing.TB) []byte {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mkfs.xfs", "xfs_io", "xfs_db", "mount")
	script := mkfsEnv + `
img=$OUT/xfs.img
truncate -s 16M "$img"
mkfs.xfs -q -f -b size=1024 -L fuzz "$img"
mnt=$(mktemp -d)
mount -o loop,allocsize=4096 "$img" "$mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
cd "$mnt"
mkdir small; echo a > small/a
mkdir block; for i in $(seq 1 20); do echo $i > block/f$i; done
mkdir leaf; for i in $(seq 1 200); do : > leaf/name-$i; done
args=(); for i in $(seq 0 40); do args+=(-c "pwrite -S $((i+1)) $((i*2))k 1k"); done
xfs_io -f "${args[@]}" btree.bin >/dev/null
ln -s small/a link
ln -s "$(printf 'z%.0s' $(seq 1 1000))" longlink
: > xattr-small; : > xattr-leaf; : > xattr-node
cd /
umount "$mnt"
xfs_db -x -c 'path /xattr-small' -c 'attr_set -u -v 20 small' \
  -c 'path /xattr-leaf' -c 'attr_set -u -v 3000 large' -c 'attr_set -u -v 10 tiny' "$img" >/dev/null
args=(); for i in $(seq 1 100); do args+=(-c "attr_set -u -v 30 attribute-number-$i"); done
xfs_db -x -c 'path /xattr-node' "${args[@]}" "$img" >/dev/null
`
	dir := testutil.Build(t, "xfs-fuzz", script)
	b, err := os.ReadFile(filepath.Join(dir, "xfs.img"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patched reads base with data laid over it at off.
type patched struct {
	base []byte
	off  int64
	data []byte
}

func (p *patched) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.EOF
	}
	n := 0
	if off < int64(len(p.base)) {
		n = copy(b, p.base[off:])
	}
	// Overlay.
	lo, hi := max(off, p.off), min(off+int64(n), p.off+int64(len(p.data)))
	if lo < hi {
		copy(b[lo-off:hi-off], p.data[lo-p.off:hi-p.off])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// exercise opens r and walks, stats and reads everything, ignoring errors:
// it must not panic or hang.
func exercise(r io.ReaderAt, size int64) {
	x, err := Open(r, size)
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		info.Sys()
		x.ReadLink(p)
		if d.Type().IsRegular() {
			if f, err := x.Open(p); err == nil {
				for n := 0; n < 64; n++ {
					if _, err := f.Read(buf); err != nil {
						break
					}
				}
				f.Close()
			}
		}
		return nil
	})
	// The parallel walk, on the same damage.
	k := 0
	x.Walk(".", func(p string, info fs.FileInfo) error {
		if k++; k > 5000 {
			return fs.SkipAll
		}
		info.Sys()
		return nil
	})
	// The names-first walk, asking for some entries' Info.
	k = 0
	x.WalkDir(".", func(p string, d fs.DirEntry) error {
		if k++; k > 5000 {
			return fs.SkipAll
		}
		if k%3 == 0 {
			if info, err := d.Info(); err == nil {
				info.Sys()
			}
		}
		return nil
	})
	x.Usage()
	x.Warnings()
}

// region finds where a structure of the fuzz image lives.
func region(t testing.TB, base []byte, what string) (int64, int) {
	x, err := Open(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	ino := func(p string) *inode {
		info, err := x.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info.(*fileInfo).ip
	}
	inoOff := func(p string) int64 {
		off, err := x.inodeLocation(ino(p).ino)
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	firstBlock := func(p string, attr bool) int64 {
		ip := ino(p)
		var exts []bmbtRec
		if attr {
			exts, err = x.attrExtents(ip)
		} else {
			exts, err = x.dataExtents(ip)
		}
		if err != nil || len(exts) == 0 {
			t.Fatalf("%s: %v", p, err)
		}
		off, _ := x.fsbToByte(exts[0].startblock)
		return off
	}
	isz := int(x.sb.Inodesize)
	switch what {
	case "sb":
		return 0, 512
	case "inode-root":
		return inoOff("."), isz
	case "inode-btree":
		return inoOff("btree.bin"), isz
	case "dir-short":
		return inoOff("small"), isz
	case "dir-block":
		return firstBlock("block", false), int(x.dirbs)
	case "dir-leaf":
		return firstBlock("leaf", false), int(x.dirbs)
	case "bmbt":
		// The first bmbt block is the root's first pointer.
		ip := ino("btree.bin")
		maxrecs := (len(ip.dataFork) - 4) / 16
		p := be.Uint64(ip.dataFork[4+maxrecs*8:])
		off, _ := x.fsbToByte(p)
		return off, int(x.bs)
	case "attr-short":
		return inoOff("xattr-small"), isz
	case "attr-leaf":
		return firstBlock("xattr-leaf", true), int(x.bs)
	case "attr-node":
		return firstBlock("xattr-node", true), int(x.bs)
	case "symlink":
		return firstBlock("longlink", false), int(x.bs)
	}
	t.Fatalf("no region %s", what)
	return 0, 0
}

// fuzzRegions fuzzes the bytes of the named structures of the fuzz image.
func fuzzRegions(f *testing.F, names ...string) {
	base := fuzzImage(f)
	type reg struct {
		off int64
		n   int
	}
	var regs []reg
	for _, name := range names {
		off, n := region(f, base, name)
		regs = append(regs, reg{off, n})
		f.Add(uint8(len(regs)-1), append([]byte(nil), base[off:off+int64(n)]...))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		r := regs[int(which)%len(regs)]
		if len(data) > r.n {
			data = data[:r.n]
		}
		exercise(&patched{base: base, off: r.off, data: data}, int64(len(base)))
	})
}

func FuzzSuperblock(f *testing.F) { fuzzRegions(f, "sb") }

func FuzzInode(f *testing.F) { fuzzRegions(f, "inode-root", "inode-btree", "symlink") }

func FuzzBmbt(f *testing.F) { fuzzRegions(f, "bmbt", "inode-btree") }

func FuzzDir(f *testing.F) { fuzzRegions(f, "dir-short", "dir-block", "dir-leaf") }

func FuzzAttr(f *testing.F) { fuzzRegions(f, "attr-short", "attr-leaf", "attr-node") }

// FuzzVolume mutates the start of the volume (superblock, AG headers,
// first inodes) and truncates it.
func FuzzVolume(f *testing.F) {
	base := fuzzImage(f)
	const window = 96 << 10
	f.Add(base[:window], uint32(len(base)))
	f.Fuzz(func(t *testing.T, head []byte, size uint32) {
		if len(head) > window {
			head = head[:window]
		}
		n := int64(size) % int64(len(base)+1)
		exercise(&patched{base: base[:n], off: 0, data: head}, n)
	})
}

func TestFuzzSeeds(t *testing.T) {
	base := fuzzImage(t)
	exercise(bytes.NewReader(base), int64(len(base)))
	x, err := Open(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	if w := x.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
	for _, name := range []string{"sb", "inode-root", "inode-btree", "dir-short", "dir-block", "dir-leaf", "bmbt", "attr-short", "attr-leaf", "attr-node", "symlink"} {
		region(t, base, name)
	}
}
