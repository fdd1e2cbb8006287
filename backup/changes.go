package backup

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/extent"
)

// LayerTagPrefix starts the snapshot tags that record the layer IDs of
// the backed-up chain.
const LayerTagPrefix = "grain-layer:"

// LayerTags returns the tags recording the IDs of the disk's layers.
func LayerTags(d *vdisk.Disk) []string {
	if d == nil {
		return nil
	}
	var tags []string
	for _, l := range d.Layers() {
		if l.ID != "" {
			tags = append(tags, LayerTagPrefix+strings.ToLower(l.ID))
		}
	}
	return tags
}

// span is a byte range of the virtual disk.
type span struct{ off, end int64 }

// Changes says which ranges of the virtual disk changed since a parent
// snapshot was made.
type Changes struct {
	// All: nothing can be reused by position (no parent, a parent without
	// layer tags, or a layer of the parent's chain is gone).
	All bool
	// Any: some layer is new or changed.
	Any bool
	// Layers lists the IDs of the layers taken as changed.
	Layers []string
	spans  []span // sorted, merged
	bytes  int64
}

// Bytes is the size of the changed ranges.
func (c *Changes) Bytes() int64 { return c.bytes }

// ComputeChanges compares the disk's layers with the layer tags of a
// parent snapshot. A layer whose ID is among them is unchanged; every
// other layer contributes the ranges it holds (data and zero). If the
// parent recorded a layer the chain no longer has, everything changed.
func ComputeChanges(d *vdisk.Disk, parentTags []string) (*Changes, error) {
	old := map[string]bool{}
	for _, t := range parentTags {
		if id, ok := strings.CutPrefix(t, LayerTagPrefix); ok {
			old[strings.ToLower(id)] = true
		}
	}
	if d == nil || len(old) == 0 {
		return &Changes{All: true, Any: true}, nil
	}
	now := map[string]bool{}
	for _, l := range d.Layers() {
		now[strings.ToLower(l.ID)] = true
	}
	for id := range old {
		if !now[id] {
			return &Changes{All: true, Any: true}, nil
		}
	}
	c := &Changes{}
	var ext []extent.Extent
	for _, l := range d.Layers() {
		if l.ID != "" && old[strings.ToLower(l.ID)] {
			continue
		}
		if l.ID == "" {
			return &Changes{All: true, Any: true}, nil
		}
		c.Any = true
		c.Layers = append(c.Layers, l.ID)
		size := l.Image.Size()
		if size > d.Size() {
			size = d.Size()
		}
		var err error
		ext, err = l.Extents(ext[:0], 0, size)
		if err != nil {
			return nil, fmt.Errorf("backup: layer %s: %w", l.Path, err)
		}
		for _, e := range ext {
			if e.State == extent.Data || e.State == extent.Zero {
				c.spans = append(c.spans, span{e.Offset, e.End()})
			}
		}
	}
	c.merge()
	return c, nil
}

func (c *Changes) merge() {
	slices.SortFunc(c.spans, func(a, b span) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	out := c.spans[:0]
	for _, s := range c.spans {
		if n := len(out); n > 0 && s.off <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, s.end)
			continue
		}
		out = append(out, s)
	}
	c.spans = out
	c.bytes = 0
	for _, s := range out {
		c.bytes += s.end - s.off
	}
}

// Touches reports whether [off, off+n) of the disk overlaps a changed
// range.
func (c *Changes) Touches(off, n int64) bool {
	if c.All {
		return true
	}
	if n <= 0 {
		return false
	}
	i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].end > off })
	return i < len(c.spans) && c.spans[i].off < off+n
}
