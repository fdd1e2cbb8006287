package cli

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

const mib = 1 << 20

// fastPathBase builds, with qemu-img, a 9 MiB disk with random data, zero
// runs of several lengths and an odd tail, as a dynamic VHDX (1 MiB blocks)
// and a dynamic VHD, with qemu's own raw reading of each.
func fastPathBase(t *testing.T) string {
	testutil.RequireTool(t, "qemu-img")
	return testutil.Build(t, "cli-convert-fastpath", `
truncate -s 9M base.raw
head -c 3145728 /dev/urandom | dd of=base.raw bs=1M seek=0 conv=notrunc status=none
dd if=/dev/zero of=base.raw bs=4096 seek=100 count=20 conv=notrunc status=none
dd if=/dev/zero of=base.raw bs=4096 seek=300 count=3 conv=notrunc status=none
head -c 1536 /dev/urandom | dd of=base.raw bs=512 seek=9000 conv=notrunc status=none
head -c 4096 /dev/urandom | dd of=base.raw bs=512 seek=18424 conv=notrunc status=none
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M base.raw base.vhdx
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on base.raw base.vhd
qemu-img convert -f vhdx -O raw base.vhdx base.vhdx.raw
qemu-img convert -f vpc -O raw base.vhd base.vhd.raw
`)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func overlay(base []byte, ws []vhdtest.Write) []byte {
	out := append([]byte(nil), base...)
	for _, w := range ws {
		copy(out[w.Offset:], w.Data)
	}
	return out
}

// convertCase is a disk to convert and the bytes an independent reader
// (qemu-img, or the writes a crafted layer holds over qemu's reading of its
// parent) says it holds.
type convertCase struct {
	name string
	path string
	want []byte
	// check looks at how the disk maps, so that the case exercises what
	// it is meant to.
	check func(t *testing.T, d *vdisk.Disk)
}

func convertCases(t *testing.T) []convertCase {
	base := fastPathBase(t)
	dir := t.TempDir()
	vhdxBase, vhdBase := filepath.Join(dir, "base.vhdx"), filepath.Join(dir, "base.vhd")
	os.WriteFile(vhdxBase, readFile(t, filepath.Join(base, "base.vhdx")), 0o644)
	os.WriteFile(vhdBase, readFile(t, filepath.Join(base, "base.vhd")), 0o644)
	vhdxRaw := readFile(t, filepath.Join(base, "base.vhdx.raw"))
	vhdRaw := readFile(t, filepath.Join(base, "base.vhd.raw"))

	// A differencing VHDX: whole blocks, and sectors scattered so that
	// blocks are partially present and chunks mix both layers.
	vhdxWrites := []vhdtest.Write{
		{Offset: 0, Data: random(512)},
		{Offset: 4096 + 512, Data: random(1024)},
		{Offset: 4 * mib, Data: random(mib)},
		{Offset: 6*mib - 512, Data: random(8192)},
		{Offset: 8 * mib, Data: make([]byte, 128<<10)}, // zeros the child holds: left as a hole
	}
	var xw []vhdxtest.Write
	for _, w := range vhdxWrites {
		xw = append(xw, vhdxtest.Write{Offset: w.Offset, Data: w.Data})
	}
	l, err := vdisk.OpenLayer(vhdxBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	vhdxChild := filepath.Join(dir, "child.avhdx")
	if err := vhdxtest.WriteDifferencing(vhdxChild, vhdxBase, l.ID, int64(len(vhdxRaw)), 512, mib, xw); err != nil {
		t.Fatal(err)
	}

	// A differencing VHD over qemu's dynamic VHD.
	vhdWrites := []vhdtest.Write{
		{Offset: 512, Data: random(512)},
		{Offset: 2*mib + 4096, Data: random(3 * mib)},
	}
	f, err := os.Open(vhdBase)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	img, err := vhd.NewImage(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	id := img.UniqueID()
	f.Close()
	vhdChild := filepath.Join(dir, "child.avhd")
	if err := vhdtest.WriteDifferencing(vhdChild, vhdBase, id, int64(len(vhdRaw)), 2*mib, vhdWrites); err != nil {
		t.Fatal(err)
	}

	// A VHDX with a dirty log whose updates rewrite and zero parts of
	// payload blocks: those bytes must come from the replay, not the file.
	clean := filepath.Join(dir, "clean.vhdx")
	lay, err := vhdxtest.Build(clean, vhdxtest.Spec{VirtualSize: 12 * mib, LogicalSectorSize: 512, BlockSize: mib,
		Writes: []vhdxtest.Write{{Offset: 0, Data: random(4 * mib)}, {Offset: 8 * mib, Data: random(4 * mib)}}})
	if err != nil {
		t.Fatal(err)
	}
	fill := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	logged := vhdxtest.LogOptions{Entries: []vhdxtest.LogEntry{
		{Writes: []vhdxtest.LogWrite{{Offset: lay.Blocks[1] + 8192, Data: fill(4096, 0xc1)}}},
		{Writes: []vhdxtest.LogWrite{{Offset: lay.Blocks[2], ZeroLength: 256 << 10}}},
	}}
	dirty, repaired := filepath.Join(dir, "dirty.vhdx"), filepath.Join(dir, "repaired.vhdx")
	if err := vhdxtest.AddLog(clean, dirty, logged); err != nil {
		t.Fatal(err)
	}
	if err := vhdxtest.ApplyLog(clean, repaired, logged); err != nil {
		t.Fatal(err)
	}
	repairedRaw := filepath.Join(dir, "repaired.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", repaired, repairedRaw)
	logSpan := [2]int64{1*mib + 8192, 2*mib + 256<<10} // virtual bytes the log changes, roughly

	verbatimSomewhere := func(t *testing.T, d *vdisk.Disk) {
		srcs, err := d.Sources(nil, 0, d.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range srcs {
			if s.State == extent.Data && s.File != nil {
				return
			}
		}
		t.Fatal("no data lies verbatim in a file: the fast path is not exercised")
	}
	return []convertCase{
		{"dynamic.vhdx", vhdxBase, vhdxRaw, verbatimSomewhere},
		{"dynamic.vhd", vhdBase, vhdRaw, verbatimSomewhere},
		{"differencing.avhdx", vhdxChild, overlay(vhdxRaw, vhdxWrites), func(t *testing.T, d *vdisk.Disk) {
			verbatimSomewhere(t, d)
			// Some chunk takes data from both layers.
			srcs, _ := d.Sources(nil, 0, convertChunk)
			layers := map[int]bool{}
			for _, s := range srcs {
				if s.State == extent.Data {
					layers[s.Layer] = true
				}
			}
			if len(layers) < 2 {
				t.Fatalf("the first chunk takes data from layers %v, want both", layers)
			}
		}},
		{"differencing.avhd", vhdChild, overlay(vhdRaw, vhdWrites), verbatimSomewhere},
		{"dirty-log.vhdx", dirty, readFile(t, repairedRaw), func(t *testing.T, d *vdisk.Disk) {
			verbatimSomewhere(t, d)
			srcs, err := d.Sources(nil, logSpan[0], logSpan[1]-logSpan[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range srcs {
				if s.State == extent.Data && s.File != nil && s.Offset < 1*mib+8192+4096 && s.End() > 1*mib+8192 {
					t.Fatalf("source %+v: bytes the log rewrote are offered from the file", s)
				}
				if s.State == extent.Data && s.File != nil && s.Offset < 2*mib+256<<10 && s.End() > 2*mib {
					t.Fatalf("source %+v: bytes the log zeroed are offered from the file", s)
				}
			}
			// And the file's own bytes there are stale: copying them
			// would be wrong.
			stale := readFile(t, dirty)[lay.Blocks[1]+8192 : lay.Blocks[1]+8192+4096]
			if bytes.Equal(stale, fill(4096, 0xc1)) {
				t.Fatal("the dirty file already holds the logged bytes: the case tests nothing")
			}
		}},
	}
}

// TestWriteFileMatchesStreamAndOracles converts each case to a file with
// direct I/O and file mappings (where the system allows), with neither,
// and as a stream, and compares all three with the oracle's bytes.
func TestWriteFileMatchesStreamAndOracles(t *testing.T) {
	for _, c := range convertCases(t) {
		t.Run(c.name, func(t *testing.T) {
			unchanged := testutil.Unchanged(t, c.path)
			d, err := vdisk.Open(c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Size() != int64(len(c.want)) {
				t.Fatalf("size %d, oracle %d", d.Size(), len(c.want))
			}
			c.check(t, d)
			bar := newProgressBar(io.Discard, false, "", d.Size())
			for _, direct := range []bool{true, false} {
				out := filepath.Join(t.TempDir(), "out.raw")
				f, err := os.Create(out)
				if err != nil {
					t.Fatal(err)
				}
				var df *os.File
				if direct {
					df = openDirect(f)
				}
				err = writeFile(d, f, df, bar)
				if df != nil {
					df.Close()
				}
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, out); !bytes.Equal(got, c.want) {
					t.Fatalf("direct=%v (direct I/O available: %v): file differs from the oracle at %d", direct, df != nil, firstDiff(got, c.want))
				}
			}
			var buf bytes.Buffer
			if err := writeStream(d, &buf, bar); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), c.want) {
				t.Fatalf("stream differs from the oracle at %d", firstDiff(buf.Bytes(), c.want))
			}
			unchanged()
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWriteRuns checks which parts of a chunk are written: everything that
// is not zero, zero runs of minHole and more left out, shorter ones written
// with their data.
func TestWriteRuns(t *testing.T) {
	page := func(nonzero bool) []byte {
		b := make([]byte, outPage)
		if nonzero {
			b[outPage-1] = 1
		}
		return b
	}
	var p []byte
	// data, short gap, data, long gap, data, zero tail, partial last page
	for _, run := range []struct {
		n       int
		nonzero bool
	}{{3, true}, {minHole/outPage - 1, false}, {2, true}, {minHole / outPage, false}, {1, true}, {minHole/outPage + 5, false}, {1, true}} {
		for range run.n {
			p = append(p, page(run.nonzero)...)
		}
	}
	p = append(p, 0, 0, 7) // partial page at the end of the disk
	const off = 8 * mib
	got := make([]byte, len(p))
	var writes [][2]int64
	err := writeRuns(p, off, func(b []byte, at int64) error {
		copy(got[at-off:], b)
		writes = append(writes, [2]int64{at - off, int64(len(b))})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, p) {
		t.Fatalf("written bytes differ at %d", firstDiff(got, p))
	}
	want := [][2]int64{
		{0, (3 + minHole/outPage - 1 + 2) * outPage},
		{(3 + minHole/outPage - 1 + 2 + minHole/outPage) * outPage, outPage},
		{int64(len(p)) - outPage - 3, outPage + 3},
	}
	if len(writes) != len(want) {
		t.Fatalf("writes %v, want %v", writes, want)
	}
	for i := range want {
		if writes[i] != want[i] {
			t.Fatalf("writes %v, want %v", writes, want)
		}
	}
}
