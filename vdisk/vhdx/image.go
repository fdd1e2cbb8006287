package vhdx

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/vdisk/extent"
)

// Options change how NewImage reads a file.
type Options struct {
	// IgnoreLog reads the file as it is, without replaying a dirty log
	// (Log().Ignored and a warning say so). The content may then be stale
	// or inconsistent.
	IgnoreLog bool
}

// Image is an opened VHDX file. It is safe for concurrent use.
type Image struct {
	f        *fileView
	hdr      Header
	creator  string
	regions  []RegionTableEntry
	items    []MetadataTableEntry
	params   FileParameters
	size     int64
	lss      int64
	pss      int64
	page83   [16]byte
	locator  *ParentLocator
	chunk    int64 // chunk ratio: payload blocks per sector bitmap block
	nBlocks  int64
	bat      []uint64
	log      LogState
	warnings []string
	fixed    bool

	mu      sync.Mutex
	bitmaps map[int64][]byte // sector bitmap bytes of a payload block
	bmBytes int
}

const maxBitmapCache = 8 * mib

// NewImage opens the VHDX file r of size bytes. opts may be nil. A dirty
// log is replayed in memory first; nothing is ever written to r.
func NewImage(r io.ReaderAt, size int64, opts *Options) (*Image, error) {
	if opts == nil {
		opts = &Options{}
	}
	if size < headerSectionSize {
		return nil, errf("file of %d bytes is smaller than the 1 MiB header section", size)
	}
	im := &Image{bitmaps: make(map[int64][]byte)}
	sec := make([]byte, regionTable2Offset+regionTableSize)
	if _, err := r.ReadAt(sec, 0); err != nil {
		return nil, fmt.Errorf("vhdx: reading header section: %w", err)
	}
	if string(sec[0:8]) != string(sigFile) {
		return nil, errf("file type identifier: signature %q, want \"vhdxfile\"", sec[0:8])
	}
	im.creator = trimNUL(utf16le(sec[8 : 8+512]))

	// Headers (MS-VHDX 2.2.2): the valid one with the greater sequence number.
	h1, err1 := parseHeader(sec[header1Offset:])
	h2, err2 := parseHeader(sec[header2Offset:])
	switch {
	case err1 != nil && err2 != nil:
		return nil, errf("no valid header: header 1: %v; header 2: %v", err1, err2)
	case err1 != nil:
		im.hdr = h2
		im.warn("header 1 invalid (%v); header 2 used", err1)
	case err2 != nil:
		im.hdr = h1
		im.warn("header 2 invalid (%v); header 1 used", err2)
	case h2.SequenceNumber > h1.SequenceNumber:
		im.hdr = h2
	default:
		im.hdr = h1
		if h1.SequenceNumber == h2.SequenceNumber && h1 != h2 {
			im.warn("headers 1 and 2 differ but share sequence number %d; header 1 used", h1.SequenceNumber)
		}
	}
	if im.hdr.Version != 1 {
		return nil, errf("header: version %d, only 1 is defined", im.hdr.Version)
	}

	// Log (MS-VHDX 2.3): replay before reading anything else.
	im.f = &fileView{r: r, realSize: size, size: size}
	im.log.LogGUID = im.hdr.LogGuid.String()
	if !im.hdr.LogGuid.IsZero() {
		im.log.Dirty = true
		ov, st, warn, err := replayLog(r, size, im.hdr)
		im.warnings = append(im.warnings, warn...)
		switch {
		case opts.IgnoreLog:
			st.Replayed, st.Bytes = false, 0
			st.Ignored = true
			im.log = st
			if err != nil {
				im.warn("log not replayed (IgnoreLog); it is not valid either: %v", err)
			} else {
				im.warn("log of %d entries not replayed (IgnoreLog): content may be stale", st.Entries)
			}
		case err != nil:
			return nil, err
		default:
			im.log = st
			im.f.ov = ov
			im.f.size = max(size, ov.end)
		}
	}

	if err := im.readRegions(); err != nil {
		return nil, err
	}
	if err := im.readMetadata(); err != nil {
		return nil, err
	}
	if err := im.readBAT(); err != nil {
		return nil, err
	}
	return im, nil
}

func trimNUL(s string) string {
	for i, c := range s {
		if c == 0 {
			return s[:i]
		}
	}
	return s
}

func (im *Image) warn(format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf(format, args...))
}

