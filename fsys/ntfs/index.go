package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Index entry flags.
const (
	indexEntrySubnode = 0x01
	indexEntryLast    = 0x02
)

// maxIndexDepth bounds the B+ tree depth.
const maxIndexDepth = 32

// indexEntry is one $I30 entry: a file reference and its $FILE_NAME key.
type indexEntry struct {
	Ref     fileRef
	Key     fileName
	HasKey  bool
	Subnode int64 // VCN of the child node, -1 if none
}

// index is a directory's $I30 B+ tree.
type index struct {
	ino       *inode
	root      []indexEntry
	alloc     *stream // $INDEX_ALLOCATION, nil for a small index
	blockSize int64
	vcnShift  int64 // bytes per VCN of the index allocation
	where     string
}

func (v *FS) openIndex(ino *inode) (*index, error) {
	where := fmt.Sprintf("MFT record %d $I30", ino.num)
	rootAttr := ino.pieces(attrIndexRoot, "$I30")
	if len(rootAttr) != 1 || rootAttr[0].NonResident {
		return nil, formatErr(where, "no resident $INDEX_ROOT")
	}
	rv := rootAttr[0].Value
	if len(rv) < 0x20 {
		return nil, formatErr(where, "$INDEX_ROOT too short")
	}
	ix := &index{ino: ino, where: where}
	if t := binary.LittleEndian.Uint32(rv[0:]); t != attrFileName {
		return nil, formatErr(where, "indexes attribute 0x%x, not $FILE_NAME", t)
	}
	ix.blockSize = int64(binary.LittleEndian.Uint32(rv[8:]))
	if ix.blockSize < 512 || ix.blockSize > 64<<10 || ix.blockSize&(ix.blockSize-1) != 0 {
		return nil, formatErr(where, "index block size %d invalid", ix.blockSize)
	}
	if ix.blockSize >= v.boot.ClusterSize {
		ix.vcnShift = v.boot.ClusterSize
	} else {
		ix.vcnShift = 512
	}
	entries, err := parseIndexNode(rv[0x10:], where+" root")
	if err != nil {
		return nil, err
	}
	ix.root = entries
	if len(ino.pieces(attrIndexAllocation, "$I30")) > 0 {
		ix.alloc, err = ino.stream(attrIndexAllocation, "$I30")
		if err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// parseIndexNode parses the entries after an index node header.
func parseIndexNode(b []byte, where string) ([]indexEntry, error) {
	if len(b) < 16 {
		return nil, formatErr(where, "node header truncated")
	}
	first := int(binary.LittleEndian.Uint32(b[0:]))
	used := int(binary.LittleEndian.Uint32(b[4:]))
	if used > len(b) || used < 0 {
		return nil, formatErr(where, "index length %d beyond node (%d bytes)", used, len(b))
	}
	if first < 16 || first > used {
		return nil, formatErr(where, "first entry offset %d invalid (index length %d)", first, used)
	}
	var out []indexEntry
	for ofs := first; ; {
		if ofs+16 > used {
			return nil, formatErr(where, "entries run past index length without a last entry")
		}
		l := int(binary.LittleEndian.Uint16(b[ofs+8:]))
		kl := int(binary.LittleEndian.Uint16(b[ofs+10:]))
		fl := binary.LittleEndian.Uint16(b[ofs+12:])
		if l < 16 || l%8 != 0 || ofs+l > used {
			return nil, formatErr(where, "entry at %d: length %d invalid", ofs, l)
		}
		e := indexEntry{Ref: fileRef(binary.LittleEndian.Uint64(b[ofs:])), Subnode: -1}
		if fl&indexEntrySubnode != 0 {
			if l < 24 {
				return nil, formatErr(where, "entry at %d: too short for a subnode VCN", ofs)
			}
			e.Subnode = int64(binary.LittleEndian.Uint64(b[ofs+l-8:]))
			if e.Subnode < 0 {
				return nil, formatErr(where, "entry at %d: subnode VCN %d invalid", ofs, e.Subnode)
			}
		}
		if fl&indexEntryLast == 0 {
			if 16+kl > l {
				return nil, formatErr(where, "entry at %d: key length %d beyond entry", ofs, kl)
			}
			fn, ok := parseFileName(b[ofs+16 : ofs+16+kl])
			if !ok {
				return nil, formatErr(where, "entry at %d: key is not a valid $FILE_NAME", ofs)
			}
			e.Key, e.HasKey = fn, true
		}
		out = append(out, e)
		if fl&indexEntryLast != 0 {
			break
		}
		ofs += l
	}
	return out, nil
}

// node reads and parses the index block at vcn (cached).
func (ix *index) node(vcn int64) ([]indexEntry, error) {
	where := fmt.Sprintf("%s index block at VCN %d", ix.where, vcn)
	if ix.alloc == nil {
		return nil, formatErr(where, "subnode referenced but there is no $INDEX_ALLOCATION")
	}
	v := ix.ino.v
	key := idxKey{ix.ino.num, vcn}
	if entries, ok := v.idxCache.Get(key); ok {
		return entries, nil
	}
	off := vcn * ix.vcnShift
	if vcn > ix.alloc.size/ix.vcnShift || off+ix.blockSize > ix.alloc.size {
		return nil, formatErr(where, "beyond $INDEX_ALLOCATION (%d bytes)", ix.alloc.size)
	}
	b := make([]byte, ix.blockSize)
	if _, err := ix.alloc.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, err
	}
	if string(b[0:4]) != "INDX" {
		return nil, formatErr(where, "signature %q is not INDX", b[0:4])
	}
	if err := applyFixups(b, where); err != nil {
		return nil, err
	}
	if got := int64(binary.LittleEndian.Uint64(b[0x10:])); got != vcn {
		return nil, formatErr(where, "block says it is VCN %d", got)
	}
	entries, err := parseIndexNode(b[0x18:], where)
	if err != nil {
		return nil, err
	}
	v.idxCache.Put(key, entries, 1)
	return entries, nil
}

// walk calls fn for every entry with a key, in index order. A tree that
// revisits a block or is deeper than maxIndexDepth is an error.
func (ix *index) walk(fn func(e *indexEntry) error) error {
	visited := map[int64]bool{}
	var rec func(entries []indexEntry, depth int) error
	rec = func(entries []indexEntry, depth int) error {
		if depth > maxIndexDepth {
			return formatErr(ix.where, "B+ tree deeper than %d levels", maxIndexDepth)
		}
		for i := range entries {
			e := &entries[i]
			if e.Subnode >= 0 {
				if visited[e.Subnode] {
					return formatErr(ix.where, "index block at VCN %d referenced twice (the tree cycles)", e.Subnode)
				}
				visited[e.Subnode] = true
				child, err := ix.node(e.Subnode)
				if err != nil {
					return err
				}
				if err := rec(child, depth+1); err != nil {
					return err
				}
			}
			if e.HasKey {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return rec(ix.root, 0)
}

// lookup finds the entries whose name equals name ignoring case, by
// descending the B+ tree. An exact (case-sensitive) match comes first.
func (ix *index) lookup(name []uint16) ([]indexEntry, error) {
	up := ix.ino.v.upcaseTable()
	var found []indexEntry
	visited := map[int64]bool{}
	var rec func(entries []indexEntry, depth int) error
	rec = func(entries []indexEntry, depth int) error {
		if depth > maxIndexDepth {
			return formatErr(ix.where, "B+ tree deeper than %d levels", maxIndexDepth)
		}
		for i := range entries {
			e := &entries[i]
			c := 1 // the last entry sorts after everything
			if e.HasKey {
				c = up.compare(e.Key.units, name)
			}
			if c < 0 {
				continue
			}
			if e.Subnode >= 0 {
				if visited[e.Subnode] {
					return formatErr(ix.where, "index block at VCN %d referenced twice (the tree cycles)", e.Subnode)
				}
				visited[e.Subnode] = true
				child, err := ix.node(e.Subnode)
				if err != nil {
					return err
				}
				if err := rec(child, depth+1); err != nil {
					return err
				}
			}
			if c > 0 {
				return nil
			}
			found = append(found, *e)
		}
		return nil
	}
	if err := rec(ix.root, 0); err != nil {
		return nil, err
	}
	// Exact matches first.
	for i, e := range found {
		if equalUnits(e.Key.units, name) {
			found[0], found[i] = found[i], found[0]
			break
		}
	}
	return found, nil
}

func equalUnits(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
