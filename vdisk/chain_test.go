package vdisk_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

const mib = 1 << 20

// qemuBase builds a dynamic VHD with qemu-img holding random data in a few
// places, and returns its path and the raw content qemu-img reads from it.
func qemuBase(t *testing.T) (string, []byte) {
	t.Helper()
	testutil.RequireTool(t, "qemu-img")
	dir := testutil.Build(t, "vdisk-chain-base", `
head -c 8388608 /dev/zero > base.raw
head -c 1048576 /dev/urandom | dd of=base.raw bs=512 seek=0 conv=notrunc status=none
head -c 1572864 /dev/urandom | dd of=base.raw bs=512 seek=6144 conv=notrunc status=none
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on base.raw base.vhd
qemu-img convert -f vpc -O raw base.vhd expected.raw
`)
	want, err := os.ReadFile(filepath.Join(dir, "expected.raw"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "base.vhd"), want
}

func uniqueID(t *testing.T, path string) [16]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := vhd.NewImage(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return img.UniqueID()
}

func randomWrites(t *testing.T, spots ...[2]int64) []vhdtest.Write {
	var ws []vhdtest.Write
	for _, s := range spots {
		b := make([]byte, s[1])
		rand.Read(b)
		ws = append(ws, vhdtest.Write{Offset: s[0], Data: b})
	}
	return ws
}

// vhdChain makes base.vhd <- c1.avhd <- c2.avhd <- c3.avhd in dir and
// returns the leaf's path and the content the chain must read as.
func vhdChain(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	basePath, base := qemuBase(t)
	size := int64(len(base))
	parent := filepath.Join(dir, "base.vhd")
	copyFile(t, basePath, parent)
	want := base
	layers := [][]vhdtest.Write{
		randomWrites(t, [2]int64{512, 1024}, [2]int64{3 * mib, 2 * mib}),
		randomWrites(t, [2]int64{0, 512}, [2]int64{1536, 512}, [2]int64{7*mib - 4096, 8192}),
		randomWrites(t, [2]int64{2048, 4096}, [2]int64{4*mib + 512, 512}),
	}
	for i, ws := range layers {
		child := filepath.Join(dir, "c"+string(rune('1'+i))+".avhd")
		if err := vhdtest.WriteDifferencing(child, parent, uniqueID(t, parent), size, 2*mib, ws); err != nil {
			t.Fatal(err)
		}
		want = vhdtest.Overlay(want, size, ws)
		parent = child
	}
	return parent, want
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, d *vdisk.Disk) []byte {
	t.Helper()
	got := make([]byte, d.Size())
	// Odd-sized reads cross block and sector boundaries.
	for off := int64(0); off < d.Size(); off += 777 * 512 {
		n := min(777*512, d.Size()-off)
		if _, err := d.ReadAt(got[off:off+n], off); err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
		}
	}
	return got
}

