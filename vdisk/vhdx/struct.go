package vhdx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf16"
)

// ErrFormat is wrapped by every error that says the input is not (or no
// longer) a valid VHDX file.
var ErrFormat = errors.New("vhdx: invalid format")

func errf(format string, args ...any) error {
	return fmt.Errorf("vhdx: %s: %w", fmt.Sprintf(format, args...), ErrFormat)
}

const (
	kib = 1 << 10
	mib = 1 << 20

	// Layout of the 1 MiB header section (MS-VHDX 2.2).
	fileTypeOffset     = 0
	header1Offset      = 64 * kib
	header2Offset      = 128 * kib
	regionTable1Offset = 192 * kib
	regionTable2Offset = 256 * kib
	headerSectionSize  = 1 * mib

	headerSize      = 4 * kib
	regionTableSize = 64 * kib
	metadataTableSz = 64 * kib

	logSectorSize = 4 * kib

	maxRegionEntries   = 2047
	maxMetadataEntries = 2047
	maxMetadataItemLen = 1 * mib
	maxVirtualDiskSize = 64 << 40 // 64 TiB
	sectorBitmapSize   = 1 * mib
	sectorsPerBitmap   = 1 << 23
)

// Signatures.
var (
	sigFile     = []byte("vhdxfile")
	sigHeader   = []byte("head")
	sigRegion   = []byte("regi")
	sigMetadata = []byte("metadata")
	sigLogEntry = []byte("loge")
	sigZeroDesc = []byte("zero")
	sigDataDesc = []byte("desc")
	sigDataSect = []byte("data")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// GUID is a GUID in its on-disk (Microsoft, mixed-endian) byte order.
type GUID [16]byte

// String is the canonical lower-case form without braces.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
}

// IsZero reports whether every byte is zero.
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", with or without
// braces, in any case, into the on-disk byte order.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		t = t[1 : len(t)-1]
	}
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return g, fmt.Errorf("vhdx: %q is not a GUID", s)
	}
	hex := strings.ReplaceAll(t, "-", "")
	var raw [16]byte
	for i := 0; i < 16; i++ {
		hi, ok1 := unhex(hex[2*i])
		lo, ok2 := unhex(hex[2*i+1])
		if !ok1 || !ok2 {
			return g, fmt.Errorf("vhdx: %q is not a GUID", s)
		}
		raw[i] = hi<<4 | lo
	}
	// raw is big-endian text order; the first three fields are stored
	// little-endian.
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizeGUID returns s (any case, with or without braces) in the
// canonical lower-case form without braces.
func NormalizeGUID(s string) (string, error) {
	g, err := ParseGUID(s)
	if err != nil {
		return "", err
	}
	return g.String(), nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// Known region and metadata item GUIDs (MS-VHDX 2.2.3.2, 2.6.2).
var (
	RegionBAT      = mustGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	RegionMetadata = mustGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")

	ItemFileParameters     = mustGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	ItemVirtualDiskSize    = mustGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	ItemPage83Data         = mustGUID("BECA12AB-B2E6-4523-93EF-C309E000C746") // "Virtual Disk ID"
	ItemLogicalSectorSize  = mustGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	ItemPhysicalSectorSize = mustGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	ItemParentLocator      = mustGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")

	// LocatorTypeVHDX is the only parent locator type MS-VHDX defines.
	LocatorTypeVHDX = mustGUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")
)

// Header is one of the two 4 KiB headers (MS-VHDX 2.2.2).
type Header struct {
	Signature      [4]byte
	Checksum       uint32
	SequenceNumber uint64
	FileWriteGuid  GUID
	DataWriteGuid  GUID
	LogGuid        GUID
	LogVersion     uint16
	Version        uint16
	LogLength      uint32
	LogOffset      uint64
}

// parseHeader decodes and checks a 4 KiB header: signature and CRC-32C.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < headerSize {
		return h, errors.New("short header")
	}
	copy(h.Signature[:], b[0:4])
	if string(h.Signature[:]) != string(sigHeader) {
		return h, fmt.Errorf("signature %q, want \"head\"", h.Signature[:])
	}
	h.Checksum = binary.LittleEndian.Uint32(b[4:])
	if c := checksum(b[:headerSize], 4); c != h.Checksum {
		return h, fmt.Errorf("checksum 0x%08x, computed 0x%08x", h.Checksum, c)
	}
	h.SequenceNumber = binary.LittleEndian.Uint64(b[8:])
	copy(h.FileWriteGuid[:], b[16:32])
	copy(h.DataWriteGuid[:], b[32:48])
	copy(h.LogGuid[:], b[48:64])
	h.LogVersion = binary.LittleEndian.Uint16(b[64:])
	h.Version = binary.LittleEndian.Uint16(b[66:])
	h.LogLength = binary.LittleEndian.Uint32(b[68:])
	h.LogOffset = binary.LittleEndian.Uint64(b[72:])
	return h, nil
}

