package xfs

import (
	"fmt"
	"sort"
)

// bmbtRec is a decoded xfs_bmbt_rec: a run of a fork's blocks.
type bmbtRec struct {
	startoff   uint64 // file block
	startblock uint64 // file system block
	count      uint64 // blocks
	unwritten  bool
}

// maxBmbtDepth bounds the bmbt levels followed (the real maximum is about
// 9 for 64-bit extent counters).
const maxBmbtDepth = 12

func decodeBmbtRec(b []byte) bmbtRec {
	l0, l1 := be.Uint64(b), be.Uint64(b[8:])
	return bmbtRec{
		unwritten:  l0>>63 != 0,
		startoff:   l0 >> 9 & (1<<54 - 1),
		startblock: (l0&0x1ff)<<43 | l1>>21,
		count:      l1 & (1<<21 - 1),
	}
}

// dataExtents returns the data fork's extents of ip, sorted by startoff.
func (f *FS) dataExtents(ip *inode) ([]bmbtRec, error) {
	return f.forkExtents(ip, ip.format, ip.dataFork, ip.nextents, "data")
}

// attrExtents returns the attribute fork's extents of ip.
func (f *FS) attrExtents(ip *inode) ([]bmbtRec, error) {
	return f.forkExtents(ip, ip.aformat, ip.attrFork, ip.anextents, "attr")
}

func (f *FS) forkExtents(ip *inode, format uint8, fork []byte, n uint64, which string) ([]bmbtRec, error) {
	where := fmt.Sprintf("inode %d %s fork", ip.ino, which)
	var recs []bmbtRec
	switch format {
	case fmtExtents:
		if n*16 > uint64(len(fork)) {
			return nil, fmt.Errorf("%w: %s: %d extents do not fit in the inode", ErrFormat, where, n)
		}
		recs = make([]bmbtRec, n)
		for i := range recs {
			recs[i] = decodeBmbtRec(fork[i*16:])
		}
	case fmtBtree:
		var err error
		if recs, err = f.walkBmbt(fork, n, where, ip.ino); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: %s: format %d has no extents", ErrFormat, where, format)
	}
	return checkExtents(recs, f, where)
}

// checkExtents sorts recs and checks they are inside the volume and do
// not overlap.
func checkExtents(recs []bmbtRec, f *FS, where string) ([]bmbtRec, error) {
	sort.Slice(recs, func(i, j int) bool { return recs[i].startoff < recs[j].startoff })
	var end uint64
	for i, r := range recs {
		if r.count == 0 {
			return nil, fmt.Errorf("%w: %s: extent %d is empty", ErrFormat, where, i)
		}
		if r.startoff < end {
			return nil, fmt.Errorf("%w: %s: extent %d overlaps the one before", ErrFormat, where, i)
		}
		end = r.startoff + r.count
		if end > 1<<54 {
			return nil, fmt.Errorf("%w: %s: extent %d beyond the largest file offset", ErrFormat, where, i)
		}
		if _, ok := f.fsbToByte(r.startblock); !ok {
			return nil, fmt.Errorf("%w: %s: extent %d starts at block %d outside the volume", ErrFormat, where, i, r.startblock)
		}
		last := r.startblock + r.count - 1
		if _, ok := f.fsbToByte(last); !ok || last>>f.sb.Agblklog != r.startblock>>f.sb.Agblklog {
			return nil, fmt.Errorf("%w: %s: extent %d (%d blocks at %d) runs outside its AG", ErrFormat, where, i, r.count, r.startblock)
		}
	}
	return recs, nil
}

// walkBmbt reads all records of a bmbt whose root (xfs_bmdr_block) is
// in the inode fork.
func (f *FS) walkBmbt(root []byte, nextents uint64, where string, ino uint64) ([]bmbtRec, error) {
	if len(root) < 4 {
		return nil, fmt.Errorf("%w: %s: btree root too small", ErrFormat, where)
	}
	level := int(be.Uint16(root))
	numrecs := int(be.Uint16(root[2:]))
	maxrecs := (len(root) - 4) / 16
	if level == 0 || level > maxBmbtDepth {
		return nil, fmt.Errorf("%w: %s: btree root level %d", ErrFormat, where, level)
	}
	if numrecs == 0 || numrecs > maxrecs {
		return nil, fmt.Errorf("%w: %s: btree root with %d records (max %d)", ErrFormat, where, numrecs, maxrecs)
	}
	ptrs := make([]uint64, numrecs)
	for i := range ptrs {
		ptrs[i] = be.Uint64(root[4+maxrecs*8+i*8:])
	}
	w := &bmbtWalker{f: f, where: where, ino: ino, limit: nextents, visited: map[uint64]bool{}}
	for _, p := range ptrs {
		if err := w.walk(p, level-1); err != nil {
			return nil, err
		}
	}
	if uint64(len(w.recs)) != nextents {
		f.warn(fmt.Sprintf("%s: btree holds %d extents, inode says %d", where, len(w.recs), nextents))
	}
	return w.recs, nil
}

