package vhd_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
)

// openFile opens a VHD read-only and checks, at the end of the test, that
// the file was not modified.
func openFile(t *testing.T, path string) *vhd.Image {
	t.Helper()
	unchanged := testutil.Unchanged(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); unchanged() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	im, err := vhd.NewImage(f, st.Size())
	if err != nil {
		t.Fatalf("NewImage(%s): %v", path, err)
	}
	return im
}

// qemuRaw converts an image to raw with qemu-img and returns the raw path.
func qemuRaw(t *testing.T, path string) string {
	t.Helper()
	testutil.RequireTool(t, "qemu-img")
	out := filepath.Join(t.TempDir(), "raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vpc", "-O", "raw", path, out)
	return out
}

// vhdiinfo runs libvhdi's vhdiinfo and returns its "key: value" lines.
func vhdiinfo(t *testing.T, path string) map[string]string {
	t.Helper()
	testutil.RequireTool(t, "vhdiinfo")
	m := map[string]string{}
	for _, line := range strings.Split(string(testutil.Run(t, "vhdiinfo", path)), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// vhdimountSHA mounts the image with libvhdi's vhdimount (which finds a
// parent in the image's folder) and hashes the disk it exposes.
func vhdimountSHA(t *testing.T, path string) string {
	t.Helper()
	testutil.RequireTool(t, "vhdimount", "fusermount3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testutil.Unavailable(t, "no /dev/fuse")
	}
	mnt := t.TempDir()
	testutil.Run(t, "vhdimount", path, mnt)
	defer exec.Command("fusermount3", "-u", mnt).Run()
	// vhdi1 is the bottom of the chain, the highest number the image itself.
	ents, err := os.ReadDir(mnt)
	if err != nil || len(ents) == 0 {
		t.Fatalf("vhdimount exposes nothing: %v", err)
	}
	return testutil.FileSHA256(t, filepath.Join(mnt, fmt.Sprintf("vhdi%d", len(ents))))
}

// guid formats 16 bytes in stored order, as vhdiinfo prints identifiers.
func guid(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func diskSHA(t *testing.T, r io.ReaderAt, size int64) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil && !(err == io.EOF && off+n == size) {
			t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
		}
		h.Write(buf[:n])
		off += n
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkAgainstTools compares grain's view of a non-differencing image with
// qemu-img (content) and libvhdi (metadata, and content through vhdimount
// when mount is set).
func checkAgainstTools(t *testing.T, path string, mount bool) *vhd.Image {
	t.Helper()
	im := openFile(t, path)
	checkExtents(t, im)
	got := diskSHA(t, im, im.Size())
	raw := qemuRaw(t, path)
	st, err := os.Stat(raw)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != im.Size() {
		t.Errorf("size %d, qemu-img %d", im.Size(), st.Size())
	}
	if want := testutil.FileSHA256(t, raw); got != want {
		t.Errorf("content sha256 %s, qemu-img %s", got, want)
	}
	info := vhdiinfo(t, path)
	if want := fmt.Sprintf("(%d bytes)", im.Size()); !strings.HasSuffix(info["Media size"], want) {
		t.Errorf("size %d, vhdiinfo %q", im.Size(), info["Media size"])
	}
	if id := guid(im.UniqueID()); info["Identifier"] != id {
		t.Errorf("unique id %s, vhdiinfo %s", id, info["Identifier"])
	}
	wantType := map[vhd.DiskType]string{vhd.Fixed: "Fixed", vhd.Dynamic: "Dynamic", vhd.Differencing: "Differential"}[im.Type()]
	if info["Disk type"] != wantType {
		t.Errorf("type %v, vhdiinfo %q", im.Type(), info["Disk type"])
	}
	if mount {
		if want := vhdimountSHA(t, path); got != want {
			t.Errorf("content sha256 %s, vhdimount %s", got, want)
		}
	}
	if w := im.Warnings(); len(w) > 0 {
		t.Errorf("warnings on a sound image: %q", w)
	}
	return im
}

// checkExtents checks that Extents covers the disk exactly, in order, and
// agrees with itself over a few sub-ranges.
func checkExtents(t *testing.T, im *vhd.Image) {
	t.Helper()
	all, err := im.Extents(nil, 0, im.Size())
	if err != nil {
		t.Fatal(err)
	}
	pos := int64(0)
	for _, e := range all {
		if e.Offset != pos || e.Length <= 0 {
			t.Fatalf("extents not contiguous at %d: %+v", pos, e)
		}
		if e.State == extent.Zero {
			t.Fatalf("VHD has no Zero state: %+v", e)
		}
		pos = e.End()
	}
	if pos != im.Size() {
		t.Fatalf("extents end at %d, size %d", pos, im.Size())
	}
	for _, r := range [][2]int64{{1, 1000}, {im.Size() / 3, im.Size() / 3}, {im.Size() - 1, 1}} {
		if r[0] < 0 || r[0]+r[1] > im.Size() {
			continue
		}
		part, err := im.Extents(nil, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		pos := r[0]
		for _, e := range part {
			if e.Offset != pos {
				t.Fatalf("sub-range extents not contiguous: %+v", part)
			}
			pos = e.End()
		}
		if pos != r[0]+r[1] {
			t.Fatalf("sub-range [%d,+%d) extents end at %d", r[0], r[1], pos)
		}
	}
}

const qemuScript = `
set -x
# random content with a zero hole, so that dynamic images leave blocks unallocated
head -c 6M /dev/urandom > r6
dd if=/dev/zero of=r6 bs=1M seek=2 count=2 conv=notrunc
head -c 5243392 /dev/urandom > r5   # 5 MiB + 1 KiB: not a multiple of the block size
for r in r6 r5; do
  qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on $r fixed-$r.vhd
  qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on $r dynamic-$r.vhd
done
qemu-img create -f vpc -o subformat=dynamic,force_size=on written-dynamic.vhd 33M
qemu-io -f vpc -c 'write -P 0xab 1M 3M' -c 'write -P 0xcd 20M 512' -c 'write -P 0x11 33553920 512' written-dynamic.vhd
qemu-img create -f vpc -o subformat=fixed,force_size=on written-fixed.vhd 3M
qemu-io -f vpc -c 'write -P 0xab 1M 1M' written-fixed.vhd
# without force_size qemu rounds the size to CHS geometry (creator "qemu")
qemu-img create -f vpc -o subformat=dynamic chs-dynamic.vhd 10M
qemu-io -f vpc -c 'write -P 0x5a 4M 3M' chs-dynamic.vhd
rm r6 r5
`

func TestQemuImages(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "qemu-io")
	dir := testutil.Build(t, "vhd-qemu", qemuScript)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.vhd"))
	if len(paths) != 7 {
		t.Fatalf("built %d images: %q", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			im := checkAgainstTools(t, p, true)
			wantType := vhd.Dynamic
			if strings.Contains(p, "fixed") {
				wantType = vhd.Fixed
			}
			if im.Type() != wantType {
				t.Errorf("type %v, want %v", im.Type(), wantType)
			}
			if wantType == vhd.Dynamic && (im.BlockSize() != 2<<20 || im.DynamicHeader() == nil) {
				t.Errorf("block size %d, header %v", im.BlockSize(), im.DynamicHeader())
			}
			// Without force_size qemu stores the specification's CHS
			// geometry (vhdtest computes it independently) and sizes the
			// disk by it; with force_size it stores the maximum geometry.
			f := im.Footer()
			if c, h, s := vhdtest.Geometry(int64(f.OriginalSize)); string(f.CreatorApplication[:]) == "qemu" &&
				(f.DiskGeometry != (vhd.Geometry{Cylinders: c, Heads: h, SectorsPerTrack: s}) || f.DiskGeometry.Size() != im.Size()) {
				t.Errorf("geometry %+v, specification's %d/%d/%d", f.DiskGeometry, c, h, s)
			}
			if wantType == vhd.Fixed && (im.BlockSize() != 0 || im.DynamicHeader() != nil) {
				t.Errorf("fixed disk with block size %d", im.BlockSize())
			}
		})
	}
}

// pattern is deterministic filler that differs per sector.
func pattern(off int64, n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		x := off + int64(i)
		b[i] = byte(x>>9) ^ byte(x) ^ seed ^ byte(x>>17)
	}
	return b
}

func TestCraftedDynamic(t *testing.T) {
	for _, bs := range []int64{512, 1024, 2048, 4096, 64 << 10, 2 << 20, 4 << 20} {
		t.Run(strconv.FormatInt(bs, 10), func(t *testing.T) {
			size := int64(3<<20 + 7*512)
			writes := []vhdtest.Write{
				{Offset: 0, Data: pattern(0, 512, 1)},
				{Offset: 5 * 512, Data: pattern(5*512, 3*512, 2)},
				{Offset: 1<<20 - 1024, Data: pattern(1<<20-1024, 8192, 3)},
				{Offset: size - 512, Data: pattern(size-512, 512, 4)},
			}
			path := filepath.Join(t.TempDir(), "d.vhd")
			if err := vhdtest.WriteDynamic(path, size, bs, writes); err != nil {
				t.Fatal(err)
			}
			var im *vhd.Image
			if bs >= 4096 {
				im = checkAgainstTools(t, path, true)
			} else {
				// qemu and libvhdi compute the sector bitmap of blocks under
				// 4 KiB (less than one bitmap byte) as 0 bytes long; the
				// specification pads it to a sector. Only the writes are the
				// oracle here.
				im = openFile(t, path)
				checkExtents(t, im)
			}
			want := vhdtest.Overlay(nil, size, writes)
			got := make([]byte, size)
			if _, err := im.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("content differs from the writes")
			}
			if im.BlockSize() != bs {
				t.Errorf("block size %d, want %d", im.BlockSize(), bs)
			}
		})
	}
}

