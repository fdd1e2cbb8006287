package vhdx_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhdx"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// chain reads a child over its parent through the child's extents.
type chain struct {
	child  *vhdx.Image
	parent io.ReaderAt
}

func (c chain) ReadAt(p []byte, off int64) (int, error) {
	exts, err := c.child.Extents(nil, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	for _, e := range exts {
		q := p[e.Offset-off : e.End()-off]
		switch e.State {
		case extent.Data:
			_, err = c.child.ReadFileAt(q, e.FileOffset)
		case extent.Absent:
			_, err = c.parent.ReadAt(q, e.Offset)
		default:
			clear(q)
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
	}
	return len(p), nil
}

func vhdiinfoField(t testing.TB, path, name string) string {
	t.Helper()
	testutil.RequireTool(t, "vhdiinfo")
	m := regexp.MustCompile(`(?m)^\s*` + name + `\s*:\s*(.*)$`).FindStringSubmatch(string(testutil.Run(t, "vhdiinfo", path)))
	if m == nil {
		t.Fatalf("vhdiinfo %s: no %s", path, name)
	}
	return strings.TrimSpace(m[1])
}

func TestDifferencing(t *testing.T) {
	for _, lss := range []int{512, 4096} {
		t.Run(map[int]string{512: "512", 4096: "4096"}[lss], func(t *testing.T) {
			const size = 64 << 20
			dir := t.TempDir()
			base := filepath.Join(dir, "base.vhdx")
			baseContent := make([]byte, size)
			copy(baseContent, pattern(1, 40<<20))
			if lss == 512 {
				// The parent made by qemu: an independent writer.
				src := qemuImage(t, "vhdx-diff-base", "dynamic", "64M", "1M", "0x61 0 40M")
				data, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(base, data, 0o644)
				for i := range baseContent[:40<<20] {
					baseContent[i] = 0x61
				}
			} else if err := vhdxtest.WriteDynamic(base, size, lss, 1<<20, []vhdxtest.Write{{Offset: 0, Data: baseContent[:40<<20]}}); err != nil {
				t.Fatal(err)
			}
			linkage := vhdiinfoField(t, base, "Identifier")
			s := int64(lss)
			writes := []vhdxtest.Write{
				{Offset: s, Data: pattern(2, lss)},                    // one sector of block 0
				{Offset: 1<<20 - s, Data: pattern(3, 3*lss)},          // across blocks 0 and 1
				{Offset: 2 << 20, Data: pattern(4, 1<<20)},            // all of block 2
				{Offset: 5<<20 + 4096, Data: pattern(5, 4096)},        // inside block 5
				{Offset: 63<<20 + 7*s, Data: pattern(6, lss)},         // last block
				{Offset: 50 << 20, Data: make([]byte, 2*lss)},         // zeros written over parent zeros
				{Offset: 10<<20 + 16*s, Data: pattern(7, 32*lss)},     // a run in block 10
				{Offset: 10<<20 + 16*s + 64*s, Data: pattern(8, lss)}, // and a lone sector after it
			}
			want := append([]byte(nil), baseContent...)
			for _, w := range writes {
				copy(want[w.Offset:], w.Data)
			}
			child := filepath.Join(dir, "child.avhdx")
			if err := vhdxtest.WriteDifferencing(child, base, strings.ToUpper(linkage), size, lss, 1<<20, writes); err != nil {
				t.Fatal(err)
			}
			defer testutil.Unchanged(t, base, child)()
			cim := mustOpen(t, child, nil)
			bim := mustOpen(t, base, nil)
			if !cim.HasParent() || cim.Type() != "differencing" || cim.LogicalSectorSize() != lss {
				t.Fatalf("child: parent %v type %s lss %d", cim.HasParent(), cim.Type(), cim.LogicalSectorSize())
			}
			if l, _ := cim.ParentLinkages(); l != bim.DataWriteGUID() {
				t.Errorf("parent_linkage %s, parent DataWriteGuid %s", l, bim.DataWriteGUID())
			}
			loc := cim.ParentLocator()
			if loc["relative_path"] != `.\base.vhdx` || loc["absolute_win32_path"] != `C:\VMs\base.vhdx` || loc["volume_path"] == "" {
				t.Errorf("parent locator %q", loc)
			}
			// Extents: block 2 is one Data run, block 0 mixes Absent and Data.
			exts, err := cim.Extents(nil, 0, size)
			if err != nil {
				t.Fatal(err)
			}
			checkCover(t, exts, 0, size)
			e2, _ := cim.Extents(nil, 2<<20, 1<<20)
			if len(e2) != 1 || e2[0].State != extent.Data {
				t.Errorf("block 2 extents %+v", e2)
			}
			e0, _ := cim.Extents(nil, 0, 4*s)
			if len(e0) != 3 || e0[0].State != extent.Absent || e0[1].State != extent.Data || e0[1].Length != s || e0[2].State != extent.Absent {
				t.Errorf("block 0 extents %+v", e0)
			}
			got := make([]byte, size)
			if _, err := (chain{cim, bim}).ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("chain content differs from the writes over the parent")
			}
			// libvhdi reads the child over its parent (lower-case linkage in
			// braces, as the spec stores it).
			if h := vhdimountSHA(t, child); h != "" && h != sha(t, bytes.NewReader(want), size) {
				t.Errorf("vhdimount of the child differs from the expected content")
			}
		})
	}
}

func TestBlockStates(t *testing.T) {
	dir := t.TempDir()
	for _, diff := range []bool{false, true} {
		p := filepath.Join(dir, "s.vhdx")
		spec := vhdxtest.Spec{VirtualSize: 8 << 20, LogicalSectorSize: 512, BlockSize: 1 << 20,
			Writes: []vhdxtest.Write{{Offset: 0, Data: pattern(9, 1<<20)}},
			States: map[int64]uint8{1: vhdxtest.Zero, 2: vhdxtest.Unmapped, 3: vhdxtest.Undefined, 4: vhdxtest.NotPresent}}
		if diff {
			spec.Parent = &vhdxtest.Parent{Linkage: "{11111111-2222-3333-4444-555555555555}", Entries: map[string]string{"relative_path": `.\p.vhdx`}}
		}
		if _, err := vhdxtest.Build(p, spec); err != nil {
			t.Fatal(err)
		}
		im := mustOpen(t, p, nil)
		want := []extent.State{extent.Data, extent.Zero, extent.Zero, extent.Zero, extent.Absent}
		for b, st := range want {
			e, err := im.Extents(nil, int64(b)<<20, 1<<20)
			if err != nil || len(e) != 1 || e[0].State != st {
				t.Errorf("diff %v block %d: %+v %v, want %s", diff, b, e, err, st)
			}
		}
		if diff {
			if l, _ := im.ParentLinkages(); l != "11111111-2222-3333-4444-555555555555" {
				t.Errorf("linkage %q", l)
			}
		}
	}
}

func TestDynamic4096(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d4k.vhdx")
	const size = 48 << 20
	writes := []vhdxtest.Write{{Offset: 4096, Data: pattern(10, 8192)}, {Offset: 33 << 20, Data: pattern(11, 3<<20)}}
	if err := vhdxtest.WriteDynamic(p, size, 4096, 2<<20, writes); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for _, w := range writes {
		copy(want[w.Offset:], w.Data)
	}
	im := mustOpen(t, p, nil)
	if im.LogicalSectorSize() != 4096 || im.Type() != "dynamic" {
		t.Errorf("lss %d type %s", im.LogicalSectorSize(), im.Type())
	}
	got := make([]byte, size)
	im.ReadAt(got, 0)
	if !bytes.Equal(got, want) {
		t.Errorf("content differs from the writes")
	}
	checkVhdiinfo(t, p, im)
	if h := vhdimountSHA(t, p); h != "" && h != sha(t, bytes.NewReader(want), size) {
		t.Errorf("vhdimount content differs")
	}
}

// dirtyBase crafts the clean image the dirty-log tests start from.
func dirtyBase(t testing.TB, dir string) (string, vhdxtest.Layout) {
	t.Helper()
	p := filepath.Join(dir, "clean.vhdx")
	lay, err := vhdxtest.Build(p, vhdxtest.Spec{VirtualSize: 64 << 20, LogicalSectorSize: 512, BlockSize: 1 << 20,
		Writes: []vhdxtest.Write{{Offset: 0, Data: pattern(20, 2<<20)}, {Offset: 7 << 20, Data: pattern(21, 1<<20)}}})
	if err != nil {
		t.Fatal(err)
	}
	return p, lay
}

func fill(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }

// logEntries rewrites data, the BAT (a new block past the end of the file)
// and the metadata (the virtual size grows to 80 MiB).
func logEntries(t testing.TB, path string, lay vhdxtest.Layout) []vhdxtest.LogEntry {
	t.Helper()
	f, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bat := append([]byte(nil), f[lay.BATOffset:lay.BATOffset+4096]...)
	x := lay.FileSize // new block 5, beyond the current end of the file
	binary.LittleEndian.PutUint64(bat[8*5:], 6|uint64(x>>20)<<20)
	md := append([]byte(nil), f[lay.MetadataOffset+64<<10:lay.MetadataOffset+64<<10+4096]...)
	binary.LittleEndian.PutUint64(md[8:], 80<<20)
	return []vhdxtest.LogEntry{
		{Writes: []vhdxtest.LogWrite{{Offset: lay.Blocks[0] + 8192, Data: fill(4096, 0xc1)}}},
		{Writes: []vhdxtest.LogWrite{
			{Offset: x, Data: fill(8192, 0xc2)},
			{Offset: x + 8192, ZeroLength: 1<<20 - 8192},
			{Offset: lay.BATOffset, Data: bat},
		}},
		{Writes: []vhdxtest.LogWrite{{Offset: lay.MetadataOffset + 64<<10, Data: md}, {Offset: lay.Blocks[7], ZeroLength: 4096}}},
	}
}

func TestCraftedLogs(t *testing.T) {
	dir := t.TempDir()
	clean, lay := dirtyBase(t, dir)
	entries := logEntries(t, clean, lay)
	garbage := []vhdxtest.LogEntry{{Writes: []vhdxtest.LogWrite{{Offset: lay.BATOffset, Data: fill(4096, 0x0d)}, {Offset: lay.Blocks[0], Data: fill(4096, 0xee)}}}}
	many := vhdxtest.LogEntry{}
	for i := int64(0); i < 130; i++ {
		many.Writes = append(many.Writes, vhdxtest.LogWrite{Offset: lay.Blocks[7] + 8192*i, Data: fill(4096, byte(i))})
	}
	cases := []struct {
		name string
		opts vhdxtest.LogOptions
		// qemuGood: qemu-img check -r all replays it as the spec says. qemu
		// 7.2 does not check that the second entry of a run follows the
		// first (it accepts the active sequence's first entry after a stale
		// one, and replays the stale entry too), and fails on entries with
		// more than 126 descriptors.
		qemuGood bool
	}{
		{"basic", vhdxtest.LogOptions{Entries: entries}, true},
		{"stale", vhdxtest.LogOptions{Entries: entries, Stale: garbage, Foreign: garbage}, false},
		{"torn", vhdxtest.LogOptions{Entries: entries, Torn: &garbage[0]}, true},
		{"wrap", vhdxtest.LogOptions{Entries: entries, Wrap: true}, true},
		{"all", vhdxtest.LogOptions{Entries: entries, Stale: garbage, Foreign: garbage, Torn: &garbage[0], Wrap: true}, false},
		{"foreign", vhdxtest.LogOptions{Entries: entries, Foreign: garbage}, true},
		{"torn-wrap", vhdxtest.LogOptions{Entries: entries, Torn: &garbage[0], Wrap: true}, true},
		{"many-descriptors", vhdxtest.LogOptions{Entries: append(append([]vhdxtest.LogEntry(nil), entries...), many)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dirty := filepath.Join(t.TempDir(), "dirty.vhdx")
			if err := vhdxtest.AddLog(clean, dirty, c.opts); err != nil {
				t.Fatal(err)
			}
			applied := filepath.Join(t.TempDir(), "applied.vhdx")
			if err := vhdxtest.ApplyLog(clean, applied, c.opts); err != nil {
				t.Fatal(err)
			}
			defer testutil.Unchanged(t, dirty)()
			im := mustOpen(t, dirty, nil)
			st := im.Log()
			if !st.Replayed || st.Entries != len(c.opts.Entries) || st.FirstSequence != 1000 {
				t.Errorf("log state %+v", st)
			}
			if im.Size() != 80<<20 {
				t.Errorf("size %d after replay, want the logged 80 MiB", im.Size())
			}
			// The expected content: the updates applied directly, read by qemu.
			compareRaw(t, im, im.Size(), qemuRaw(t, applied))
			if c.qemuGood {
				compareRaw(t, im, im.Size(), qemuRaw(t, replayedCopy(t, dirty)))
			}
			ign := mustOpen(t, dirty, &vhdx.Options{IgnoreLog: true})
			if ign.Size() != 64<<20 || !ign.Log().Ignored {
				t.Errorf("IgnoreLog: size %d state %+v", ign.Size(), ign.Log())
			}
		})
	}
}

// --- bad input ---

func fixCRC(b []byte, off, n int) {
	binary.LittleEndian.PutUint32(b[off+4:], 0)
	binary.LittleEndian.PutUint32(b[off+4:], crc32.Checksum(b[off:off+n], crc32.MakeTable(crc32.Castagnoli)))
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	clean, lay := dirtyBase(t, dir)
	orig, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	dirtyPath := filepath.Join(dir, "dirty.vhdx")
	if err := vhdxtest.AddLog(clean, dirtyPath, vhdxtest.LogOptions{Entries: logEntries(t, clean, lay)}); err != nil {
		t.Fatal(err)
	}
	dirty, _ := os.ReadFile(dirtyPath)
	md := int(lay.MetadataOffset)
	setRegions := func(b []byte, f func(rt []byte)) {
		for _, off := range []int{192 << 10, 256 << 10} {
			f(b[off:])
			fixCRC(b, off, 64<<10)
		}
	}
	cases := []struct {
		name   string
		base   []byte
		mutate func(b []byte)
		want   string
	}{
		{"both header CRCs", orig, func(b []byte) { b[64<<10+100]++; b[128<<10+100]++ }, "no valid header"},
		{"signature", orig, func(b []byte) { b[0] = 'X' }, "file type identifier"},
		{"region past file", orig, func(b []byte) {
			setRegions(b, func(rt []byte) { binary.LittleEndian.PutUint64(rt[16+16:], 1<<40) })
		}, "beyond end of file"},
		{"unknown required region", orig, func(b []byte) {
			setRegions(b, func(rt []byte) {
				binary.LittleEndian.PutUint32(rt[8:], 3)
				copy(rt[16+64:], "0123456789abcdef")
				binary.LittleEndian.PutUint64(rt[16+64+16:], 1<<20)
				binary.LittleEndian.PutUint32(rt[16+64+28:], 1)
			})
		}, "unknown required region"},
		{"BAT too small", orig, func(b []byte) { binary.LittleEndian.PutUint64(b[md+64<<10+8:], 200<<30) }, "BAT region"},
		{"block size not power of two", orig, func(b []byte) { binary.LittleEndian.PutUint32(b[md+64<<10:], 3<<20) }, "block size"},
		{"block size too small", orig, func(b []byte) { binary.LittleEndian.PutUint32(b[md+64<<10:], 512<<10) }, "block size"},
		{"block size too large", orig, func(b []byte) { binary.LittleEndian.PutUint32(b[md+64<<10:], 512<<20) }, "block size"},
		{"logical sector size", orig, func(b []byte) {
			// the item after File Parameters (8), size (8) and Page 83 (16)
			binary.LittleEndian.PutUint32(b[md+64<<10+32:], 1024)
		}, "logical sector size"},
		{"metadata item beyond region", orig, func(b []byte) { binary.LittleEndian.PutUint32(b[md+32+16:], 1<<20-4) }, "beyond the metadata region"},
		{"BAT entry past file", orig, func(b []byte) {
			binary.LittleEndian.PutUint64(b[lay.BATOffset+8*3:], 6|uint64(1<<30))
		}, "BAT entry 3"},
		{"reserved block state", orig, func(b []byte) { b[lay.BATOffset+8*4] = 5 }, "reserved state"},
		{"log entry longer than the log", dirty, func(b []byte) { binary.LittleEndian.PutUint32(b[lay.LogOffset+8:], 2<<20) }, "beyond the log length"},
		{"log entry with a torn checksum", dirty, func(b []byte) { b[lay.LogOffset+200]++ }, "no valid log sequence"},
		{"log tail outside the sequence", dirty, func(b []byte) {
			// every entry's tail points to a sector holding no entry
			for p := lay.LogOffset; p < lay.LogOffset+lay.LogLength; p += 4096 {
				if string(b[p:p+4]) == "loge" {
					n := int(binary.LittleEndian.Uint32(b[p+8:]))
					binary.LittleEndian.PutUint32(b[p+12:], 0x80000)
					fixCRC(b, int(p), n)
				}
			}
		}, "no valid log sequence"},
		{"log tail loops", dirty, func(b []byte) {
			// every entry claims to be its own tail but sequence numbers
			// repeat: each entry is a sequence of one; the newest wins, so
			// break them all with a zero sequence number instead.
			for p := lay.LogOffset; p < lay.LogOffset+lay.LogLength; p += 4096 {
				if string(b[p:p+4]) == "loge" {
					binary.LittleEndian.PutUint64(b[p+16:], 0)
				}
			}
		}, "no valid log sequence"},
		{"truncated file", dirty, func(b []byte) {
			for p := lay.LogOffset; p < lay.LogOffset+lay.LogLength; p += 4096 {
				if string(b[p:p+4]) == "loge" {
					n := int(binary.LittleEndian.Uint32(b[p+8:]))
					binary.LittleEndian.PutUint64(b[p+48:], 1<<40)
					fixCRC(b, int(p), n)
				}
			}
		}, "truncated"},
		{"empty log with LogGuid", dirty, func(b []byte) { clear(b[lay.LogOffset : lay.LogOffset+lay.LogLength]) }, "no valid log sequence"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), c.base...)
			c.mutate(b)
			_, err := vhdx.NewImage(bytes.NewReader(b), int64(len(b)), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "vhdx: ") {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	// One broken header is survivable.
	b := append([]byte(nil), orig...)
	b[128<<10+100]++
	im, err := vhdx.NewImage(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil || len(im.Warnings()) == 0 {
		t.Errorf("one bad header: %v, warnings %q", err, im.Warnings())
	}
}
