package vhdx

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

// sampleBytes returns [off, off+n) of a real sample, or nil without samples.
func sampleBytes(f *testing.F, name string, off, n int64) []byte {
	if _, err := os.Stat(testutil.SamplesDir()); err != nil && !testutil.InCI() {
		return nil
	}
	p := testutil.Sample(f, name)
	r, err := os.Open(p)
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && err != io.EOF {
		f.Fatal(err)
	}
	return b
}

var fuzzSamples = []string{"fixed.vhdx", "differencing.avhdx", "vhdx-log-replay.vhdx", "iotest-dirtylog-10G-4M.vhdx"}

func FuzzHeader(f *testing.F) {
	for _, s := range fuzzSamples {
		if b := sampleBytes(f, s, header1Offset, headerSize); b != nil {
			f.Add(b)
		}
	}
	f.Add(make([]byte, headerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2*headerSize {
			return
		}
		if len(b) < headerSize {
			b = append(b, make([]byte, headerSize-len(b))...)
		}
		if h, err := parseHeader(b); err == nil {
			_ = h.LogGuid.String()
		}
	})
}

func FuzzRegionTable(f *testing.F) {
	for _, s := range fuzzSamples {
		if b := sampleBytes(f, s, regionTable1Offset, 4096); b != nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > regionTableSize {
			return
		}
		t2 := make([]byte, regionTableSize)
		copy(t2, b)
		// Seeds hold the first 4 KiB; keep their checksum valid so the
		// fuzzer reaches the entries.
		binary.LittleEndian.PutUint32(t2[4:], checksum(t2, 4))
		parseRegionTable(t2)
	})
}

func FuzzMetadata(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "d.vhdx")
	lay, err := vhdxtest.Build(p, vhdxtest.Spec{VirtualSize: 8 << 20, LogicalSectorSize: 512, BlockSize: 1 << 20,
		Parent: &vhdxtest.Parent{Linkage: "{11111111-2222-3333-4444-555555555555}", Entries: map[string]string{"relative_path": `.\p.vhdx`}}})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b[lay.MetadataOffset : lay.MetadataOffset+72<<10])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 128<<10 {
			return
		}
		region := make([]byte, max(len(b), metadataTableSz))
		copy(region, b)
		items, err := parseMetadataTable(region, uint32(len(region)))
		if err != nil {
			return
		}
		for _, m := range items {
			if m.Length == 0 {
				continue
			}
			item := region[m.Offset : m.Offset+m.Length]
			parseFileParameters(item)
			parseParentLocator(item)
		}
	})
}

func FuzzLog(f *testing.F) {
	for _, s := range []string{"vhdx-log-replay.vhdx", "iotest-dirtylog-10G-4M.vhdx"} {
		if b := sampleBytes(f, s, mib, 64<<10); b != nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 256<<10 || len(b) < 64 {
			return
		}
		n := (len(b) + logSectorSize - 1) / logSectorSize * logSectorSize
		ring := &logRing{buf: make([]byte, n), memo: map[uint32]bool{}}
		copy(ring.buf, b)
		copy(ring.guid[:], b[32:48]) // the first entry's LogGuid
		seq := ring.activeSequence()
		if seq == nil {
			return
		}
		ov, _ := buildOverlay(ring, seq)
		ov.finish()
		fv := &fileView{r: bytes.NewReader(b), realSize: int64(len(b)), size: max(int64(len(b)), min(ov.end, 1<<30)), ov: ov}
		p := make([]byte, 16<<10)
		for _, off := range []int64{0, 4096, int64(len(b)) - 100, ov.end - 5000} {
			if off >= 0 {
				fv.ReadAt(p, off)
			}
		}
	})
}