func TestVHDChainReadsThroughEveryLayer(t *testing.T) {
	dir := t.TempDir()
	leaf, want := vhdChain(t, dir)
	var files []string
	for _, n := range []string{"base.vhd", "c1.avhd", "c2.avhd", "c3.avhd"} {
		p := filepath.Join(dir, n)
		os.Chmod(p, 0o444)
		files = append(files, p)
	}
	unchanged := testutil.Unchanged(t, files...)
	d, err := vdisk.Open(leaf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := len(d.Layers()); n != 4 {
		t.Fatalf("chain of %d layers, want 4", n)
	}
	for i, l := range d.Layers()[:3] {
		if !l.ParentLinkageOK || l.ParentFoundBy != "relative path" {
			t.Errorf("layer %d: linkage ok %v, found by %q", i, l.ParentLinkageOK, l.ParentFoundBy)
		}
	}
	if got := readAll(t, d); !bytes.Equal(got, want) {
		t.Fatalf("flattened chain differs from the content the layers were written with (first difference at %d)", firstDiff(got, want))
	}
	// The top layer holds exactly what was written into it.
	exts, err := d.Layers()[0].Extents(nil, 0, d.Size())
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	for _, e := range exts {
		if e.State == extent.Data {
			held += e.Length
		}
	}
	if held != 4096+512 {
		t.Errorf("top layer holds %d bytes, want %d", held, 4096+512)
	}
	d.Close()
	unchanged()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestParentFoundInParentDir(t *testing.T) {
	dir := t.TempDir()
	leaf, want := vhdChain(t, dir)
	// Move the base elsewhere: neither stored path nor the child's folder
	// has it now.
	elsewhere := t.TempDir()
	if err := os.Rename(filepath.Join(dir, "base.vhd"), filepath.Join(elsewhere, "base.vhd")); err != nil {
		t.Fatal(err)
	}
	_, err := vdisk.Open(leaf, nil)
	if !errors.Is(err, vdisk.ErrParentNotFound) {
		t.Fatalf("without --parent-dir: %v, want ErrParentNotFound", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "base.vhd")) {
		t.Errorf("error does not name the paths tried: %v", err)
	}
	d, err := vdisk.Open(leaf, &vdisk.Options{ParentDirs: []string{elsewhere}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.Layers()[2].ParentFoundBy; got != "parent dir "+elsewhere {
		t.Errorf("found by %q", got)
	}
	if !bytes.Equal(readAll(t, d), want) {
		t.Fatal("content differs")
	}
}

func TestLinkageMismatch(t *testing.T) {
	dir := t.TempDir()
	leaf, _ := vhdChain(t, dir)
	// Replace c2 by another image with the same name: c3's linkage fails.
	other := filepath.Join(t.TempDir(), "other.vhd")
	if err := vhdtest.WriteDynamic(other, 8*mib, 2*mib, randomWrites(t, [2]int64{0, 512})); err != nil {
		t.Fatal(err)
	}
	copyFile(t, other, filepath.Join(dir, "c2.avhd"))
	_, err := vdisk.Open(leaf, nil)
	if !errors.Is(err, vdisk.ErrLinkage) {
		t.Fatalf("got %v, want ErrLinkage", err)
	}
	for _, id := range []string{vdisk.UUIDString(uniqueID(t, other))} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name the parent's ID %s", err, id)
		}
	}
	d, err := vdisk.Open(leaf, &vdisk.Options{IgnoreLinkage: true})
	if err != nil {
		t.Fatalf("with IgnoreLinkage: %v", err)
	}
	defer d.Close()
	if d.Layers()[0].ParentLinkageOK {
		t.Error("linkage reported OK for a mismatched parent")
	}
}

func TestChainThatLoops(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.avhd"), filepath.Join(dir, "b.avhd")
	idA, idB := [16]byte{1, 2, 3}, [16]byte{4, 5, 6}
	for _, x := range []struct {
		path, parent string
		id, pid      [16]byte
	}{{a, b, idA, idB}, {b, a, idB, idA}} {
		abs, rel, err := vhdtest.WindowsPaths(x.path, x.parent)
		if err != nil {
			t.Fatal(err)
		}
		img, err := vhdtest.Encode(vhdtest.Spec{
			Type: vhdtest.TypeDifferencing, VirtualSize: 4 * mib, BlockSize: 2 * mib,
			UniqueID: x.id, ParentUniqueID: x.pid, ParentName: filepath.Base(x.parent),
			Locators: []vhdtest.Locator{{Code: "W2ku", Data: vhdtest.UTF16LE(abs)}, {Code: "W2ru", Data: vhdtest.UTF16LE(rel)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(x.path, img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := vdisk.Open(a, nil)
	if err == nil || !strings.Contains(err.Error(), "loops") {
		t.Fatalf("got %v, want an error about a loop", err)
	}
}

func TestLoneChildOfRealCheckpoint(t *testing.T) {
	child := testutil.Sample(t, "differencing.avhdx")
	_, err := vdisk.Open(child, nil)
	if !errors.Is(err, vdisk.ErrParentNotFound) {
		t.Fatalf("got %v, want ErrParentNotFound", err)
	}
	// The paths tried include the parent's file name beside the child.
	beside := filepath.Join(filepath.Dir(child), "Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx")
	if !strings.Contains(err.Error(), beside) {
		t.Errorf("error does not name %s: %v", beside, err)
	}
	layers, _ := vdisk.Inspect(child, nil)
	if len(layers) != 1 || !layers[0].Differencing() || layers[0].ParentLinkage != "ff34003b-11ed-4cf8-a166-b2be05e20b80" {
		t.Fatalf("Inspect: %+v", layers)
	}
}

func TestDetectSamples(t *testing.T) {
	for name, want := range map[string]vdisk.Format{
		"fixed.vhd": vdisk.FormatVHD, "dynamic.vhd": vdisk.FormatVHD,
		"fixed.vhdx": vdisk.FormatVHDX, "dynamic.vhdx": vdisk.FormatVHDX,
	} {
		p := testutil.Sample(t, name)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		got, err := vdisk.Detect(f, st.Size())
		f.Close()
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", name, got, err, want)
		}
	}
}

// TestSamplesMatchQemu reads the real Windows-made images through vdisk
// and compares them with qemu-img's raw conversion.
func TestSamplesMatchQemu(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	for _, s := range []struct{ name, qemuFormat string }{
		{"fixed.vhd", "vpc"}, {"dynamic.vhd", "vpc"}, {"fixed.vhdx", "vhdx"}, {"dynamic.vhdx", "vhdx"},
	} {
		p := testutil.Sample(t, s.name)
		raw := filepath.Join(t.TempDir(), "raw")
		testutil.Run(t, "qemu-img", "convert", "-f", s.qemuFormat, "-O", "raw", p, raw)
		d, err := vdisk.Open(p, nil)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := testutil.ReaderSHA256(t, d, d.Size())
		d.Close()
		if want := testutil.FileSHA256(t, raw); got != want {
			t.Errorf("%s: sha256 %s, qemu-img reads %s", s.name, got, want)
		}
	}
}

// TestVHDXChainOverQemuBase reads AVHDX checkpoints (crafted from the
// specification) over a VHDX base made by qemu-img, with 4 KiB-aligned and
// sector-sized writes that leave blocks partially present.
func TestVHDXChainOverQemuBase(t *testing.T) {
	_, base := qemuBase(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, base, 0o644); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(dir, "base.vhdx")
	testutil.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M", raw, parent)
	size := int64(len(base))
	want := base
	for i, spots := range [][][2]int64{
		{{0, 4096}, {5*mib + 512, 512}, {2*mib - 512, 1024}},
		{{512, 512}, {7 * mib, mib}},
	} {
		var ws []vhdxtest.Write
		for _, w := range randomWrites(t, spots...) {
			ws = append(ws, vhdxtest.Write{Offset: w.Offset, Data: w.Data})
			want = vhdtest.Overlay(want, size, []vhdtest.Write{w})
		}
		l, err := vdisk.OpenLayer(parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		child := filepath.Join(dir, fmt.Sprintf("vm_%d.avhdx", i))
		if err := vhdxtest.WriteDifferencing(child, parent, l.ID, size, 512, 2*mib, ws); err != nil {
			t.Fatal(err)
		}
		parent = child
	}
	d, err := vdisk.Open(parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Layers()) != 3 || d.Layers()[0].Format != "vhdx" || d.Layers()[0].Type != "differencing" {
		t.Fatalf("layers: %+v", d.Layers())
	}
	if got := readAll(t, d); !bytes.Equal(got, want) {
		t.Fatalf("differs at %d", firstDiff(got, want))
	}
	// The flattened map says Data exactly where some layer holds data
	// (no layer here declares zeros), sector by sector.
	held := make([]bool, size/512)
	for _, l := range d.Layers() {
		exts, err := l.Extents(nil, 0, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exts {
			if e.State == extent.Data {
				for s := e.Offset / 512; s < e.End()/512; s++ {
					held[s] = true
				}
			}
		}
	}
	exts, err := d.Extents(nil, 0, d.Size())
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	for _, e := range exts {
		if e.Offset != pos {
			t.Fatalf("flattened extents leave a gap at %d", pos)
		}
		for s := e.Offset / 512; s < e.End()/512; s++ {
			if held[s] != (e.State == extent.Data) {
				t.Fatalf("sector %d: flattened state %v, layers hold data: %v", s, e.State, held[s])
			}
		}
		pos = e.End()
	}
	if pos != size {
		t.Fatalf("flattened extents end at %d of %d", pos, size)
	}
}