// TestDynamicBitmapIgnored: in a dynamic disk an allocated block is data
// as a whole, whatever its sector bitmap says; qemu reads it so (libvhdi
// reads clear-bit sectors as zeros; see docs/formats/vhd.md).
func TestDynamicBitmapIgnored(t *testing.T) {
	img, err := vhdtest.Encode(vhdtest.Spec{Type: vhdtest.TypeDynamic, VirtualSize: 64 << 10, BlockSize: 4096,
		Writes: []vhdtest.Write{{Offset: 512, Data: pattern(512, 512, 9)}}})
	if err != nil {
		t.Fatal(err)
	}
	// Sector 0 of block 0 is allocated but its bit is clear: give it data.
	bat := 1536
	blk := int64(img[bat])<<24 | int64(img[bat+1])<<16 | int64(img[bat+2])<<8 | int64(img[bat+3])
	copy(img[blk*512+512:], bytes.Repeat([]byte{0x77}, 512))
	path := filepath.Join(t.TempDir(), "bits.vhd")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	im := openFile(t, path)
	raw, err := os.ReadFile(qemuRaw(t, path))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, im.Size())
	im.ReadAt(got, 0)
	if !bytes.Equal(got, raw) {
		t.Fatal("differs from qemu-img")
	}
	if got[0] != 0x77 {
		t.Fatal("sector with a clear bitmap bit read as zeros")
	}
}

