package extentfile

import (
	"fmt"
	"io"
	"sync"
)

// regionPage is the unit a Region reads: 256 KiB, 64K FAT32 entries.
const regionPage = 256 << 10

// Region is a range of the volume (a FAT, for one walk) read in pages on
// first use and kept: a walk of the whole tree reads all of it once, a walk
// of a small subtree only the pages its chains touch. Memory is at most
// the region's size, which the caller bounds. Safe for concurrent use.
type Region struct {
	r     io.ReaderAt
	pkg   string
	off   int64
	size  int64
	pages []page
}

type page struct {
	once sync.Once
	b    []byte
	err  error
}

// NewRegion is the size bytes of r at off; pkg names the driver in errors.
func NewRegion(r io.ReaderAt, pkg string, off, size int64) *Region {
	return &Region{r: r, pkg: pkg, off: off, size: size, pages: make([]page, (size+regionPage-1)/regionPage)}
}

// Size is the region's size in bytes.
func (g *Region) Size() int64 { return g.size }

// ReadAt reads len(p) bytes at offset off of the region; reading past its
// end is an error.
func (g *Region) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > g.size {
		return 0, fmt.Errorf("%s: 0x%x bytes at 0x%x beyond a region of 0x%x bytes", g.pkg, len(p), off, g.size)
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		pg := &g.pages[o/regionPage]
		pg.once.Do(func() {
			start := o / regionPage * regionPage
			pg.b = make([]byte, min(regionPage, g.size-start))
			if _, err := g.r.ReadAt(pg.b, g.off+start); err != nil && err != io.EOF {
				pg.err = fmt.Errorf("%s: reading at 0x%x: %w", g.pkg, g.off+start, err)
			}
		})
		if pg.err != nil {
			return n, pg.err
		}
		n += copy(p[n:], pg.b[o%regionPage:])
	}
	return n, nil
}
