package ext4

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const (
	extentMagic    = 0xF30A
	extentInitMax  = 32768 // ee_len above this marks an uninitialized extent
	extentHdrSize  = 12
	extentItemSize = 12
)

// run maps a range of file blocks to volume blocks.
type run struct {
	Logical  uint64 // first file block
	Physical uint64 // first volume block
	Length   uint64 // blocks
	Uninit   bool   // allocated but not written: reads as zeros
}

// extentHeader is struct ext4_extent_header.
type extentHeader struct {
	Magic      uint16 // eh_magic
	Entries    uint16 // eh_entries
	Max        uint16 // eh_max
	Depth      uint16 // eh_depth
	Generation uint32 // eh_generation
}

func parseExtentHeader(b []byte) extentHeader {
	le := binary.LittleEndian
	return extentHeader{le.Uint16(b[0:]), le.Uint16(b[2:]), le.Uint16(b[4:]), le.Uint16(b[6:]), le.Uint32(b[8:])}
}

// fileRuns returns the data runs of an inode that keeps its data in
// blocks (extent tree or block map), cached, sorted by Logical.
func (f *FS) fileRuns(in *inode) ([]run, error) {
	if rs, ok := f.runs.Get(in.Ino); ok {
		return rs, nil
	}
	rs, err := f.runsOf(in)
	if err != nil {
		return nil, err
	}
	f.runs.Put(in.Ino, rs, len(rs)+1)
	return rs, nil
}

// runsOf is fileRuns without the cache, for one-off uses (a walk's
// metadata, directories read once) that would only churn it.
func (f *FS) runsOf(in *inode) ([]run, error) {
	if in.Flags&flagExtents != 0 {
		return f.extentRuns(in)
	}
	return f.blockMapRuns(in)
}

// extentWalk collects the leaves of one inode's extent tree.
type extentWalk struct {
	f       *FS
	in      *inode
	seed    uint32
	visited map[uint64]bool
	runs    []run
	blocks  uint64 // total mapped blocks
	next    uint64 // lowest logical block the next extent may start at
}

func (f *FS) extentRuns(in *inode) ([]run, error) {
	w := &extentWalk{f: f, in: in}
	if f.hasCsum {
		w.seed = crc32cU32(crc32cU32(f.csumSeed, in.Ino), in.Generation)
	}
	h := parseExtentHeader(in.Block[:])
	if h.Depth > maxExtentDepth {
		return nil, fmt.Errorf("ext4: inode %d: extent tree depth %d beyond %d: %w", in.Ino, h.Depth, maxExtentDepth, ErrFormat)
	}
	if err := w.node(in.Block[:], int(h.Depth), 0); err != nil {
		return nil, err
	}
	return w.runs, nil
}

