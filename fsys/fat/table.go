package fat

import (
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
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

// next returns the FAT entry of cluster c, as a 28-bit value for FAT32.
func (t *table) next(c uint32) (uint32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off, n := entryPos(t.g.kind, c)
	if off+n > t.size {
		return 0, fmt.Errorf("fat: FAT entry of cluster %d at 0x%x beyond the FAT", c, off)
	}
	var b [4]byte
	// A FAT12 entry may straddle two pages; FAT16 and FAT32 entries never
	// do (pageSize is a multiple of 4).
	for k := int64(0); k < n; {
		p, err := t.page((off + k) / pageSize)
		if err != nil {
			return 0, err
		}
		k += int64(copy(b[k:n], p[(off+k)%pageSize:]))
	}
	return decodeEntry(t.g.kind, c, b[:n]), nil
}

// entryPos is the byte offset and size of cluster c's entry in a FAT.
func entryPos(kind string, c uint32) (off, n int64) {
	switch kind {
	case "fat12":
		return int64(c) + int64(c)/2, 2
	case "fat16":
		return int64(c) * 2, 2
	}
	return int64(c) * 4, 4
}

// decodeEntry decodes the entry bytes b of cluster c.
func decodeEntry(kind string, c uint32, b []byte) uint32 {
	switch kind {
	case "fat12":
		v := uint32(b[0]) | uint32(b[1])<<8
		if c&1 == 1 {
			return v >> 4
		}
		return v & 0xFFF
	case "fat16":
		return uint32(b[0]) | uint32(b[1])<<8
	}
	return (uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24) & 0x0FFFFFFF
}

// nexter gives the next cluster of a chain: the paged table, or the FAT
// a walk keeps.
type nexter interface {
	next(c uint32) (uint32, error)
}

// walkFAT is the FAT copy as a walk reads it: in large pages on first use,
// kept for the walk (see extentfile.Region).
type walkFAT struct {
	kind string
	r    *extentfile.Region
}

func (m *walkFAT) next(c uint32) (uint32, error) {
	off, n := entryPos(m.kind, c)
	var b [4]byte
	if _, err := m.r.ReadAt(b[:n], off); err != nil {
		return 0, fmt.Errorf("fat: FAT entry of cluster %d: %w", c, err)
	}
	return decodeEntry(m.kind, c, b[:n]), nil
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
	return chain(t.g, t, first, want, limit, nil)
}

// chain follows a chain through fat (see table.chain) and appends its
// extents to dst: all[len(dst):] is the chain. On error all is dst.
func chain(g *geometry, fat nexter, first uint32, want int64, limit int64, dst []fsys.Extent) (all []fsys.Extent, n int64, err error) {
	bad, eoc := g.markers()
	if want == 0 {
		return dst, 0, nil
	}
	base := len(dst)
	ext := dst
	fail := func(err error) ([]fsys.Extent, int64, error) { return dst, 0, err }
	c := first
	for {
		if c < 2 || c > g.clusters+1 {
			switch {
			case c >= eoc && want < 0:
				return extentfile.FinishChain("fat", ext, base, n, first)
			case c >= eoc:
				return fail(fmt.Errorf("fat: cluster chain from %d ends after %d of %d clusters", first, n, want))
			case c == bad:
				return fail(fmt.Errorf("fat: cluster chain from %d reaches a bad cluster after %d clusters", first, n))
			case c == 0:
				return fail(fmt.Errorf("fat: cluster chain from %d reaches a free cluster after %d clusters", first, n))
			default:
				return fail(fmt.Errorf("fat: cluster chain from %d: cluster %d outside the volume (%d clusters)", first, c, g.clusters))
			}
		}
		ext = extentfile.Append(ext, base, n*g.clusterSize, g.clusterOffset(c), g.clusterSize)
		n++
		if n == want {
			return extentfile.FinishChain("fat", ext, base, n, first)
		}
		if n > int64(g.clusters) || (limit >= 0 && n > limit) {
			return fail(fmt.Errorf("fat: cluster chain from %d is longer than %d clusters (a loop?)", first, n-1))
		}
		next, err := fat.next(c)
		if err != nil {
			return fail(err)
		}
		c = next
	}
}
