package vdisk

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/vdisk/extent"
)

// chain reads a stack of images: layer 0 on top, the base last. For each
// range it asks the top layer which bytes it holds; the bytes a layer leaves
// absent fall through to the layer below, and below the base they are zeros.
type chain struct {
	layers []extent.Mapper
	size   int64
	pool   sync.Pool // *[]extent.Extent scratch slices
}

func newChain(layers []extent.Mapper) *chain {
	c := &chain{layers: layers}
	if len(layers) > 0 {
		c.size = layers[0].Size()
	}
	c.pool.New = func() any { s := make([]extent.Extent, 0, 16); return &s }
	return c
}

// ReadAt reads the flattened virtual disk.
func (c *chain) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vdisk: negative offset")
	}
	if off >= c.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if rest := c.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if err := c.readLayer(0, p, off); err != nil {
		return 0, err
	}
	return len(p), eof
}

// readLayer fills p with the content at off as seen from layer i down.
func (c *chain) readLayer(i int, p []byte, off int64) error {
	if i >= len(c.layers) {
		clear(p)
		return nil
	}
	m := c.layers[i]
	// A parent smaller than its child: what lies beyond it reads as zeros.
	if end := m.Size(); off+int64(len(p)) > end {
		if off >= end {
			clear(p)
			return nil
		}
		clear(p[end-off:])
		p = p[:end-off]
	}
	sp := c.pool.Get().(*[]extent.Extent)
	defer c.pool.Put(sp)
	exts, err := m.Extents((*sp)[:0], off, int64(len(p)))
	*sp = exts[:0]
	if err != nil {
		return fmt.Errorf("layer %d: %w", i, err)
	}
	pos := off
	for _, e := range exts {
		if e.Offset != pos || e.Length <= 0 || e.End() > off+int64(len(p)) {
			return fmt.Errorf("vdisk: layer %d: extents of [%d, %d) do not cover it (got [%d, %d))", i, off, off+int64(len(p)), e.Offset, e.End())
		}
		seg := p[e.Offset-off : e.End()-off]
		switch e.State {
		case extent.Data:
			if _, err := m.ReadFileAt(seg, e.FileOffset); err != nil {
				return fmt.Errorf("layer %d: reading %d bytes at file offset %d: %w", i, len(seg), e.FileOffset, err)
			}
		case extent.Zero:
			clear(seg)
		case extent.Absent:
			if err := c.readLayer(i+1, seg, e.Offset); err != nil {
				return err
			}
		default:
			return fmt.Errorf("vdisk: layer %d: unknown extent state %v", i, e.State)
		}
		pos = e.End()
	}
	if pos != off+int64(len(p)) {
		return fmt.Errorf("vdisk: layer %d: extents of [%d, %d) stop at %d", i, off, off+int64(len(p)), pos)
	}
	return nil
}

// extents maps [off, off+n) of the flattened disk: Data where some layer
// stores the bytes (FileOffset is then meaningless across layers and set to
// -1), Zero where the topmost layer that decides says zeros, Absent where no
// layer holds them. Adjacent runs of one state are merged.
func (c *chain) extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	start := len(dst)
	dst, err := c.extentsLayer(0, dst, off, n)
	if err != nil {
		return dst, err
	}
	// Merge neighbours of one state.
	out := dst[:start]
	for _, e := range dst[start:] {
		if k := len(out); k > start && out[k-1].State == e.State && out[k-1].End() == e.Offset {
			out[k-1].Length += e.Length
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (c *chain) extentsLayer(i int, dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	if n <= 0 {
		return dst, nil
	}
	if i >= len(c.layers) {
		return append(dst, extent.Extent{Offset: off, Length: n, State: extent.Absent}), nil
	}
	m := c.layers[i]
	if end := m.Size(); off+n > end {
		if off >= end {
			return append(dst, extent.Extent{Offset: off, Length: n, State: extent.Zero}), nil
		}
		tail := extent.Extent{Offset: end, Length: off + n - end, State: extent.Zero}
		dst, err := c.extentsLayer(i, dst, off, end-off)
		return append(dst, tail), err
	}
	exts, err := m.Extents(nil, off, n)
	if err != nil {
		return dst, fmt.Errorf("layer %d: %w", i, err)
	}
	for _, e := range exts {
		switch e.State {
		case extent.Absent:
			if dst, err = c.extentsLayer(i+1, dst, e.Offset, e.Length); err != nil {
				return dst, err
			}
		case extent.Data:
			e.FileOffset = -1
			dst = append(dst, e)
		default:
			dst = append(dst, e)
		}
	}
	return dst, nil
}