func TestSamples(t *testing.T) {
	for _, name := range []string{"fixed.vhd", "dynamic.vhd"} {
		t.Run(name, func(t *testing.T) {
			im := checkAgainstTools(t, testutil.Sample(t, name), false)
			if f := im.Footer(); string(f.CreatorApplication[:]) != "win " {
				c := string(f.CreatorApplication[:])
				t.Errorf("creator %q", c)
			}
		})
	}
	// The empty 127 GiB disks: one made by Hyper-V, one by Virtual PC.
	for _, name := range []string{"hyperv2012r2-dynamic.vhd", "virtualpc-dynamic.vhd"} {
		t.Run(name, func(t *testing.T) {
			path := testutil.Sample(t, name)
			im := openFile(t, path)
			checkExtents(t, im)
			info := vhdiinfo(t, path)
			if want := fmt.Sprintf("(%d bytes)", im.Size()); !strings.HasSuffix(info["Media size"], want) {
				t.Errorf("size %d, vhdiinfo %q", im.Size(), info["Media size"])
			}
			if id := guid(im.UniqueID()); info["Identifier"] != id {
				t.Errorf("unique id %s, vhdiinfo %s", id, info["Identifier"])
			}
			testutil.RequireTool(t, "qemu-img")
			var qi struct {
				VirtualSize int64 `json:"virtual-size"`
			}
			if err := json.Unmarshal(testutil.Run(t, "qemu-img", "info", "-f", "vpc", "--output=json", path), &qi); err != nil {
				t.Fatal(err)
			}
			f := im.Footer()
			creator := string(f.CreatorApplication[:])
			t.Logf("creator %q, current size %d, geometry %+v = %d bytes, qemu %d", creator, f.CurrentSize, f.DiskGeometry, f.DiskGeometry.Size(), qi.VirtualSize)
			if im.Size() != int64(f.CurrentSize) {
				t.Errorf("size %d is not the current size %d", im.Size(), f.CurrentSize)
			}
			switch creator {
			case "vpc ":
				// qemu sizes Virtual PC disks by geometry; grain does not.
				if qi.VirtualSize != f.DiskGeometry.Size() || qi.VirtualSize >= im.Size() {
					t.Errorf("qemu size %d, geometry %d, grain %d", qi.VirtualSize, f.DiskGeometry.Size(), im.Size())
				}
			default:
				if qi.VirtualSize != im.Size() {
					t.Errorf("qemu size %d, grain %d", qi.VirtualSize, im.Size())
				}
			}
			// Empty: nothing allocated, and qemu agrees.
			ext, _ := im.Extents(nil, 0, im.Size())
			if len(ext) != 1 || ext[0].State != extent.Absent {
				t.Errorf("extents of an empty disk: %+v", ext)
			}
			var m []struct {
				Data bool `json:"data"`
			}
			if err := json.Unmarshal(testutil.Run(t, "qemu-img", "map", "-f", "vpc", "--output=json", path), &m); err != nil {
				t.Fatal(err)
			}
			for _, e := range m {
				if e.Data {
					t.Errorf("qemu-img map reports data: %+v", m)
					break
				}
			}
			buf := make([]byte, 1<<20)
			if n, err := im.ReadAt(buf, im.Size()-int64(len(buf))); n != len(buf) || err != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
				t.Errorf("reading the last MiB: %d, %v", n, err)
			}
		})
	}
}

