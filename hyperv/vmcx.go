package hyperv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
)

// Bounds on what a VMCX file may make the reader do. Real configuration
// files are tens of kilobytes with one object table and about ten key
// tables.
const (
	maxObjectTables   = 64
	maxObjectEntries  = 1 << 16   // over all object tables
	maxKeyTableSize   = 16 << 20  // one key table
	maxKeyTableBytes  = 64 << 20  // all key tables together
	maxFileObjectRead = 1 << 20   // one value held in a file object
	maxKeys           = 1 << 20   // key entries over all tables
	maxTreeDepth      = 64        // nesting of keys
	maxConfigFile     = 256 << 20 // larger is not a configuration
)

// keyRef names a key table entry: its table index and offset in the table.
type keyRef struct {
	table  uint16
	offset uint32
}

type keyEntry struct {
	hdr    keyEntryHeader
	parent keyRef
	node   *node
}

type vmcxReader struct {
	r      io.ReaderAt
	size   int64
	verify bool // check the CRC-32 of headers, object entries and key tables
	header storageHeader
	files  map[uint64]uint32 // file objects: offset -> allocated size
	info   vmcxInfo
}

// vmcxInfo counts what was read, for tests.
type vmcxInfo struct {
	version      uint32
	objectTables int
	keyTables    int // distinct key table indexes
}

// crcZeroed is the CRC-32 (IEEE) of b with the 4-byte checksum field at at
// taken as zero, the way HyperVStorage checksums its structures.
func crcZeroed(b []byte, at int) uint32 {
	var zero [4]byte
	c := crc32.Update(0, crc32.IEEETable, b[:at])
	c = crc32.Update(c, crc32.IEEETable, zero[:])
	return crc32.Update(c, crc32.IEEETable, b[at+4:])
}

func (v *vmcxReader) readAt(what string, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > v.size || int64(n) > v.size-off {
		return nil, fmt.Errorf("hyperv: vmcx: %s at 0x%x (+0x%x) beyond end of file (0x%x): %w", what, off, n, v.size, ErrFormat)
	}
	b := make([]byte, n)
	if _, err := v.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && len(b) == n) {
		return nil, fmt.Errorf("hyperv: vmcx: reading %s at 0x%x: %w", what, off, err)
	}
	return b, nil
}

// readVMCXTree reads the key tree of a HyperVStorage file (.vmcx, .vmrs).
// Without verify, checksums are not checked (the fuzz target uses that to
// reach the key parser with mutated input).
func readVMCXTree(r io.ReaderAt, size int64, verify bool) (*node, vmcxInfo, error) {
	if size < objectTableOffset+objectTableHdrSize {
		return nil, vmcxInfo{}, fmt.Errorf("hyperv: vmcx: file of %d bytes too small: %w", size, ErrFormat)
	}
	if size > maxConfigFile {
		return nil, vmcxInfo{}, fmt.Errorf("hyperv: vmcx: file of %d bytes too large for a configuration: %w", size, ErrFormat)
	}
	v := &vmcxReader{r: r, size: size, verify: verify, files: map[uint64]uint32{}}
	if err := v.readHeader(); err != nil {
		return nil, v.info, err
	}
	entries, err := v.readObjectTables()
	if err != nil {
		return nil, v.info, err
	}
	root, err := v.readKeys(entries)
	return root, v.info, err
}

// readHeader picks the current of the two headers: a valid signature and
// the larger sequence number.
func (v *vmcxReader) readHeader() error {
	var best *storageHeader
	for _, off := range []int64{firstHeaderOffset, secondHeaderOffset} {
		b, err := v.readAt("header", off, storageHeaderSize)
		if err != nil {
			return err
		}
		h := parseStorageHeader(b)
		if h.Signature != storageSignature {
			continue
		}
		if v.verify && crcZeroed(b, 4) != h.Checksum {
			continue
		}
		if best == nil || h.SequenceNumber > best.SequenceNumber {
			best = &h
		}
	}
	if best == nil {
		return fmt.Errorf("hyperv: vmcx: no header with signature 0x%08x and a valid checksum at 0x0 or 0x1000: %w", storageSignature, ErrFormat)
	}
	if best.Version != supportedVersion {
		return fmt.Errorf("hyperv: vmcx: storage version 0x%x not supported (only 0x%x): %w", best.Version, supportedVersion, ErrFormat)
	}
	v.header = *best
	v.info.version = best.Version
	return nil
}

