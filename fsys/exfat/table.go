package exfat

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/extentfile"
)

// table reads FAT entries through a small bounded page cache.
type table struct {
	r  io.ReaderAt
	g  *geometry
	mu sync.Mutex

	pages map[int64][]byte
}

const (
	pageSize = 64 << 10
	maxPages = 64
)

func newTable(r io.ReaderAt, g *geometry) *table {
	return &table{r: r, g: g, pages: make(map[int64][]byte)}
}

// nexter gives the next cluster of a chain: the paged table, or the whole
// FAT held in memory for a walk.
type nexter interface {
	next(c uint32) (uint32, error)
}

// walkFAT is the FAT as a walk reads it: in large pages on first use, kept
// for the walk (see extentfile.Region).
type walkFAT struct{ r *extentfile.Region }

func (m walkFAT) next(c uint32) (uint32, error) {
	var b [4]byte
	if _, err := m.r.ReadAt(b[:], int64(c)*4); err != nil {
		return 0, fmt.Errorf("exfat: FAT entry %d: %w", c, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (t *table) next(c uint32) (uint32, error) {
	off := int64(c) * 4
	if off+4 > t.g.fatSize {
		return 0, fmt.Errorf("exfat: FAT entry %d beyond the FAT", c)
	}
	p := off / pageSize
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.pages[p]
	if !ok {
		n := min(int64(pageSize), t.g.fatSize-p*pageSize)
		b = make([]byte, n)
		if _, err := t.r.ReadAt(b, t.g.fatOffset+p*pageSize); err != nil && err != io.EOF {
			return 0, fmt.Errorf("exfat: reading FAT at 0x%x: %w", t.g.fatOffset+p*pageSize, err)
		}
		if len(t.pages) >= maxPages {
			clear(t.pages)
		}
		t.pages[p] = b
	}
	return binary.LittleEndian.Uint32(b[off%pageSize:]), nil
}

// chain returns the extents of the cluster chain from first: want clusters,
// or (want < 0) up to the end of the chain but no more than limit clusters.
// With contiguous set (NoFatChain) the FAT is not consulted.
func (t *table) chain(first uint32, want, limit int64, contiguous bool) ([]fsys.Extent, int64, error) {
	return chain(t.g, t, first, want, limit, contiguous, nil)
}

// chain follows a chain through fat (see table.chain) and appends its
// extents to dst: all[len(dst):] is the chain. On error all is dst.
func chain(g *geometry, fat nexter, first uint32, want, limit int64, contiguous bool, dst []fsys.Extent) (all []fsys.Extent, n int64, err error) {
	if want == 0 {
		return dst, 0, nil
	}
	fail := func(err error) ([]fsys.Extent, int64, error) { return dst, 0, err }
	if first < 2 || first > g.clusters+1 {
		return fail(fmt.Errorf("exfat: first cluster %d outside the cluster heap (%d clusters)", first, g.clusters))
	}
	if contiguous {
		if want < 0 || int64(first)-2+want > int64(g.clusters) {
			return fail(fmt.Errorf("exfat: contiguous run of %d clusters from %d leaves the cluster heap", want, first))
		}
		return append(dst, fsys.Extent{Physical: g.clusterOffset(first), Length: want * g.clusterSize}), want, nil
	}
	base := len(dst)
	ext := dst
	c := first
	for {
		if c < 2 || c > g.clusters+1 {
			switch {
			case c == 0xFFFFFFFF && want < 0:
				return extentfile.FinishChain("exfat", ext, base, n, first)
			case c == 0xFFFFFFFF:
				return fail(fmt.Errorf("exfat: cluster chain from %d ends after %d of %d clusters", first, n, want))
			case c == 0xFFFFFFF7:
				return fail(fmt.Errorf("exfat: cluster chain from %d reaches a bad cluster", first))
			default:
				return fail(fmt.Errorf("exfat: cluster chain from %d: cluster %d outside the heap", first, c))
			}
		}
		ext = extentfile.Append(ext, base, n*g.clusterSize, g.clusterOffset(c), g.clusterSize)
		n++
		if n == want {
			return extentfile.FinishChain("exfat", ext, base, n, first)
		}
		if n > int64(g.clusters) || (limit >= 0 && n > limit) {
			return fail(fmt.Errorf("exfat: cluster chain from %d is longer than %d clusters (a loop?)", first, n-1))
		}
		next, err := fat.next(c)
		if err != nil {
			return fail(err)
		}
		c = next
	}
}
