package vdisk_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/extent"
)

// TestSourcesMatchReadAt checks, over a 4-deep VHD chain, that Sources
// tiles the disk and that every Data run's bytes, taken from its layer's
// file where Sources offers the file and through the layer otherwise, are
// the flattened disk's.
func TestSourcesMatchReadAt(t *testing.T) {
	leaf, want := vhdChain(t, t.TempDir())
	d, err := vdisk.Open(leaf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	layersSeen := map[int]bool{}
	verbatim := 0
	// Odd windows, so that runs are cut at window edges too.
	for off := int64(0); off < d.Size(); off += 3*mib + 512 {
		n := min(3*mib+512, d.Size()-off)
		srcs, err := d.Sources(nil, off, n)
		if err != nil {
			t.Fatal(err)
		}
		pos := off
		for _, s := range srcs {
			if s.Offset != pos || s.Length <= 0 {
				t.Fatalf("sources of [%d, %d) leave a gap or overlap at %d: %+v", off, off+n, pos, s)
			}
			pos = s.End()
			got := make([]byte, s.Length)
			switch s.State {
			case extent.Data:
				layersSeen[s.Layer] = true
				l := d.Layers()[s.Layer]
				if _, err := l.Image.ReadFileAt(got, s.FileOffset); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if s.File != nil {
					verbatim++
					raw := make([]byte, s.Length)
					if _, err := s.File.ReadAt(raw, s.FileOffset); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(raw, got) {
						t.Fatalf("source %+v: the file's bytes differ from the layer's", s)
					}
				}
			case extent.Zero, extent.Absent:
				// zeros
			}
			if !bytes.Equal(got, want[s.Offset:s.End()]) {
				t.Fatalf("source %+v: bytes differ from the chain's content", s)
			}
		}
		if pos != off+n {
			t.Fatalf("sources of [%d, %d) stop at %d", off, off+n, pos)
		}
	}
	if len(layersSeen) != len(d.Layers()) || verbatim == 0 {
		t.Fatalf("data from layers %v (of %d), %d runs offered from files", layersSeen, len(d.Layers()), verbatim)
	}
}