func (im *Image) readRegions() error {
	buf := make([]byte, 2*regionTableSize)
	if _, err := im.f.ReadAt(buf, regionTable1Offset); err != nil {
		return fmt.Errorf("vhdx: reading region tables: %w", err)
	}
	t1, err1 := parseRegionTable(buf[:regionTableSize])
	t2, err2 := parseRegionTable(buf[regionTableSize:])
	switch {
	case err1 != nil && err2 != nil:
		return errf("no valid region table: table 1: %v; table 2: %v", err1, err2)
	case err1 != nil:
		im.warn("region table 1 invalid (%v); table 2 used", err1)
		im.regions = t2
	default:
		im.regions = t1
		if err2 != nil {
			im.warn("region table 2 invalid (%v); table 1 used", err2)
		}
	}
	var haveBAT, haveMeta bool
	for i, r := range im.regions {
		switch r.Guid {
		case RegionBAT:
			haveBAT = true
		case RegionMetadata:
			haveMeta = true
		default:
			if r.Required {
				return errf("region table entry %d: unknown required region %s", i, r.Guid)
			}
			im.warn("unknown optional region %s ignored", r.Guid)
		}
		if r.FileOffset > uint64(im.f.size) || uint64(r.Length) > uint64(im.f.size)-r.FileOffset {
			return errf("region %s: [0x%x, +0x%x) beyond end of file (0x%x bytes)", regionName(r.Guid), r.FileOffset, r.Length, im.f.size)
		}
	}
	if !haveBAT {
		return errf("region table has no BAT region")
	}
	if !haveMeta {
		return errf("region table has no metadata region")
	}
	return nil
}

func regionName(g GUID) string {
	switch g {
	case RegionBAT:
		return "BAT"
	case RegionMetadata:
		return "metadata"
	}
	return g.String()
}

func (im *Image) region(g GUID) RegionTableEntry {
	for _, r := range im.regions {
		if r.Guid == g {
			return r
		}
	}
	return RegionTableEntry{}
}

func (im *Image) readMetadata() error {
	reg := im.region(RegionMetadata)
	if reg.Length < metadataTableSz {
		return errf("metadata region of %d bytes is smaller than its 64 KiB table", reg.Length)
	}
	tab := make([]byte, metadataTableSz)
	if _, err := im.f.ReadAt(tab, int64(reg.FileOffset)); err != nil {
		return fmt.Errorf("vhdx: reading metadata table: %w", err)
	}
	items, err := parseMetadataTable(tab, reg.Length)
	if err != nil {
		return errf("metadata table: %v", err)
	}
	im.items = items
	read := func(m MetadataTableEntry) ([]byte, error) {
		b := make([]byte, m.Length)
		if _, err := im.f.ReadAt(b, int64(reg.FileOffset)+int64(m.Offset)); err != nil {
			return nil, fmt.Errorf("vhdx: reading metadata item %s: %w", m.ItemID, err)
		}
		return b, nil
	}
	var have = map[GUID][]byte{}
	for _, m := range items {
		if m.IsUser {
			continue
		}
		switch m.ItemID {
		case ItemFileParameters, ItemVirtualDiskSize, ItemPage83Data, ItemLogicalSectorSize, ItemPhysicalSectorSize, ItemParentLocator:
			b, err := read(m)
			if err != nil {
				return err
			}
			have[m.ItemID] = b
		default:
			if m.IsRequired {
				return errf("metadata: unknown required item %s", m.ItemID)
			}
		}
	}
	need := func(id GUID, name string, n int) ([]byte, error) {
		b, ok := have[id]
		if !ok {
			return nil, errf("metadata: no %s item", name)
		}
		if len(b) < n {
			return nil, errf("metadata: %s item of %d bytes, want %d", name, len(b), n)
		}
		return b, nil
	}
	b, err := need(ItemFileParameters, "File Parameters", 8)
	if err != nil {
		return err
	}
	if im.params, err = parseFileParameters(b); err != nil {
		return errf("metadata: %v", err)
	}
	if b, err = need(ItemLogicalSectorSize, "Logical Sector Size", 4); err != nil {
		return err
	}
	im.lss = int64(binary.LittleEndian.Uint32(b))
	if im.lss != 512 && im.lss != 4096 {
		return errf("metadata: logical sector size %d (must be 512 or 4096)", im.lss)
	}
	if b, ok := have[ItemPhysicalSectorSize]; ok && len(b) >= 4 {
		im.pss = int64(binary.LittleEndian.Uint32(b))
		if im.pss != 512 && im.pss != 4096 {
			return errf("metadata: physical sector size %d (must be 512 or 4096)", im.pss)
		}
	} else {
		im.pss = im.lss
		im.warn("metadata: no Physical Sector Size item; the logical sector size is assumed")
	}
	if b, err = need(ItemVirtualDiskSize, "Virtual Disk Size", 8); err != nil {
		return err
	}
	vs := binary.LittleEndian.Uint64(b)
	if vs == 0 || vs > maxVirtualDiskSize || vs%uint64(im.lss) != 0 {
		return errf("metadata: virtual disk size %d is not a non-zero multiple of the %d-byte sector up to 64 TiB", vs, im.lss)
	}
	im.size = int64(vs)
	if b, ok := have[ItemPage83Data]; ok && len(b) >= 16 {
		copy(im.page83[:], b)
	} else {
		im.warn("metadata: no Page 83 Data (Virtual Disk ID) item")
	}
	if b, ok := have[ItemParentLocator]; ok {
		pl, warn, err := parseParentLocator(b)
		if err != nil {
			return errf("metadata: %v", err)
		}
		im.warnings = append(im.warnings, warn...)
		if pl.LocatorType != LocatorTypeVHDX {
			im.warn("parent locator type %s is not the VHDX locator type", pl.LocatorType)
		}
		im.locator = &pl
	}
	if im.params.HasParent {
		if im.locator == nil {
			return errf("metadata: HasParent is set but there is no Parent Locator item")
		}
		if _, ok := im.locator.Entries["parent_linkage"]; !ok {
			im.warn("parent locator has no parent_linkage entry")
		}
	} else if im.locator != nil {
		im.warn("parent locator present but HasParent is clear; ignored")
	}
	return nil
}

