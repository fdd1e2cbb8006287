package fat

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/grainvm/grain/fsys"
)

// table reads entries of one FAT copy through a small bounded page cache,
// so that a large FAT32 is never loaded whole.
type table struct {
	r      io.ReaderAt
	g      *geometry
	offset int64 // byte offset of the FAT copy
	size   int64 // its size in bytes

	mu    sync.Mutex
	pages map[int64][]byte
}

const (
	pageSize = 64 << 10
	maxPages = 64 // 4 MiB of cached FAT
)

func newTable(r io.ReaderAt, g *geometry, copyIndex int) *table {
	size := g.fatSz * g.sectorSize
	return &table{
		r:      r,
		g:      g,
		offset: g.fatOffset + int64(copyIndex)*size,
		size:   size,
		pages:  make(map[int64][]byte),
	}
}

// page returns the cached page holding byte off of the FAT. Caller holds mu.
func (t *table) page(p int64) ([]byte, error) {
	if b, ok := t.pages[p]; ok {
		return b, nil
	}
	n := int64(pageSize)
	if p*pageSize+n > t.size {
		n = t.size - p*pageSize
	}
	b := make([]byte, n)
	if _, err := t.r.ReadAt(b, t.offset+p*pageSize); err != nil && err != io.EOF {
		return nil, fmt.Errorf("fat: reading FAT at 0x%x: %w", t.offset+p*pageSize, err)
	}
	if len(t.pages) >= maxPages {
		for k := range t.pages {
			delete(t.pages, k)
			break
		}
	}
	t.pages[p] = b
	return b, nil
}

// bytesAt copies n (<= 4) bytes at FAT offset off. Caller holds mu.
func (t *table) bytesAt(off int64, n int) ([4]byte, error) {
	var out [4]byte
	for i := 0; i < n; i++ {
		o := off + int64(i)
		if o >= t.size {
			return out, fmt.Errorf("fat: FAT entry at 0x%x beyond the FAT", off)
		}
		b, err := t.page(o / pageSize)
		if err != nil {
			return out, err
		}
		out[i] = b[o%pageSize]
	}
	return out, nil
}

// next returns the FAT entry of cluster c, as a 28-bit value for FAT32.
func (t *table) next(c uint32) (uint32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.g.kind {
	case "fat12":
		off := int64(c) + int64(c)/2
		b, err := t.bytesAt(off, 2)
		if err != nil {
			return 0, err
		}
		v := uint32(b[0]) | uint32(b[1])<<8
		if c&1 == 1 {
			return v >> 4, nil
		}
		return v & 0xFFF, nil
	case "fat16":
		b, err := t.bytesAt(int64(c)*2, 2)
		if err != nil {
			return 0, err
		}
		return uint32(b[0]) | uint32(b[1])<<8, nil
	default:
		b, err := t.bytesAt(int64(c)*4, 4)
		if err != nil {
			return 0, err
		}
		return (uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24) & 0x0FFFFFFF, nil
	}
}

// eoc, bad: the end-of-chain and bad-cluster markers of the FAT type.
func (g *geometry) markers() (bad, eoc uint32) {
	switch g.kind {
	case "fat12":
		return 0xFF7, 0xFF8
	case "fat16":
		return 0xFFF7, 0xFFF8
	}
	return 0x0FFFFFF7, 0x0FFFFFF8
}

// chain follows the cluster chain from first and returns it as extents on
// the volume. want is the number of clusters needed (files), or -1 to
// follow the chain to its end (directories) but not past limit clusters.
// A chain that leaves the FAT, reaches a free, reserved or bad cluster,
// ends too early, or loops is an error.
func (t *table) chain(first uint32, want int64, limit int64) ([]fsys.Extent, int64, error) {
	g := t.g
	bad, eoc := g.markers()
	if want == 0 {
		return nil, 0, nil
	}
	var ext []fsys.Extent
	var n int64
	c := first
	for {
		if c < 2 || c > g.clusters+1 {
			switch {
			case c >= eoc && want < 0:
				return finishChain(ext, n, first)
			case c >= eoc:
				return nil, 0, fmt.Errorf("fat: cluster chain from %d ends after %d of %d clusters", first, n, want)
			case c == bad:
				return nil, 0, fmt.Errorf("fat: cluster chain from %d reaches a bad cluster after %d clusters", first, n)
			case c == 0:
				return nil, 0, fmt.Errorf("fat: cluster chain from %d reaches a free cluster after %d clusters", first, n)
			default:
				return nil, 0, fmt.Errorf("fat: cluster chain from %d: cluster %d outside the volume (%d clusters)", first, c, g.clusters)
			}
		}
		off := g.clusterOffset(c)
		if k := len(ext) - 1; k >= 0 && ext[k].Physical+ext[k].Length == off {
			ext[k].Length += g.clusterSize
		} else {
			ext = append(ext, fsys.Extent{Logical: n * g.clusterSize, Physical: off, Length: g.clusterSize})
		}
		n++
		if n == want {
			return finishChain(ext, n, first)
		}
		if n > int64(g.clusters) || (limit >= 0 && n > limit) {
			return nil, 0, fmt.Errorf("fat: cluster chain from %d is longer than %d clusters (a loop?)", first, n-1)
		}
		next, err := t.next(c)
		if err != nil {
			return nil, 0, err
		}
		c = next
	}
}

// finishChain rejects chains that use a cluster twice (loops), found as
// overlapping extents.
func finishChain(ext []fsys.Extent, n int64, first uint32) ([]fsys.Extent, int64, error) {
	if len(ext) > 1 {
		s := make([]fsys.Extent, len(ext))
		copy(s, ext)
		sort.Slice(s, func(i, j int) bool { return s[i].Physical < s[j].Physical })
		for i := 1; i < len(s); i++ {
			if s[i-1].Physical+s[i-1].Length > s[i].Physical {
				return nil, 0, fmt.Errorf("fat: cluster chain from %d uses a cluster twice (a loop)", first)
			}
		}
	}
	return ext, n, nil
}