// readObjectTables reads the object table at 0x2000 and any further object
// tables it lists.
func (v *vmcxReader) readObjectTables() ([]objectTableEntry, error) {
	var all []objectTableEntry
	seen := map[uint64]bool{}
	queue := []uint64{objectTableOffset}
	for len(queue) > 0 {
		off := queue[0]
		queue = queue[1:]
		if seen[off] {
			continue
		}
		if len(seen) >= maxObjectTables {
			return nil, fmt.Errorf("hyperv: vmcx: more than %d object tables: %w", maxObjectTables, ErrFormat)
		}
		seen[off] = true
		v.info.objectTables++
		if off > math.MaxInt64 {
			return nil, fmt.Errorf("hyperv: vmcx: object table offset 0x%x beyond end of file: %w", off, ErrFormat)
		}
		hb, err := v.readAt("object table", int64(off), objectTableHdrSize)
		if err != nil {
			return nil, err
		}
		if sig := binary.LittleEndian.Uint32(hb); sig != objectTableSignature {
			return nil, fmt.Errorf("hyperv: vmcx: object table at 0x%x: signature 0x%08x, want 0x%08x: %w", off, sig, objectTableSignature, ErrFormat)
		}
		n := int64(binary.LittleEndian.Uint32(hb[4:]))
		if n > int64(maxObjectEntries-len(all)) || n*objectEntrySize > v.size-int64(off)-objectTableHdrSize {
			return nil, fmt.Errorf("hyperv: vmcx: object table at 0x%x: %d entries do not fit: %w", off, n, ErrFormat)
		}
		eb, err := v.readAt("object table entries", int64(off)+objectTableHdrSize, int(n*objectEntrySize))
		if err != nil {
			return nil, err
		}
		for i := range int(n) {
			e := parseObjectTableEntry(eb[i*objectEntrySize:])
			if v.verify && crcZeroed(eb[i*objectEntrySize:(i+1)*objectEntrySize], 1) != e.Checksum {
				return nil, fmt.Errorf("hyperv: vmcx: object table at 0x%x: entry %d: checksum mismatch: %w", off, i, ErrFormat)
			}
			if e.Allocated == 0 {
				continue
			}
			switch e.Type {
			case objObjectTable:
				queue = append(queue, e.Offset)
			case objFile:
				v.files[e.Offset] = e.Size
			}
			all = append(all, e)
		}
	}
	return all, nil
}