// stack reads child over parent through the child's extents: the
// differencing logic vdisk implements, reduced to what the test needs.
type stack struct {
	child  *vhd.Image
	parent io.ReaderAt
}

func (s stack) ReadAt(p []byte, off int64) (int, error) {
	exts, err := s.child.Extents(nil, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	for _, e := range exts {
		dst := p[e.Offset-off : e.End()-off]
		switch e.State {
		case extent.Data:
			if _, err := s.child.ReadFileAt(dst, e.FileOffset); err != nil {
				return 0, err
			}
		case extent.Zero:
			clear(dst)
		case extent.Absent:
			if _, err := s.parent.ReadAt(dst, e.Offset); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

func TestDifferencing(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "qemu-io")
	parentSrc := filepath.Join(testutil.Build(t, "vhd-qemu", qemuScript), "dynamic-r6.vhd")
	const size = 6 << 20
	const M = 1 << 20
	odd := []vhdtest.Write{
		{Offset: 512, Data: pattern(512, 512, 1)},                 // sector 1
		{Offset: 3 * 512, Data: pattern(3*512, 512, 2)},           // sector 3: same bitmap byte
		{Offset: 4 * 512, Data: pattern(4*512, 512, 3)},           // sector 4, adjacent
		{Offset: 2*M - 1536, Data: pattern(2*M-1536, 4096, 4)},    // across blocks 0 and 1
		{Offset: 3*M + 7*512, Data: pattern(3*M+7*512, 9*512, 5)}, // in the parent's hole
		{Offset: size - 512, Data: pattern(size-512, 512, 6)},     // last sector
		{Offset: 512, Data: pattern(512, 512, 7)},                 // rewritten
	}
	aligned := []vhdtest.Write{ // whole bitmap bytes only: libvhdi reads these right
		{Offset: 8 * 512, Data: pattern(8*512, 4096, 1)},
		{Offset: 2*M - 8192, Data: pattern(2*M-8192, 16384, 2)},
		{Offset: 3 * M, Data: pattern(3*M, 4096, 3)},
		{Offset: size - 4096, Data: pattern(size-4096, 4096, 4)},
	}
	for _, tc := range []struct {
		name   string
		bs     int64
		writes []vhdtest.Write
		mount  bool
	}{
		{"odd-2M", 2 << 20, odd, false},
		{"odd-4K", 4096, odd, false},
		{"aligned-2M", 2 << 20, aligned, true},
		{"aligned-64K", 64 << 10, aligned, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			parentPath := filepath.Join(dir, "base.vhd")
			data, err := os.ReadFile(parentSrc)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(parentPath, data, 0o444); err != nil {
				t.Fatal(err)
			}
			parent := openFile(t, parentPath)
			childPath := filepath.Join(dir, "child.vhd")
			if err := vhdtest.WriteDifferencing(childPath, parentPath, parent.UniqueID(), size, tc.bs, tc.writes); err != nil {
				t.Fatal(err)
			}
			child := openFile(t, childPath)
			checkExtents(t, child)
			if child.Type() != vhd.Differencing || child.ParentUniqueID() != parent.UniqueID() {
				t.Fatalf("type %v, parent id %x", child.Type(), child.ParentUniqueID())
			}
			abs, rel, _ := vhdtest.WindowsPaths(childPath, parentPath)
			if child.ParentName() != abs {
				t.Errorf("parent name %q, want %q", child.ParentName(), abs)
			}
			locs := child.ParentLocators()
			if len(locs) != 2 || locs[0].Code != "W2ku" || locs[0].Path != abs || locs[1].Code != "W2ru" || locs[1].Path != rel || rel != `.\base.vhd` {
				t.Errorf("locators %+v, want W2ku %q, W2ru %q", locs, abs, rel)
			}
			info := vhdiinfo(t, childPath)
			if info["Parent identifier"] != guid(parent.UniqueID()) || info["Parent filename"] != abs || info["Disk type"] != "Differential" {
				t.Errorf("vhdiinfo: %q", info)
			}
			if h := child.DynamicHeader(); vhd.TimeStampTime(h.ParentTimeStamp) != vhd.TimeStampTime(parent.Footer().TimeStamp) {
				t.Errorf("parent time stamp %d, parent's %d", h.ParentTimeStamp, parent.Footer().TimeStamp)
			}

			parentRaw, err := os.ReadFile(qemuRaw(t, parentPath))
			if err != nil {
				t.Fatal(err)
			}
			want := vhdtest.Overlay(parentRaw, size, tc.writes)
			got := make([]byte, size)
			if _, err := (stack{child, parent}).ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("stacked content differs at byte %d (sector %d)", i, i/512)
			}
			// Piecewise reads at odd offsets agree too.
			for _, r := range [][2]int64{{511, 1026}, {2*M - 1537, 4098}, {3*M + 1, 9 * 512}, {size - 3, 3}} {
				b := make([]byte, r[1])
				(stack{child, parent}).ReadAt(b, r[0])
				if !bytes.Equal(b, want[r[0]:r[0]+r[1]]) {
					t.Errorf("read [%d,+%d) differs", r[0], r[1])
				}
			}
			// The child alone: its own sectors, zeros elsewhere.
			alone := vhdtest.Overlay(nil, size, tc.writes)
			if _, err := child.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, alone); i >= 0 {
				t.Fatalf("child alone differs at byte %d", i)
			}
			if tc.mount {
				sum := sha256.Sum256(want)
				if got := vhdimountSHA(t, childPath); got != hex.EncodeToString(sum[:]) {
					t.Errorf("vhdimount sha256 %s, expected %x", got, sum)
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return len(a)
	}
	return -1
}