type bmbtWalker struct {
	f       *FS
	where   string
	ino     uint64
	limit   uint64
	visited map[uint64]bool
	recs    []bmbtRec
}

func (w *bmbtWalker) walk(fsb uint64, level int) error {
	f := w.f
	if w.visited[fsb] {
		return fmt.Errorf("%w: %s: btree block %d visited twice (loop)", ErrFormat, w.where, fsb)
	}
	w.visited[fsb] = true
	if uint64(len(w.visited)) > f.sb.Dblocks {
		return fmt.Errorf("%w: %s: btree larger than the volume", ErrFormat, w.where)
	}
	b, err := f.readBlocks(fsb, 1, w.where+" btree block")
	if err != nil {
		return err
	}
	hdr := 24
	magic := be.Uint32(b)
	if f.crc {
		hdr = 72
		if magic != bmap3Magic {
			return fmt.Errorf("%w: %s: btree block %d: bad magic %#08x", ErrFormat, w.where, fsb, magic)
		}
		f.checkCRC(b, 64, fmt.Sprintf("%s: btree block %d", w.where, fsb))
		if owner := be.Uint64(b[56:]); owner != w.ino {
			f.warn(fmt.Sprintf("%s: btree block %d: owner %d", w.where, fsb, owner))
		}
	} else if magic != bmapMagic {
		return fmt.Errorf("%w: %s: btree block %d: bad magic %#08x", ErrFormat, w.where, fsb, magic)
	}
	if got := int(be.Uint16(b[4:])); got != level {
		return fmt.Errorf("%w: %s: btree block %d: level %d, expected %d", ErrFormat, w.where, fsb, got, level)
	}
	numrecs := int(be.Uint16(b[6:]))
	maxrecs := (len(b) - hdr) / 16
	if numrecs > maxrecs {
		return fmt.Errorf("%w: %s: btree block %d: %d records (max %d)", ErrFormat, w.where, fsb, numrecs, maxrecs)
	}
	if level == 0 {
		if uint64(len(w.recs)+numrecs) > w.limit {
			return fmt.Errorf("%w: %s: btree holds more extents than the inode's %d", ErrFormat, w.where, w.limit)
		}
		for i := 0; i < numrecs; i++ {
			w.recs = append(w.recs, decodeBmbtRec(b[hdr+i*16:]))
		}
		return nil
	}
	// Node: keys then pointers, each maxrecs long (node maxrecs counts
	// key+pointer pairs of 16 bytes, the same as leaf records).
	for i := 0; i < numrecs; i++ {
		p := be.Uint64(b[hdr+maxrecs*8+i*8:])
		if err := w.walk(p, level-1); err != nil {
			return err
		}
	}
	return nil
}

// fileMap maps a fork's logical blocks to volume blocks.
type fileMap []bmbtRec

// lookup finds the extent holding logical block lblk; ok is false in a
// hole, and then next is the first extent after it (len when none).
func (m fileMap) lookup(lblk uint64) (i int, ok bool) {
	i = sort.Search(len(m), func(i int) bool { return m[i].startoff+m[i].count > lblk })
	if i < len(m) && m[i].startoff <= lblk {
		return i, true
	}
	return i, false
}

// readFork reads length bytes at logical byte offset off of a fork mapped
// by m; holes and unwritten extents read as zeros.
func (f *FS) readFork(m fileMap, p []byte, off int64, what string) error {
	for len(p) > 0 {
		lblk := uint64(off / f.bs)
		inBlk := off % f.bs
		i, ok := m.lookup(lblk)
		if !ok {
			// Hole: zeros up to the next extent.
			n := int64(len(p))
			if i < len(m) {
				if h := int64(m[i].startoff)*f.bs - off; h < n {
					n = h
				}
			}
			clear(p[:n])
			p, off = p[n:], off+n
			continue
		}
		e := m[i]
		n := int64(e.startoff+e.count-lblk)*f.bs - inBlk
		if n > int64(len(p)) {
			n = int64(len(p))
		}
		if e.unwritten {
			clear(p[:n])
		} else {
			base, ok := f.fsbToByte(e.startblock)
			if !ok {
				return fmt.Errorf("%w: %s: extent at block %d outside the volume", ErrFormat, what, e.startblock)
			}
			phys := base + int64(lblk-e.startoff)*f.bs + inBlk
			if err := f.readAt(p[:n], phys, what); err != nil {
				return err
			}
		}
		p, off = p[n:], off+n
	}
	return nil
}
