package vhd_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhd/vhdtest"
)

// maxFuzzInput bounds fuzz inputs; seeds stay far smaller, since the
// fuzzer's minimisation of a large input is very slow.
const maxFuzzInput = 256 << 10

// seedImages are whole small images: crafted ones and the empty real ones.
func seedImages(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	out = append(out, craftedDiff(f))
	dyn, err := vhdtest.Encode(vhdtest.Spec{Type: vhdtest.TypeDynamic, VirtualSize: 32 << 10, BlockSize: 8192,
		Writes: []vhdtest.Write{{Offset: 8192, Data: pattern(8192, 1024, 5)}}})
	if err != nil {
		f.Fatal(err)
	}
	out = append(out, dyn)
	fixed, err := vhdtest.EncodeFixed(pattern(0, 4096, 7), "")
	if err != nil {
		f.Fatal(err)
	}
	out = append(out, fixed)
	for _, name := range []string{"hyperv2012r2-dynamic.vhd", "virtualpc-dynamic.vhd", "dynamic.vhd", "fixed.vhd"} {
		b, err := os.ReadFile(testutil.Sample(f, name))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 32<<10 {
			out = append(out, b)
		} else {
			// The first 32 KiB and the footer: the footer copy, the header
			// and the start of the BAT.
			out = append(out, append(b[:32<<10:32<<10], b[len(b)-512:]...))
		}
	}
	return out
}

func FuzzFooter(f *testing.F) {
	for _, img := range seedImages(f) {
		f.Add(img[len(img)-512:])
		f.Add(img[:512])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range []int{vhd.FooterSize, vhd.OldFooterSize} {
			if len(b) >= n {
				ft, err := vhd.ParseFooter(b[:n])
				if err == nil && string(ft.Cookie[:]) != vhd.FooterCookie {
					t.Fatalf("accepted cookie %q", ft.Cookie)
				}
			}
		}
	})
}

func FuzzDynamicHeader(f *testing.F) {
	for _, img := range seedImages(f) {
		if len(img) >= 1536 {
			f.Add(img[512:1536])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < vhd.DynamicHeaderSize {
			b = append(b, make([]byte, vhd.DynamicHeaderSize-len(b))...)
		}
		h, err := vhd.ParseDynamicHeader(b[:vhd.DynamicHeaderSize])
		if err != nil {
			return
		}
		if bs := h.BlockSize; bs < vhd.MinBlockSize || bs > vhd.MaxBlockSize || bs&(bs-1) != 0 {
			t.Fatalf("accepted block size %d", bs)
		}
		_ = h.ParentName()
	})
}

func FuzzImage(f *testing.F) {
	for _, img := range seedImages(f) {
		f.Add(img)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		im, err := vhd.NewImage(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		size := im.Size()
		exts, err := im.Extents(nil, 0, size)
		if err != nil {
			t.Fatalf("extents: %v", err)
		}
		pos := int64(0)
		for _, e := range exts {
			if e.Offset != pos || e.Length <= 0 {
				t.Fatalf("extents not contiguous at %d: %+v", pos, e)
			}
			if e.State == extent.Data && (e.FileOffset < 0 || e.FileOffset+e.Length > int64(len(b))) {
				t.Fatalf("data extent outside the file: %+v", e)
			}
			pos = e.End()
		}
		if pos != size {
			t.Fatalf("extents end at %d, size %d", pos, size)
		}
		_ = im.ParentLocators()
		buf := make([]byte, min(size, 256<<10))
		if _, err := im.ReadAt(buf, 0); err != nil {
			t.Fatalf("ReadAt(0): %v", err)
		}
		if _, err := im.ReadAt(buf, size-int64(len(buf))); err != nil {
			t.Fatalf("ReadAt(end): %v", err)
		}
	})
}