// node walks one extent tree node whose depth must be depth; blk is its
// volume block (0 for the root in i_block).
func (w *extentWalk) node(b []byte, depth int, blk uint64) error {
	where := func() string {
		if blk == 0 {
			return fmt.Sprintf("ext4: inode %d: extent root", w.in.Ino)
		}
		return fmt.Sprintf("ext4: inode %d: extent block %d", w.in.Ino, blk)
	}
	h := parseExtentHeader(b)
	if h.Magic != extentMagic {
		return fmt.Errorf("%s: magic %#04x: %w", where(), h.Magic, ErrFormat)
	}
	maxEntries := (len(b) - extentHdrSize) / extentItemSize
	if int(h.Max) > maxEntries || h.Entries > h.Max {
		return fmt.Errorf("%s: %d entries, max %d, room for %d: %w", where(), h.Entries, h.Max, maxEntries, ErrFormat)
	}
	if int(h.Depth) != depth {
		return fmt.Errorf("%s: depth %d, expected %d: %w", where(), h.Depth, depth, ErrFormat)
	}
	if blk != 0 && w.f.hasCsum {
		tail := extentHdrSize + extentItemSize*int(h.Max)
		if tail+4 <= len(b) {
			want := binary.LittleEndian.Uint32(b[tail:])
			if c := crc32c(w.seed, b[:tail]); c != want {
				w.f.warnf("inode %d: extent block %d: checksum %#08x, computed %#08x", w.in.Ino, blk, want, c)
			}
		}
	}
	le := binary.LittleEndian
	for i := 0; i < int(h.Entries); i++ {
		e := b[extentHdrSize+i*extentItemSize:]
		lblk := uint64(le.Uint32(e[0:]))
		if depth == 0 {
			n := uint64(le.Uint16(e[4:]))
			uninit := false
			if n > extentInitMax {
				n -= extentInitMax
				uninit = true
			}
			phys := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			if n == 0 {
				continue
			}
			if lblk < w.next {
				return fmt.Errorf("%s: extent %d at file block %d overlaps the previous one: %w", where(), i, lblk, ErrFormat)
			}
			if phys == 0 && !uninit || phys >= w.f.sb.BlocksCount || n > w.f.sb.BlocksCount-phys {
				return fmt.Errorf("%s: extent %d: blocks %d+%d beyond file system (%d blocks): %w", where(), i, phys, n, w.f.sb.BlocksCount, ErrFormat)
			}
			w.blocks += n
			if w.blocks > w.f.sb.BlocksCount {
				return fmt.Errorf("%s: maps more blocks than the file system has: %w", where(), ErrFormat)
			}
			w.next = lblk + n
			if k := len(w.runs) - 1; k >= 0 && !uninit && !w.runs[k].Uninit &&
				w.runs[k].Logical+w.runs[k].Length == lblk && w.runs[k].Physical+w.runs[k].Length == phys {
				w.runs[k].Length += n
			} else {
				w.runs = append(w.runs, run{lblk, phys, n, uninit})
			}
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if child == 0 || child >= w.f.sb.BlocksCount {
			return fmt.Errorf("%s: index %d: child block %d beyond file system: %w", where(), i, child, ErrFormat)
		}
		if w.visited[child] {
			return fmt.Errorf("%s: index %d: block %d already visited (loop): %w", where(), i, child, ErrFormat)
		}
		if w.visited == nil {
			w.visited = map[uint64]bool{}
		}
		if lblk < w.next {
			return fmt.Errorf("%s: index %d at file block %d out of order: %w", where(), i, lblk, ErrFormat)
		}
		w.visited[child] = true
		cb, err := w.f.block(child)
		if err != nil {
			return fmt.Errorf("%s: %w", where(), err)
		}
		if err := w.node(cb, depth-1, child); err != nil {
			return err
		}
	}
	return nil
}

// blockMapRuns walks the ext2/ext3 block map: 12 direct blocks and single,
// double and triple indirect blocks. Zero pointers are holes; pointers
// past the end of the file are ignored.
func (f *FS) blockMapRuns(in *inode) ([]run, error) {
	w := &mapWalk{f: f, in: in, visited: map[uint64]bool{}}
	w.limit = (uint64(in.Size) + uint64(f.bs) - 1) / uint64(f.bs)
	per := uint64(f.bs / 4)
	le := binary.LittleEndian
	for i := 0; i < 12; i++ {
		if err := w.data(uint64(i), uint64(le.Uint32(in.Block[4*i:]))); err != nil {
			return nil, err
		}
	}
	start, span := uint64(12), per
	for level := 1; level <= 3; level++ {
		if start >= w.limit {
			break
		}
		if p := uint64(le.Uint32(in.Block[4*(11+level):])); p != 0 {
			if err := w.indirect(p, level, start); err != nil {
				return nil, err
			}
		}
		start += span
		span *= per
	}
	return w.runs, nil
}

type mapWalk struct {
	f       *FS
	in      *inode
	limit   uint64
	visited map[uint64]bool
	runs    []run
}

func (w *mapWalk) data(lblk, p uint64) error {
	if p == 0 || lblk >= w.limit {
		return nil
	}
	if p >= w.f.sb.BlocksCount {
		return fmt.Errorf("ext4: inode %d: file block %d at block %d beyond file system: %w", w.in.Ino, lblk, p, ErrFormat)
	}
	if k := len(w.runs) - 1; k >= 0 && w.runs[k].Logical+w.runs[k].Length == lblk && w.runs[k].Physical+w.runs[k].Length == p {
		w.runs[k].Length++
	} else {
		w.runs = append(w.runs, run{Logical: lblk, Physical: p, Length: 1})
	}
	return nil
}

// indirect walks an indirect block of the given level (1 = its entries
// are data blocks) whose first entry maps file block start.
func (w *mapWalk) indirect(p uint64, level int, start uint64) error {
	if p >= w.f.sb.BlocksCount {
		return fmt.Errorf("ext4: inode %d: indirect block %d beyond file system: %w", w.in.Ino, p, ErrFormat)
	}
	if w.visited[p] {
		return fmt.Errorf("ext4: inode %d: indirect block %d used twice (loop): %w", w.in.Ino, p, ErrFormat)
	}
	w.visited[p] = true
	b, err := w.f.block(p)
	if err != nil {
		return fmt.Errorf("ext4: inode %d: indirect block: %w", w.in.Ino, err)
	}
	per := uint64(len(b) / 4)
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= per
	}
	le := binary.LittleEndian
	for i := uint64(0); i < per; i++ {
		lblk := start + i*span
		if lblk >= w.limit {
			break
		}
		q := uint64(le.Uint32(b[4*i:]))
		if q == 0 {
			continue
		}
		if level == 1 {
			err = w.data(lblk, q)
		} else {
			err = w.indirect(q, level-1, lblk)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// findRun returns the index of the run holding file block lblk, or of the
// first run after it (len(rs) if none) and false.
func findRun(rs []run, lblk uint64) (int, bool) {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Logical+rs[i].Length > lblk })
	return i, i < len(rs) && rs[i].Logical <= lblk
}
