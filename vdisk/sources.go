package vdisk

import (
	"fmt"
	"os"

	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/raw"
	"github.com/grainvm/grain/vdisk/vhd"
	"github.com/grainvm/grain/vdisk/vhdx"
)

// Source says where a run of the flattened disk comes from.
type Source struct {
	extent.Extent
	// Layer is, for a Data run, the index in Layers() of the layer that
	// stores it (FileOffset is in that layer's file); -1 for Zero and
	// Absent runs.
	Layer int
	// File is, for a Data run whose bytes lie verbatim in the layer's
	// file at FileOffset, that file: a regular file opened read-only,
	// owned by the Disk (do not close it, never write to it). A copier
	// may take the bytes from it directly (mmap, copy_file_range). File
	// is nil where the bytes must be read through ReadAt: an in-memory
	// correction such as a replayed VHDX log covers some of them, they
	// lie beyond the file's end, or the image was not opened from a file.
	File *os.File
}

// Sources maps [off, off+n) of the flattened disk like Extents, but keeps
// for each Data run the layer that stores it and where in that layer's
// file. Adjacent runs are merged where they are of one state (and, for
// data, of one layer and contiguous in its file).
func (d *Disk) Sources(dst []Source, off, n int64) ([]Source, error) {
	if off < 0 || n < 0 || off+n > d.Size() {
		return dst, fmt.Errorf("vdisk: range [%d, %d) outside the disk of %d bytes", off, off+n, d.Size())
	}
	return d.sourcesLayer(0, dst, off, n)
}

func (d *Disk) sourcesLayer(i int, dst []Source, off, n int64) ([]Source, error) {
	if n <= 0 {
		return dst, nil
	}
	if i >= len(d.layers) {
		return appendSource(dst, Source{Extent: extent.Extent{Offset: off, Length: n, State: extent.Absent}, Layer: -1}), nil
	}
	l := d.layers[i]
	// A parent smaller than its child: what lies beyond it reads as zeros.
	if end := l.Image.Size(); off+n > end {
		if off >= end {
			return appendSource(dst, Source{Extent: extent.Extent{Offset: off, Length: n, State: extent.Zero}, Layer: -1}), nil
		}
		dst, err := d.sourcesLayer(i, dst, off, end-off)
		return appendSource(dst, Source{Extent: extent.Extent{Offset: end, Length: off + n - end, State: extent.Zero}, Layer: -1}), err
	}
	exts, err := l.Image.Extents(nil, off, n)
	if err != nil {
		return dst, fmt.Errorf("layer %d: %w", i, err)
	}
	for _, e := range exts {
		switch e.State {
		case extent.Absent:
			if dst, err = d.sourcesLayer(i+1, dst, e.Offset, e.Length); err != nil {
				return dst, err
			}
		case extent.Data:
			s := Source{Extent: e, Layer: i}
			if l.file != nil && l.verbatim(e.FileOffset, e.Length) {
				s.File = l.file
			}
			dst = appendSource(dst, s)
		default:
			e.FileOffset = 0
			dst = appendSource(dst, Source{Extent: e, Layer: -1})
		}
	}
	return dst, nil
}

func appendSource(dst []Source, s Source) []Source {
	if k := len(dst); k > 0 {
		p := &dst[k-1]
		if p.State == s.State && p.End() == s.Offset &&
			(s.State != extent.Data || (p.Layer == s.Layer && p.File == s.File && p.FileOffset+p.Length == s.FileOffset)) {
			p.Length += s.Length
			return dst
		}
	}
	return append(dst, s)
}

// verbatim reports whether the layer's ReadFileAt returns [off, off+n) of
// its file unchanged.
func (l *Layer) verbatim(off, n int64) bool {
	if off < 0 || n < 0 || off > l.FileSize || n > l.FileSize-off {
		return false
	}
	switch img := l.Image.(type) {
	case *vhdx.Image:
		return img.Verbatim(off, n)
	case *vhd.Image, *raw.Image:
		return true // their ReadFileAt reads the file as it is
	}
	return false
}
