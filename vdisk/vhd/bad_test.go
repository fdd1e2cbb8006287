package vhd_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
)

var be = binary.BigEndian

// craftedDiff is a small differencing image: 64 KiB in 4 KiB blocks, two
// locators, a few written sectors.
func craftedDiff(t testing.TB) []byte {
	t.Helper()
	img, err := vhdtest.Encode(vhdtest.Spec{
		Type: vhdtest.TypeDifferencing, VirtualSize: 64 << 10, BlockSize: 4096,
		Writes: []vhdtest.Write{
			{Offset: 512, Data: pattern(512, 512, 1)},
			{Offset: 3 * 512, Data: pattern(3*512, 2*512, 2)},
			{Offset: 20 << 10, Data: pattern(20<<10, 8192, 3)},
		},
		ParentUniqueID: [16]byte{0xde, 0xad}, ParentName: `C:\VMs\base.vhd`,
		Locators: []vhdtest.Locator{
			{Code: "W2ku", Data: vhdtest.UTF16LE(`C:\VMs\base.vhd`)},
			{Code: "W2ru", Data: vhdtest.UTF16LE(`.\base.vhd`)},
			{Code: "Wi2k", Data: []byte(`C:\VMs\base.vhd` + "\x00")},
			{Code: "MacX", Data: []byte("file://localhost/Users/me/base.vhd")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Offsets in a crafted image.
const (
	hdr = 512
	bat = 1536
)

func fixHeader(b []byte) {
	h := b[hdr : hdr+1024]
	be.PutUint32(h[36:], vhd.Checksum(h, 36))
}

func fixFooters(b []byte) {
	for _, at := range []int{0, len(b) - 512} {
		f := b[at : at+512]
		be.PutUint32(f[64:], vhd.Checksum(f, 64))
	}
}

func setFooters(b []byte, fn func(f []byte)) {
	fn(b[:512])
	fn(b[len(b)-512:])
	fixFooters(b)
}

func firstUsedBAT(b []byte) int {
	for i := bat; ; i += 4 {
		if be.Uint32(b[i:]) != 0xFFFFFFFF {
			return i
		}
	}
}

func TestCraftedDiffMetadata(t *testing.T) {
	img := craftedDiff(t)
	im, err := vhd.NewImage(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	want := []vhd.ParentLocator{
		{Code: "W2ku", Path: `C:\VMs\base.vhd`},
		{Code: "W2ru", Path: `.\base.vhd`},
		{Code: "Wi2k", Path: `C:\VMs\base.vhd`},
		{Code: "MacX", Path: "/Users/me/base.vhd"},
	}
	got := im.ParentLocators()
	if len(got) != len(want) {
		t.Fatalf("locators %+v", got)
	}
	for i := range want {
		if got[i].Code != want[i].Code || got[i].Path != want[i].Path || got[i].DataLength == 0 || got[i].DataOffset == 0 {
			t.Errorf("locator %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if im.ParentName() != `C:\VMs\base.vhd` || im.ParentUniqueID() != [16]byte{0xde, 0xad} {
		t.Errorf("parent %q %x", im.ParentName(), im.ParentUniqueID())
	}
	if im.Type().String() != "differencing" || vhd.DiskType(9).String() != "DiskType(9)" {
		t.Errorf("type names")
	}
	// ReadAt at and past the end.
	buf := make([]byte, 1024)
	if n, err := im.ReadAt(buf, im.Size()-512); n != 512 || err != io.EOF {
		t.Errorf("read across the end: %d, %v", n, err)
	}
	if n, err := im.ReadAt(buf, im.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v", n, err)
	}
	if _, err := im.Extents(nil, 0, im.Size()+1); err == nil {
		t.Errorf("extents past the end: no error")
	}
	// Concurrent reads agree.
	whole := make([]byte, im.Size())
	im.ReadAt(whole, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1536)
			for off := int64(g * 512); off+int64(len(b)) <= im.Size(); off += 4096 {
				if _, err := im.ReadAt(b, off); err != nil || !bytes.Equal(b, whole[off:off+int64(len(b))]) {
					t.Errorf("concurrent read at %d differs (%v)", off, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestBadInput(t *testing.T) {
	fixed, err := vhdtest.EncodeFixed(make([]byte, 8192), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		base    []byte // craftedDiff if nil
		mutate  func(b []byte) []byte
		wantErr string // "" = opens
		warning string
	}{
		{name: "sound", mutate: func(b []byte) []byte { return b }},
		{name: "too small", mutate: func(b []byte) []byte { return b[:300] }, wantErr: "too small"},
		{name: "not a VHD", mutate: func(b []byte) []byte { return make([]byte, 8192) }, wantErr: "cookie"},
		{name: "truncated", mutate: func(b []byte) []byte { return b[:len(b)-1024] }, wantErr: "BAT entry"},
		{name: "footer checksum", mutate: func(b []byte) []byte { b[len(b)-512+100] ^= 1; return b },
			warning: "footer checksum mismatch"},
		{name: "footer cookie", mutate: func(b []byte) []byte { b[len(b)-512] = 'X'; return b },
			warning: "used the copy at offset 0"},
		{name: "footer copy differs", mutate: func(b []byte) []byte { b[100] ^= 1; return b },
			warning: "footer copy at offset 0 differs"},
		{name: "both footers bad", mutate: func(b []byte) []byte { b[len(b)-512+100] ^= 1; b[100] ^= 1; return b }, wantErr: "footer: checksum"},
		{name: "header checksum", mutate: func(b []byte) []byte { b[hdr+200] ^= 1; return b }, wantErr: "dynamic header: checksum"},
		{name: "header cookie", mutate: func(b []byte) []byte { b[hdr] = 'X'; fixHeader(b); return b }, wantErr: "dynamic header: cookie"},
		{name: "header offset beyond file", mutate: func(b []byte) []byte {
			setFooters(b, func(f []byte) { be.PutUint64(f[16:], uint64(len(b))) })
			return b
		}, wantErr: "dynamic header offset"},
		{name: "BAT offset beyond file", mutate: func(b []byte) []byte {
			be.PutUint64(b[hdr+16:], uint64(len(b)+4096))
			fixHeader(b)
			return b
		}, wantErr: "BAT at"},
		{name: "BAT entry beyond file", mutate: func(b []byte) []byte {
			be.PutUint32(b[firstUsedBAT(b):], 0x00FFFFFF)
			return b
		}, wantErr: "BAT entry 0: block at"},
		{name: "huge max table entries and size", mutate: func(b []byte) []byte {
			be.PutUint32(b[hdr+28:], 0xFFFFFFFF)
			fixHeader(b)
			setFooters(b, func(f []byte) { be.PutUint64(f[48:], 1<<50) })
			return b
		}, wantErr: "beyond end of file"},
		{name: "huge max table entries", mutate: func(b []byte) []byte {
			be.PutUint32(b[hdr+28:], 0xFFFFFFFF)
			fixHeader(b)
			return b
		}},
		{name: "size beyond BAT", mutate: func(b []byte) []byte {
			setFooters(b, func(f []byte) { be.PutUint64(f[48:], 128<<10) })
			return b
		}, warning: "reads as absent"},
		{name: "size absurd", mutate: func(b []byte) []byte {
			setFooters(b, func(f []byte) { be.PutUint64(f[48:], 1<<62) })
			return b
		}, wantErr: "current size"},
		{name: "block size 0", mutate: func(b []byte) []byte { be.PutUint32(b[hdr+32:], 0); fixHeader(b); return b }, wantErr: "block size"},
		{name: "block size 3000", mutate: func(b []byte) []byte { be.PutUint32(b[hdr+32:], 3000); fixHeader(b); return b }, wantErr: "block size"},
		{name: "block size 512 MiB", mutate: func(b []byte) []byte { be.PutUint32(b[hdr+32:], 512<<20); fixHeader(b); return b }, wantErr: "block size"},
		{name: "locator beyond file", mutate: func(b []byte) []byte {
			be.PutUint32(b[hdr+576+8:], 60000)
			fixHeader(b)
			return b
		}, wantErr: "parent locator 0 (\"W2ku\"): data"},
		{name: "locator offset beyond file", mutate: func(b []byte) []byte {
			be.PutUint64(b[hdr+576+24+16:], 1<<62)
			fixHeader(b)
			return b
		}, wantErr: "parent locator 1"},
		{name: "locator too long", mutate: func(b []byte) []byte {
			be.PutUint32(b[hdr+576+8:], 1<<20)
			fixHeader(b)
			return b
		}, wantErr: "exceeds"},
		{name: "disk type 5", mutate: func(b []byte) []byte {
			setFooters(b, func(f []byte) { be.PutUint32(f[60:], 5) })
			return b
		}, wantErr: "disk type"},
		{name: "fixed sound", base: fixed, mutate: func(b []byte) []byte { return b }},
		{name: "fixed truncated", base: fixed, mutate: func(b []byte) []byte {
			return append(b[:4096:4096], b[len(b)-512:]...)
		}, wantErr: "fixed disk: current size"},
		{name: "fixed footer checksum", base: fixed, mutate: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, wantErr: "footer: checksum"},
		{name: "fixed 511-byte footer", base: fixed, mutate: func(b []byte) []byte { return b[:len(b)-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.base
			if b == nil {
				b = craftedDiff(t)
			}
			b = tc.mutate(bytes.Clone(b))
			im, err := vhd.NewImage(bytes.NewReader(b), int64(len(b)))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "vhd: ") || !errors.Is(err, vhd.ErrFormat) {
					t.Fatalf("error %q, want %q (and vhd.ErrFormat)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(im.Warnings(), "; ")
			if (tc.warning == "") != (w == "") || !strings.Contains(w, tc.warning) {
				t.Errorf("warnings %q, want %q", w, tc.warning)
			}
			whole := make([]byte, im.Size())
			if _, err := im.ReadAt(whole, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTruncatedFile opens a truncated qemu-made image, read-only, and
// checks it is refused and left as it was.
func TestTruncatedFile(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "qemu-io")
	src := filepath.Join(testutil.Build(t, "vhd-qemu", qemuScript), "written-dynamic.vhd")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{512, 700, 1 << 20, len(data) - 600} {
		path := filepath.Join(t.TempDir(), "cut.vhd")
		if err := os.WriteFile(path, data[:len(data)-cut], 0o444); err != nil {
			t.Fatal(err)
		}
		unchanged := testutil.Unchanged(t, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		im, err := vhd.NewImage(f, int64(len(data)-cut))
		if err == nil {
			if w := im.Warnings(); len(w) != 1 || !strings.Contains(w[0], "used the copy at offset 0") {
				t.Errorf("cut %d bytes: warnings %q", cut, w)
			}
			raw, _ := os.ReadFile(qemuRaw(t, src))
			if got := make([]byte, im.Size()); len(raw) != len(got) {
				t.Errorf("size %d, qemu %d", len(got), len(raw))
			} else if im.ReadAt(got, 0); !bytes.Equal(got, raw) {
				t.Errorf("content of the image without its footer differs from qemu's of the whole")
			}
		}
		f.Close()
		unchanged()
		if cut == 512 {
			// Only the footer is gone: the copy at offset 0 stands in.
			if err != nil {
				t.Errorf("footer cut off: %v", err)
			}
			continue
		}
		if err == nil || !errors.Is(err, vhd.ErrFormat) {
			t.Errorf("cut %d bytes: error %v, want a vhd.ErrFormat", cut, err)
		} else {
			t.Logf("cut %d bytes: %v", cut, err)
		}
	}
}