func (im *Image) readBAT() error {
	bs := int64(im.params.BlockSize)
	im.chunk = (sectorsPerBitmap * im.lss) / bs
	im.nBlocks = (im.size + bs - 1) / bs
	nSB := (im.nBlocks + im.chunk - 1) / im.chunk
	lastPayload := (im.nBlocks - 1) + (im.nBlocks-1)/im.chunk
	reg := im.region(RegionBAT)
	have := int64(reg.Length / 8)
	if have < lastPayload+1 {
		return errf("BAT region of %d bytes holds %d entries; %d are needed for a virtual size of %d with %d-byte blocks", reg.Length, have, lastPayload+1, im.size, bs)
	}
	n := lastPayload + 1
	if im.params.HasParent {
		n = min(have, nSB*(im.chunk+1))
	}
	raw := make([]byte, n*8)
	if _, err := im.f.ReadAt(raw, int64(reg.FileOffset)); err != nil {
		return fmt.Errorf("vhdx: reading BAT: %w", err)
	}
	im.bat = make([]uint64, n)
	for i := range im.bat {
		im.bat[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	diff := im.params.HasParent
	for b := int64(0); b < im.nBlocks; b++ {
		idx := b + b/im.chunk
		e := im.bat[idx]
		st := uint8(e & 7)
		blen := min(bs, im.size-b*bs)
		switch st {
		case PayloadBlockNotPresent, PayloadBlockUndefined, PayloadBlockZero, PayloadBlockUnmapped:
			continue
		case PayloadBlockFullyPresent:
		case PayloadBlockPartiallyPresent:
			if !diff {
				return errf("BAT entry %d (block %d): PARTIALLY_PRESENT in a disk without parent", idx, b)
			}
			sbi := (b/im.chunk)*(im.chunk+1) + im.chunk
			if sbi >= int64(len(im.bat)) {
				return errf("BAT entry %d (block %d): PARTIALLY_PRESENT but its sector bitmap entry %d lies beyond the BAT", idx, b, sbi)
			}
			se := im.bat[sbi]
			if se&7 != SBBlockPresent {
				return errf("BAT entry %d (block %d): PARTIALLY_PRESENT but sector bitmap entry %d is not present", idx, b, sbi)
			}
			so := int64(se >> 20)
			if so < 1 || so > (im.f.size-sectorBitmapSize)>>20 {
				return errf("BAT entry %d (sector bitmap): offset 0x%x beyond end of file", sbi, uint64(se>>20)<<20)
			}
		default:
			return errf("BAT entry %d (block %d): reserved state %d", idx, b, st)
		}
		fo := int64(e >> 20)
		if fo < 1 || fo > (im.f.size-blen)>>20 {
			return errf("BAT entry %d (block %d): offset 0x%x beyond end of file (0x%x bytes)", idx, b, uint64(e>>20)<<20, im.f.size)
		}
	}
	// MS-VHDX: LeaveBlockAllocated marks a fixed disk. Its blocks are all
	// allocated in the file, though writers may still mark zero-filled
	// ones ZERO (qemu does); libvhdi and Hyper-V call such a file fixed.
	im.fixed = im.params.LeaveBlockAllocated && !diff
	return nil
}

// Size is the virtual disk size in bytes.
func (im *Image) Size() int64 { return im.size }

// LogicalSectorSize is the virtual disk's logical sector size (512 or 4096).
func (im *Image) LogicalSectorSize() int { return int(im.lss) }

// PhysicalSectorSize is the virtual disk's physical sector size.
func (im *Image) PhysicalSectorSize() int { return int(im.pss) }

// BlockSize is the payload block size.
func (im *Image) BlockSize() int64 { return int64(im.params.BlockSize) }

// HasParent reports a differencing disk.
func (im *Image) HasParent() bool { return im.params.HasParent }

// Fixed reports a fully provisioned disk: LeaveBlockAllocated set.
func (im *Image) Fixed() bool { return im.fixed }

// Type is "fixed", "dynamic" or "differencing".
func (im *Image) Type() string {
	switch {
	case im.params.HasParent:
		return "differencing"
	case im.fixed:
		return "fixed"
	}
	return "dynamic"
}

// Header is the current header.
func (im *Image) Header() Header { return im.hdr }

// Creator is the file type identifier's creator string.
func (im *Image) Creator() string { return im.creator }

// Page83 is the Page 83 Data (Virtual Disk ID) metadata item, as stored.
func (im *Image) Page83() [16]byte { return im.page83 }

// ParentLocator returns the parent locator's key/value entries as stored,
// or nil if the file has none.
func (im *Image) ParentLocator() map[string]string {
	if im.locator == nil || !im.params.HasParent {
		return nil
	}
	m := make(map[string]string, len(im.locator.Entries))
	for k, v := range im.locator.Entries {
		m[k] = v
	}
	return m
}

// ParentLinkages returns the parent_linkage and parent_linkage2 GUIDs in
// canonical form (either may be empty when absent or unparsable).
func (im *Image) ParentLinkages() (linkage, linkage2 string) {
	if im.locator == nil || !im.params.HasParent {
		return "", ""
	}
	linkage, _ = NormalizeGUID(im.locator.Entries["parent_linkage"])
	linkage2, _ = NormalizeGUID(im.locator.Entries["parent_linkage2"])
	return linkage, linkage2
}

// DataWriteGUID is the current header's DataWriteGuid, in the form a
// child's parent_linkage stores it (lower case, no braces).
func (im *Image) DataWriteGUID() string { return im.hdr.DataWriteGuid.String() }

// FileWriteGUID is the current header's FileWriteGuid.
func (im *Image) FileWriteGUID() string { return im.hdr.FileWriteGuid.String() }

// Log tells whether the log was dirty and what was replayed.
func (im *Image) Log() LogState { return im.log }

// Warnings lists what was odd but readable.
func (im *Image) Warnings() []string { return append([]string(nil), im.warnings...) }

// ReadFileAt reads the VHDX file itself, through the replayed log.
func (im *Image) ReadFileAt(p []byte, off int64) (int, error) { return im.f.ReadAt(p, off) }

// Verbatim reports whether ReadFileAt returns [off, off+n) of the file
// unchanged: the range lies within the file's real size and no write of a
// replayed log covers any of it. A copier may then take those bytes from
// the file directly; elsewhere it must read through ReadFileAt.
func (im *Image) Verbatim(off, n int64) bool {
	return im.f.verbatim(off, n)
}

// FileSize is the size of the file after log replay (at least its real size).
func (im *Image) FileSize() int64 { return im.f.size }

// BlockState returns the state of payload block b and its file offset.
func (im *Image) BlockState(b int64) (state uint8, fileOffset int64) {
	if b < 0 || b >= im.nBlocks {
		return 0, 0
	}
	e := im.bat[b+b/im.chunk]
	return uint8(e & 7), int64(e>>20) << 20
}

// blockBitmap returns the sector bitmap bits of payload block b (one bit
// per logical sector of the block), from a bounded cache.
func (im *Image) blockBitmap(b int64) ([]byte, error) {
	im.mu.Lock()
	bm, ok := im.bitmaps[b]
	im.mu.Unlock()
	if ok {
		return bm, nil
	}
	bs := int64(im.params.BlockSize)
	n := bs / im.lss / 8
	sbi := (b/im.chunk)*(im.chunk+1) + im.chunk
	off := int64(im.bat[sbi]>>20)<<20 + (b%im.chunk)*n
	bm = make([]byte, n)
	if _, err := im.f.ReadAt(bm, off); err != nil {
		return nil, fmt.Errorf("vhdx: reading sector bitmap of block %d at 0x%x: %w", b, off, err)
	}
	im.mu.Lock()
	if im.bmBytes+len(bm) > maxBitmapCache {
		clear(im.bitmaps)
		im.bmBytes = 0
	}
	im.bitmaps[b] = bm
	im.bmBytes += len(bm)
	im.mu.Unlock()
	return bm, nil
}

// walk calls fn for consecutive runs covering [off, off+n), merging
// adjacent runs of one state (and, for data, contiguous in the file).
func (im *Image) walk(off, n int64, fn func(extent.Extent) error) error {
	if off < 0 || n < 0 || off > im.size || n > im.size-off {
		return fmt.Errorf("vhdx: range [%d, +%d) outside the %d-byte disk", off, n, im.size)
	}
	var cur extent.Extent
	have := false
	emit := func(e extent.Extent) error {
		if e.Length == 0 {
			return nil
		}
		if have && cur.State == e.State && cur.End() == e.Offset &&
			(e.State != extent.Data || cur.FileOffset+cur.Length == e.FileOffset) {
			cur.Length += e.Length
			return nil
		}
		if have {
			if err := fn(cur); err != nil {
				return err
			}
		}
		cur, have = e, true
		return nil
	}
	bs := int64(im.params.BlockSize)
	end := off + n
	for off < end {
		b := off / bs
		bstart := b * bs
		segEnd := min(end, bstart+bs)
		e := im.bat[b+b/im.chunk]
		fo := int64(e>>20) << 20
		var err error
		switch uint8(e & 7) {
		case PayloadBlockFullyPresent:
			err = emit(extent.Extent{Offset: off, Length: segEnd - off, State: extent.Data, FileOffset: fo + off - bstart})
		case PayloadBlockNotPresent:
			err = emit(extent.Extent{Offset: off, Length: segEnd - off, State: extent.Absent})
		case PayloadBlockPartiallyPresent:
			err = im.walkPartial(b, fo, off, segEnd, emit)
		default: // ZERO, UNMAPPED, UNDEFINED: zeros, the parent is not consulted
			err = emit(extent.Extent{Offset: off, Length: segEnd - off, State: extent.Zero})
		}
		if err != nil {
			return err
		}
		off = segEnd
	}
	if have {
		return fn(cur)
	}
	return nil
}

func (im *Image) walkPartial(b, fo, off, end int64, emit func(extent.Extent) error) error {
	bm, err := im.blockBitmap(b)
	if err != nil {
		return err
	}
	bstart := b * int64(im.params.BlockSize)
	s := (off - bstart) / im.lss
	last := (end - bstart - 1) / im.lss
	for s <= last {
		bit := bm[s>>3] >> (s & 7) & 1
		t := s + 1
		for t <= last {
			if t&7 == 0 && t+8 <= last+1 {
				if (bit == 1 && bm[t>>3] == 0xff) || (bit == 0 && bm[t>>3] == 0) {
					t += 8
					continue
				}
			}
			if bm[t>>3]>>(t&7)&1 != bit {
				break
			}
			t++
		}
		a, z := max(off, bstart+s*im.lss), min(end, bstart+t*im.lss)
		e := extent.Extent{Offset: a, Length: z - a, State: extent.Absent}
		if bit == 1 {
			e.State, e.FileOffset = extent.Data, fo+a-bstart
		}
		if err := emit(e); err != nil {
			return err
		}
		s = t
	}
	return nil
}

// Extents appends the extents covering [off, off+n) of the virtual disk
// (extent.Mapper).
func (im *Image) Extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	err := im.walk(off, n, func(e extent.Extent) error {
		dst = append(dst, e)
		return nil
	})
	return dst, err
}

// ReadAt reads the virtual disk. Absent ranges (no parent is consulted
// here) and zero ranges read as zeros.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhdx: negative offset %d", off)
	}
	if off >= im.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	var eof error
	if n > im.size-off {
		n = im.size - off
		eof = io.EOF
	}
	base := off
	err := im.walk(off, n, func(e extent.Extent) error {
		q := p[e.Offset-base : e.End()-base]
		if e.State != extent.Data {
			clear(q)
			return nil
		}
		_, err := im.f.ReadAt(q, e.FileOffset)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), eof
}

var _ extent.Mapper = (*Image)(nil)