// readKeys reads the newest key table of each index and links the keys
// into a tree under a synthetic root.
func (v *vmcxReader) readKeys(objects []objectTableEntry) (*node, error) {
	type table struct {
		hdr  keyTableHeader
		data []byte
		off  uint64
	}
	tables := map[uint16]table{}
	seen := map[uint64]bool{}
	var idxs []int
	var total int64
	for _, e := range objects {
		if e.Type != objKeyTable {
			continue
		}
		if e.Size < keyTableHdrSize || e.Size > maxKeyTableSize {
			return nil, fmt.Errorf("hyperv: vmcx: key table at 0x%x: size 0x%x out of range: %w", e.Offset, e.Size, ErrFormat)
		}
		if e.Offset > math.MaxInt64 {
			return nil, fmt.Errorf("hyperv: vmcx: key table offset 0x%x beyond end of file: %w", e.Offset, ErrFormat)
		}
		if seen[e.Offset] {
			continue
		}
		seen[e.Offset] = true
		// Key tables do not overlap, so together they fit in the file: this
		// keeps a hostile object table from making the reader parse the
		// same bytes many times over.
		if total += int64(e.Size); total > maxKeyTableBytes || total > v.size {
			return nil, fmt.Errorf("hyperv: vmcx: key tables larger than the file in all (0x%x bytes): %w", total, ErrFormat)
		}
		b, err := v.readAt("key table", int64(e.Offset), int(e.Size))
		if err != nil {
			return nil, err
		}
		h := parseKeyTableHeader(b)
		if h.Signature != keyTableSignature {
			return nil, fmt.Errorf("hyperv: vmcx: key table at 0x%x: signature 0x%04x, want 0x%04x: %w", e.Offset, h.Signature, keyTableSignature, ErrFormat)
		}
		if v.verify && crcZeroed(b[:keyTableHdrSize], 6) != h.Checksum {
			return nil, fmt.Errorf("hyperv: vmcx: key table at 0x%x: checksum mismatch: %w", e.Offset, ErrFormat)
		}
		if h.Index == 0 {
			return nil, fmt.Errorf("hyperv: vmcx: key table at 0x%x: index 0 (reserved for the root): %w", e.Offset, ErrFormat)
		}
		old, ok := tables[h.Index]
		if ok && old.hdr.SequenceNumber >= h.SequenceNumber {
			continue
		}
		if !ok {
			idxs = append(idxs, int(h.Index))
		}
		tables[h.Index] = table{hdr: h, data: b, off: e.Offset}
	}
	v.info.keyTables = len(tables)
	if len(tables) == 0 {
		return nil, fmt.Errorf("hyperv: vmcx: no key tables: %w", ErrFormat)
	}

	keys := map[keyRef]*keyEntry{}
	var order []keyRef // file order, so that children keep their order
	// Tables in index order. (The list is built in file order, not from
	// the map, so that the work done never depends on map order.)
	slices.Sort(idxs)
	for _, i := range idxs {
		t := tables[uint16(i)]
		off := keyTableHdrSize
		for off+keyEntryHdrSize <= len(t.data) {
			h := parseKeyEntryHeader(t.data[off:])
			if h.Size == 0 {
				break
			}
			where := func() string { return fmt.Sprintf("key table %d (at 0x%x) entry at 0x%x", i, t.off, off) }
			if h.Size < keyEntryHdrSize || int64(h.Size) > int64(len(t.data)-off) {
				return nil, fmt.Errorf("hyperv: vmcx: %s: size 0x%x beyond its table: %w", where(), h.Size, ErrFormat)
			}
			raw := t.data[off+keyEntryHdrSize : off+int(h.Size)]
			ref := keyRef{uint16(i), uint32(off)}
			next := off + int(h.Size)
			typ := keyDataType(h.Type & 0xff)
			if typ == keyFree {
				off = next
				continue
			}
			if len(keys) >= maxKeys {
				return nil, fmt.Errorf("hyperv: vmcx: more than %d keys: %w", maxKeys, ErrFormat)
			}
			n, err := v.decodeKey(h, raw)
			if err != nil {
				return nil, fmt.Errorf("hyperv: vmcx: %s: %w", where(), err)
			}
			keys[ref] = &keyEntry{hdr: h, parent: keyRef{h.ParentTableIdx, h.ParentOffset}, node: n}
			order = append(order, ref)
			off = next
		}
	}

	root := &node{kind: kindNode}
	for _, ref := range order {
		k := keys[ref]
		if k.parent.table == 0 {
			root.children = append(root.children, k.node)
			continue
		}
		p, ok := keys[k.parent]
		if !ok || p.node.kind != kindNode || p == k {
			// A key whose parent is missing or not a node cannot be placed;
			// Hyper-V would not write one. Leave it out.
			continue
		}
		p.node.children = append(p.node.children, k.node)
	}
	if err := checkDepth(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

// checkDepth makes sure the tree is not nested deeper than maxTreeDepth.
// Each key has one parent, so the walk from the root meets no cycle; the
// depth bound keeps the recursion of later walks small.
func checkDepth(n *node, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("hyperv: keys nested deeper than %d: %w", maxTreeDepth, ErrFormat)
	}
	for _, c := range n.children {
		if c.kind == kindNode {
			if err := checkDepth(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeKey makes a node of one key entry: raw is the entry after its
// header (the key name, then the value at DataOffset).
func (v *vmcxReader) decodeKey(h keyEntryHeader, raw []byte) (*node, error) {
	do := int(h.DataOffset)
	if do < 1 || do > len(raw) {
		return nil, fmt.Errorf("data offset %d outside the entry (%d bytes): %w", do, len(raw), ErrFormat)
	}
	name := raw[:do-1]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	n := &node{name: string(name)}
	data := raw[do:]
	typ := keyDataType(h.Type & 0xff)
	flags := h.Type >> 8
	need := func(k int) error {
		if len(data) < k {
			return fmt.Errorf("key %q: value of %d bytes, need %d: %w", n.name, len(data), k, ErrFormat)
		}
		return nil
	}
	switch typ {
	case keyNode:
		n.kind = kindNode
	case keyInt, keyUInt:
		if err := need(8); err != nil {
			return nil, err
		}
		n.kind = kindInt
		n.num = int64(binary.LittleEndian.Uint64(data))
	case keyDouble:
		if err := need(8); err != nil {
			return nil, err
		}
		n.kind = kindOther
		n.str = strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(data)), 'g', -1, 64)
	case keyBool:
		if err := need(4); err != nil {
			return nil, err
		}
		n.kind = kindBool
		n.flag = binary.LittleEndian.Uint32(data) != 0
	case keyString, keyArray:
		var b []byte
		if flags&keyFlagFileObjectPointer != 0 {
			if err := need(fileObjectPtrSize); err != nil {
				return nil, err
			}
			sz := binary.LittleEndian.Uint32(data)
			off := binary.LittleEndian.Uint64(data[4:])
			var err error
			if b, err = v.readFileObject(n.name, off, sz); err != nil {
				return nil, err
			}
		} else {
			if err := need(4); err != nil {
				return nil, err
			}
			sz := binary.LittleEndian.Uint32(data)
			if int64(sz) > int64(len(data)-4) {
				return nil, fmt.Errorf("key %q: value of 0x%x bytes beyond the entry: %w", n.name, sz, ErrFormat)
			}
			b = data[4 : 4+sz]
		}
		if typ == keyString {
			n.kind = kindString
			n.str = decodeUTF16(b)
		} else {
			n.kind = kindBytes
		}
	default:
		n.kind = kindOther
	}
	return n, nil
}

// readFileObject reads a value stored outside the key tables.
func (v *vmcxReader) readFileObject(key string, off uint64, size uint32) ([]byte, error) {
	alloc, ok := v.files[off]
	if !ok {
		return nil, fmt.Errorf("key %q: file object at 0x%x not in the object table: %w", key, off, ErrFormat)
	}
	if size > alloc || size > maxFileObjectRead || off > math.MaxInt64 {
		return nil, fmt.Errorf("key %q: file object at 0x%x: 0x%x bytes beyond its 0x%x: %w", key, off, size, alloc, ErrFormat)
	}
	return v.readAt("file object", int64(off), int(size))
}

// decodeUTF16 decodes UTF-16LE up to the first NUL.
func decodeUTF16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