// checksum is the CRC-32C of b with the 4 bytes at off taken as zero.
func checksum(b []byte, off int) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, b[:off])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, b[off+4:])
}

// RegionTableEntry is an entry of the region table (MS-VHDX 2.2.3.2).
type RegionTableEntry struct {
	Guid       GUID
	FileOffset uint64
	Length     uint32
	Required   bool
}

// parseRegionTable decodes and checks a 64 KiB region table.
func parseRegionTable(b []byte) ([]RegionTableEntry, error) {
	if len(b) < regionTableSize {
		return nil, errors.New("short region table")
	}
	if string(b[0:4]) != string(sigRegion) {
		return nil, fmt.Errorf("signature %q, want \"regi\"", b[0:4])
	}
	if c, want := checksum(b[:regionTableSize], 4), binary.LittleEndian.Uint32(b[4:]); c != want {
		return nil, fmt.Errorf("checksum 0x%08x, computed 0x%08x", want, c)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if n > maxRegionEntries {
		return nil, fmt.Errorf("%d entries, at most %d allowed", n, maxRegionEntries)
	}
	out := make([]RegionTableEntry, 0, n)
	seen := make(map[GUID]bool, n)
	for i := 0; i < int(n); i++ {
		e := b[16+32*i:]
		var r RegionTableEntry
		copy(r.Guid[:], e[0:16])
		r.FileOffset = binary.LittleEndian.Uint64(e[16:])
		r.Length = binary.LittleEndian.Uint32(e[24:])
		r.Required = binary.LittleEndian.Uint32(e[28:])&1 != 0
		if seen[r.Guid] {
			return nil, fmt.Errorf("entry %d: region %s listed twice", i, r.Guid)
		}
		seen[r.Guid] = true
		if r.FileOffset%mib != 0 || r.FileOffset < mib {
			return nil, fmt.Errorf("entry %d (%s): offset 0x%x not a multiple of 1 MiB at or after 1 MiB", i, r.Guid, r.FileOffset)
		}
		if r.Length%mib != 0 {
			return nil, fmt.Errorf("entry %d (%s): length 0x%x not a multiple of 1 MiB", i, r.Guid, r.Length)
		}
		out = append(out, r)
	}
	return out, nil
}

// MetadataTableEntry is an entry of the metadata table (MS-VHDX 2.6.1.2).
type MetadataTableEntry struct {
	ItemID        GUID
	Offset        uint32
	Length        uint32
	IsUser        bool
	IsVirtualDisk bool
	IsRequired    bool
}

// parseMetadataTable decodes the 64 KiB metadata table at the start of the
// metadata region and checks every item lies inside the region.
func parseMetadataTable(b []byte, regionLen uint32) ([]MetadataTableEntry, error) {
	if len(b) < metadataTableSz {
		return nil, errors.New("short metadata table")
	}
	if string(b[0:8]) != string(sigMetadata) {
		return nil, fmt.Errorf("signature %q, want \"metadata\"", b[0:8])
	}
	n := binary.LittleEndian.Uint16(b[10:])
	if n > maxMetadataEntries {
		return nil, fmt.Errorf("%d entries, at most %d allowed", n, maxMetadataEntries)
	}
	out := make([]MetadataTableEntry, 0, n)
	type key struct {
		id   GUID
		user bool
	}
	seen := make(map[key]bool, n)
	for i := 0; i < int(n); i++ {
		e := b[32+32*i:]
		var m MetadataTableEntry
		copy(m.ItemID[:], e[0:16])
		m.Offset = binary.LittleEndian.Uint32(e[16:])
		m.Length = binary.LittleEndian.Uint32(e[20:])
		flags := binary.LittleEndian.Uint32(e[24:])
		m.IsUser = flags&1 != 0
		m.IsVirtualDisk = flags&2 != 0
		m.IsRequired = flags&4 != 0
		if seen[key{m.ItemID, m.IsUser}] {
			return nil, fmt.Errorf("entry %d: item %s listed twice", i, m.ItemID)
		}
		seen[key{m.ItemID, m.IsUser}] = true
		if m.Length == 0 {
			out = append(out, m)
			continue
		}
		if m.Length > maxMetadataItemLen {
			return nil, fmt.Errorf("entry %d (%s): length %d over 1 MiB", i, m.ItemID, m.Length)
		}
		if m.Offset < metadataTableSz {
			return nil, fmt.Errorf("entry %d (%s): offset 0x%x inside the metadata table", i, m.ItemID, m.Offset)
		}
		if uint64(m.Offset)+uint64(m.Length) > uint64(regionLen) {
			return nil, fmt.Errorf("entry %d (%s): item [0x%x, +%d) beyond the metadata region of %d bytes", i, m.ItemID, m.Offset, m.Length, regionLen)
		}
		out = append(out, m)
	}
	return out, nil
}

// FileParameters is the File Parameters metadata item (MS-VHDX 2.6.2.1).
type FileParameters struct {
	BlockSize           uint32
	LeaveBlockAllocated bool
	HasParent           bool
}

func parseFileParameters(b []byte) (FileParameters, error) {
	var p FileParameters
	if len(b) < 8 {
		return p, fmt.Errorf("file parameters: %d bytes, want 8", len(b))
	}
	p.BlockSize = binary.LittleEndian.Uint32(b)
	f := binary.LittleEndian.Uint32(b[4:])
	p.LeaveBlockAllocated = f&1 != 0
	p.HasParent = f&2 != 0
	if p.BlockSize < mib || p.BlockSize > 256*mib || p.BlockSize&(p.BlockSize-1) != 0 {
		return p, fmt.Errorf("file parameters: block size %d is not a power of two between 1 MiB and 256 MiB", p.BlockSize)
	}
	return p, nil
}

// ParentLocator is the Parent Locator metadata item (MS-VHDX 2.6.2.6).
type ParentLocator struct {
	LocatorType GUID
	Entries     map[string]string
	Keys        []string // in stored order
}

func parseParentLocator(b []byte) (ParentLocator, []string, error) {
	var p ParentLocator
	var warn []string
	if len(b) < 20 {
		return p, nil, fmt.Errorf("parent locator: %d bytes, shorter than its 20-byte header", len(b))
	}
	copy(p.LocatorType[:], b[0:16])
	n := int(binary.LittleEndian.Uint16(b[18:]))
	if 20+12*n > len(b) {
		return p, nil, fmt.Errorf("parent locator: %d entries do not fit in %d bytes", n, len(b))
	}
	p.Entries = make(map[string]string, n)
	for i := 0; i < n; i++ {
		e := b[20+12*i:]
		ko := binary.LittleEndian.Uint32(e[0:])
		vo := binary.LittleEndian.Uint32(e[4:])
		kl := binary.LittleEndian.Uint16(e[8:])
		vl := binary.LittleEndian.Uint16(e[10:])
		if ko == 0 || vo == 0 || kl == 0 || vl == 0 || kl%2 != 0 || vl%2 != 0 {
			return p, nil, fmt.Errorf("parent locator entry %d: bad key/value offset or length (key %d+%d, value %d+%d)", i, ko, kl, vo, vl)
		}
		if uint64(ko)+uint64(kl) > uint64(len(b)) || uint64(vo)+uint64(vl) > uint64(len(b)) {
			return p, nil, fmt.Errorf("parent locator entry %d: key or value beyond the item's %d bytes", i, len(b))
		}
		k := utf16le(b[ko : ko+uint32(kl)])
		v := utf16le(b[vo : vo+uint32(vl)])
		if _, dup := p.Entries[k]; dup {
			warn = append(warn, fmt.Sprintf("parent locator: key %q repeated; the first is used", k))
			continue
		}
		p.Entries[k] = v
		p.Keys = append(p.Keys, k)
	}
	return p, warn, nil
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Payload block states (MS-VHDX 2.5.1.1) and sector bitmap states (2.5.1.2).
const (
	PayloadBlockNotPresent       = 0
	PayloadBlockUndefined        = 1
	PayloadBlockZero             = 2
	PayloadBlockUnmapped         = 3
	PayloadBlockFullyPresent     = 6
	PayloadBlockPartiallyPresent = 7

	SBBlockNotPresent = 0
	SBBlockPresent    = 6
)

// StateName names a payload block state as the specification does.
func StateName(s uint8) string {
	switch s {
	case PayloadBlockNotPresent:
		return "NOT_PRESENT"
	case PayloadBlockUndefined:
		return "UNDEFINED"
	case PayloadBlockZero:
		return "ZERO"
	case PayloadBlockUnmapped:
		return "UNMAPPED"
	case PayloadBlockFullyPresent:
		return "FULLY_PRESENT"
	case PayloadBlockPartiallyPresent:
		return "PARTIALLY_PRESENT"
	}
	return fmt.Sprintf("reserved state %d", s)
}