// fuzzBases are small crafted images the FuzzImage patches mutate.
func fuzzBases(f *testing.F) [][]byte {
	dir := f.TempDir()
	var out [][]byte
	add := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	w := []vhdxtest.Write{{Offset: 512, Data: bytes.Repeat([]byte{7}, 4096)}, {Offset: 3 << 20, Data: bytes.Repeat([]byte{9}, 1<<20)}}
	dyn := filepath.Join(dir, "dyn.vhdx")
	lay, err := vhdxtest.Build(dyn, vhdxtest.Spec{VirtualSize: 5 << 20, LogicalSectorSize: 512, BlockSize: 1 << 20, Writes: w})
	if err != nil {
		f.Fatal(err)
	}
	add(dyn)
	diff := filepath.Join(dir, "diff.vhdx")
	if _, err := vhdxtest.Build(diff, vhdxtest.Spec{VirtualSize: 5 << 20, LogicalSectorSize: 4096, BlockSize: 1 << 20, Writes: []vhdxtest.Write{{Offset: 8192, Data: bytes.Repeat([]byte{5}, 4096)}},
		Parent: &vhdxtest.Parent{Linkage: "{11111111-2222-3333-4444-555555555555}", Entries: map[string]string{"relative_path": `.\p.vhdx`}}}); err != nil {
		f.Fatal(err)
	}
	add(diff)
	dirty := filepath.Join(dir, "dirty.vhdx")
	raw, _ := os.ReadFile(dyn)
	bat := append([]byte(nil), raw[lay.BATOffset:lay.BATOffset+4096]...)
	bat[8] = 2 // block 1: ZERO
	if err := vhdxtest.AddLog(dyn, dirty, vhdxtest.LogOptions{Entries: []vhdxtest.LogEntry{
		{Writes: []vhdxtest.LogWrite{{Offset: lay.BATOffset, Data: bat}}},
		{Writes: []vhdxtest.LogWrite{{Offset: lay.FileSize, ZeroLength: 1 << 20}}},
	}}); err != nil {
		f.Fatal(err)
	}
	add(dirty)
	return out
}

// FuzzImage patches a small crafted image with the input (records of a
// 4-byte offset, a length byte and that many bytes) and reads it whole.
func FuzzImage(f *testing.F) {
	bases := fuzzBases(f)
	f.Add([]byte{0})
	f.Add([]byte{1})
	f.Add([]byte{2})
	f.Add([]byte{0, 0x00, 0x00, 0x30, 0x00, 1, 0x07}) // BAT entry state
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || len(in) > 4096 {
			return
		}
		img := append([]byte(nil), bases[int(in[0])%len(bases)]...)
		for p := in[1:]; len(p) >= 5; {
			off := int(binary.LittleEndian.Uint32(p)) % len(img)
			n := min(int(p[4]), len(p)-5)
			copy(img[off:], p[5:5+n])
			p = p[5+n:]
		}
		for _, opts := range []*Options{nil, {IgnoreLog: true}} {
			im, err := NewImage(bytes.NewReader(img), int64(len(img)), opts)
			if err != nil {
				continue
			}
			exts, err := im.Extents(nil, 0, im.Size())
			if err != nil {
				continue
			}
			var end int64
			for _, e := range exts {
				if e.Offset != end || e.Length <= 0 {
					t.Fatalf("extents do not cover the disk: %+v", exts)
				}
				end = e.End()
				if e.State == extent.Data {
					n := min(e.Length, 4096)
					b := make([]byte, n)
					if _, err := im.ReadFileAt(b, e.FileOffset); err != nil {
						t.Fatalf("data extent %+v unreadable: %v", e, err)
					}
					// Where the file's own bytes are offered as they
					// are, they are what ReadFileAt gives.
					if im.Verbatim(e.FileOffset, n) && int64(len(img)) >= e.FileOffset+n &&
						!bytes.Equal(b, img[e.FileOffset:e.FileOffset+n]) {
						t.Fatalf("data extent %+v: Verbatim, but ReadFileAt differs from the file", e)
					}
				}
			}
			if end != im.Size() {
				t.Fatalf("extents end at %d of %d", end, im.Size())
			}
			buf := make([]byte, 1<<20)
			for off := int64(0); off < min(im.Size(), 16<<20); off += int64(len(buf)) {
				im.ReadAt(buf, off)
			}
		}
	})
}
