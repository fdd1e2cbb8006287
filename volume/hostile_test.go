package volume_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume"
)

// mbrEntry writes a partition entry into a table sector.
func mbrEntry(sec []byte, slot int, typ byte, start, n uint32) {
	e := sec[446+16*slot:]
	e[4] = typ
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], n)
	sec[510], sec[511] = 0x55, 0xAA
}

func hasWarning(tab *volume.Table, s string) bool {
	for _, w := range tab.Warnings {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

func TestHostileMBR(t *testing.T) {
	const sectors = 2048
	t.Run("EBR loop", func(t *testing.T) {
		d := make([]byte, sectors*512)
		mbrEntry(d, 0, 0x83, 1, 100)
		mbrEntry(d, 1, 0x05, 200, 1000)
		// EBR 1 at 200: logical at +10, next EBR at ext+300
		mbrEntry(d[200*512:], 0, 0x83, 10, 50)
		mbrEntry(d[200*512:], 1, 0x05, 300, 100)
		// EBR 2 at 500: logical, next EBR back to the first
		mbrEntry(d[500*512:], 0, 0x07, 10, 50)
		mbrEntry(d[500*512:], 1, 0x05, 0, 100)
		tab, err := volume.Read(bytes.NewReader(d), int64(len(d)), 512)
		if err != nil {
			t.Fatal(err)
		}
		if tab.Volume("p5") == nil || tab.Volume("p6") == nil || tab.Volume("p7") != nil || !hasWarning(tab, "loop") {
			t.Errorf("volumes %d, warnings %v", len(tab.Volumes), tab.Warnings)
		}
	})
	t.Run("EBR self loop", func(t *testing.T) {
		d := make([]byte, sectors*512)
		mbrEntry(d, 0, 0x0f, 100, 1000)
		mbrEntry(d[100*512:], 0, 0x83, 10, 50)
		mbrEntry(d[100*512:], 1, 0x05, 0, 100)
		tab, err := volume.Read(bytes.NewReader(d), int64(len(d)), 512)
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.Volumes) != 1 || !hasWarning(tab, "loop") {
			t.Errorf("volumes %d, warnings %v", len(tab.Volumes), tab.Warnings)
		}
	})
	t.Run("EBR outside", func(t *testing.T) {
		d := make([]byte, sectors*512)
		mbrEntry(d, 0, 0x05, 100, 500)
		mbrEntry(d[100*512:], 0, 0x83, 10, 50)
		mbrEntry(d[100*512:], 1, 0x05, 1<<30, 100)
		tab, err := volume.Read(bytes.NewReader(d), int64(len(d)), 512)
		if err != nil {
			t.Fatal(err)
		}
		if tab.Volume("p5") == nil || !hasWarning(tab, "outside the extended") {
			t.Errorf("volumes %d, warnings %v", len(tab.Volumes), tab.Warnings)
		}
	})
	t.Run("past end and overlap", func(t *testing.T) {
		d := make([]byte, sectors*512)
		mbrEntry(d, 0, 0x83, 1, 100)
		mbrEntry(d, 1, 0x07, 50, 100)
		mbrEntry(d, 2, 0x83, 1000, 1<<31)
		mbrEntry(d, 3, 0x42, 500, 100)
		tab, err := volume.Read(bytes.NewReader(d), int64(len(d)), 512)
		if err != nil {
			t.Fatal(err)
		}
		if v := tab.Volume("p3"); v == nil || !v.PastEnd || !hasWarning(tab, "past the end") || !hasWarning(tab, "overlap") {
			t.Errorf("warnings %v", tab.Warnings)
		}
		if v := tab.Volume("p4"); v == nil || !strings.Contains(v.Unsupported, "LDM") {
			t.Errorf("LDM partition not flagged: %+v", v)
		}
	})
}

// gptHeader fills a GPT header sector at lba with the given counts and
// valid CRCs over an empty entry array.
func gptHeader(d []byte, lba, last uint64, count, size uint32) {
	h := d[lba*512:]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x10000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], lba)
	binary.LittleEndian.PutUint64(h[32:], last-lba+1)
	binary.LittleEndian.PutUint64(h[40:], 34)
	binary.LittleEndian.PutUint64(h[48:], last-34)
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], count)
	binary.LittleEndian.PutUint32(h[84:], size)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(make([]byte, 128*128)))
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
}

func TestHostileGPT(t *testing.T) {
	for _, tc := range []struct {
		name        string
		count, size uint32
		want        string
	}{
		{"2^31 entries", 1 << 31, 128, "2147483648 partition entries"},
		{"entry size 0", 128, 0, "entry size 0"},
		{"entry size huge", 128, 1 << 30, "entry size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := make([]byte, 1<<20)
			mbrEntry(d, 0, 0xEE, 1, 2047)
			gptHeader(d, 1, 2047, tc.count, tc.size)
			_, err := volume.Read(bytes.NewReader(d), int64(len(d)), 512)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestHostileLVM damages the metadata of an lvm-built PV: a segment beyond
// the PV becomes an error for that LV only.
func TestHostileLVM(t *testing.T) {
	testutil.RequireTool(t, "lvm", "sfdisk", "losetup")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "volume-lvm", lvmScript)
	img, err := os.ReadFile(filepath.Join(dir, "whole.img"))
	if err != nil {
		t.Fatal(err)
	}
	// Find the metadata text and point the LV's stripe far away, keeping
	// the text's length; then fix the checksum in the mda header.
	i := bytes.LastIndex(img[:1<<20], []byte("\"pv0\", 0"))
	if i < 0 {
		t.Fatal("stripe not found in metadata")
	}
	copy(img[i:], "\"pv0\",99")
	mda := int64(4096)
	rl := img[mda+40:]
	off, size := binary.LittleEndian.Uint64(rl), binary.LittleEndian.Uint64(rl[8:])
	text := img[mda+int64(off) : mda+int64(off+size)]
	binary.LittleEndian.PutUint32(rl[16:], ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, text))
	binary.LittleEndian.PutUint32(img[mda:], ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, img[mda+4:mda+512]))
	tab, err := volume.Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	v := tab.Volume("wvg-data")
	if v == nil || !strings.Contains(v.Unsupported, "beyond") || v.ReaderAt != nil {
		t.Fatalf("LV beyond its PV not flagged: %+v (warnings %v)", v, tab.Warnings)
	}
}
