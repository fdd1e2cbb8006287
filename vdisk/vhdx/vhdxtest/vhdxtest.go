// Package vhdxtest crafts VHDX files for tests, written from the MS-VHDX
// specification independently of the vhdx reader: dynamic and fixed disks
// with 512- or 4096-byte logical sectors, differencing disks over a parent
// (with sector bitmaps and a parent locator), and dirty logs appended to a
// clean image. qemu cannot make differencing VHDX, 4096-byte logical
// sectors or un-replayed logs; these helpers do.
package vhdxtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"unicode/utf16"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write is a sector-aligned write to the virtual disk.
type Write struct {
	Offset int64
	Data   []byte
}

// Block states (MS-VHDX 2.5.1.1).
const (
	NotPresent       = 0
	Undefined        = 1
	Zero             = 2
	Unmapped         = 3
	FullyPresent     = 6
	PartiallyPresent = 7
)

// Parent describes the parent of a differencing disk.
type Parent struct {
	Linkage string            // parent_linkage value as stored, e.g. "{xxxxxxxx-…}"
	Entries map[string]string // other locator entries (relative_path, …)
}

// Spec describes an image to craft.
type Spec struct {
	VirtualSize        int64
	LogicalSectorSize  int   // 512 or 4096
	PhysicalSectorSize int   // 0: 4096
	BlockSize          int64 // power of two, 1–256 MiB
	Fixed              bool  // LeaveBlockAllocated and every block allocated
	Parent             *Parent
	Writes             []Write
	// States forces the state of blocks no write touches (ZERO, UNMAPPED,
	// UNDEFINED, NOT_PRESENT).
	States        map[int64]uint8
	LogLength     int64  // default 1 MiB
	Seed          string // makes the GUIDs; default: derived from the spec
	DataWriteGUID string // optional, "xxxxxxxx-…"
}

// Layout says where Build put things.
type Layout struct {
	LogOffset, LogLength int64
	MetadataOffset       int64
	BATOffset            int64
	BATLength            int64
	ChunkRatio           int64
	Blocks               map[int64]int64 // payload block → file offset
	Bitmaps              map[int64]int64 // chunk → sector bitmap file offset
	FileSize             int64
	DataWriteGUID        string
	FileWriteGUID        string
}

func guidBytes(s string) ([16]byte, error) {
	var g [16]byte
	t := strings.Trim(strings.TrimSpace(s), "{}")
	t = strings.ReplaceAll(t, "-", "")
	if len(t) != 32 {
		return g, fmt.Errorf("vhdxtest: bad GUID %q", s)
	}
	raw, err := hex.DecodeString(t)
	if err != nil || len(raw) != 16 {
		return g, fmt.Errorf("vhdxtest: bad GUID %q", s)
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5], g[6], g[7] = raw[5], raw[4], raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

func guidString(g [16]byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

func seededGUID(seed, what string) [16]byte {
	s := sha256.Sum256([]byte(seed + "/" + what))
	var g [16]byte
	copy(g[:], s[:16])
	g[7] = g[7]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func crc(b []byte, at int) uint32 {
	binary.LittleEndian.PutUint32(b[at:], 0)
	c := crc32.Checksum(b, castagnoli)
	binary.LittleEndian.PutUint32(b[at:], c)
	return c
}

func utf16bytes(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func alignUp(v, a int64) int64 { return (v + a - 1) / a * a }

// Build writes the image described by s to path.
func Build(path string, s Spec) (Layout, error) {
	var lay Layout
	lss := int64(s.LogicalSectorSize)
	if lss != 512 && lss != 4096 {
		return lay, fmt.Errorf("vhdxtest: logical sector size %d", lss)
	}
	pss := int64(s.PhysicalSectorSize)
	if pss == 0 {
		pss = 4096
	}
	bs := s.BlockSize
	if s.VirtualSize <= 0 || s.VirtualSize%lss != 0 || bs < mib || bs > 256*mib || bs&(bs-1) != 0 {
		return lay, fmt.Errorf("vhdxtest: bad size %d or block size %d", s.VirtualSize, bs)
	}
	seed := s.Seed
	if seed == "" {
		seed = fmt.Sprintf("%s|%d|%d|%d|%d", path, s.VirtualSize, lss, bs, len(s.Writes))
	}
	diff := s.Parent != nil
	chunk := (int64(1) << 23) * lss / bs
	nBlocks := (s.VirtualSize + bs - 1) / bs
	nSB := (nBlocks + chunk - 1) / chunk
	var nEntries int64
	if diff {
		nEntries = nSB * (chunk + 1)
	} else {
		nEntries = nBlocks + (nBlocks-1)/chunk
	}
	logLen := s.LogLength
	if logLen == 0 {
		logLen = mib
	}
	lay.LogOffset, lay.LogLength = mib, logLen
	lay.MetadataOffset = mib + logLen
	lay.BATOffset = lay.MetadataOffset + mib
	lay.BATLength = alignUp(nEntries*8, mib)
	lay.ChunkRatio = chunk
	next := lay.BATOffset + lay.BATLength
	lay.Blocks = map[int64]int64{}
	lay.Bitmaps = map[int64]int64{}

	// Which sectors of which blocks are written.
	secPerBlock := bs / lss
	written := map[int64][]bool{}
	for _, w := range s.Writes {
		if w.Offset%lss != 0 || int64(len(w.Data))%lss != 0 || w.Offset < 0 || w.Offset+int64(len(w.Data)) > s.VirtualSize {
			return lay, fmt.Errorf("vhdxtest: write [%d, +%d) not sector aligned inside the disk", w.Offset, len(w.Data))
		}
		for o := w.Offset; o < w.Offset+int64(len(w.Data)); o += lss {
			b := o / bs
			if written[b] == nil {
				written[b] = make([]bool, secPerBlock)
			}
			written[b][(o-b*bs)/lss] = true
		}
	}
	states := make([]uint8, nBlocks)
	for b := int64(0); b < nBlocks; b++ {
		st, ok := s.States[b]
		if !ok {
			st = NotPresent
		}
		if s.Fixed {
			st = FullyPresent
		}
		if w := written[b]; w != nil {
			st = FullyPresent
			if diff {
				blockSecs := min(secPerBlock, (s.VirtualSize-b*bs)/lss)
				for i := int64(0); i < blockSecs; i++ {
					if !w[i] {
						st = PartiallyPresent
						break
					}
				}
			}
		}
		states[b] = st
		if st == PartiallyPresent {
			c := b / chunk
			if _, ok := lay.Bitmaps[c]; !ok {
				lay.Bitmaps[c] = next
				next += mib
			}
		}
	}
	for b := int64(0); b < nBlocks; b++ {
		if states[b] == FullyPresent || states[b] == PartiallyPresent {
			lay.Blocks[b] = next
			next += bs
		}
	}
	lay.FileSize = next

	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return lay, err
	}
	defer f.Close()
	if err := f.Truncate(lay.FileSize); err != nil {
		return lay, err
	}
	put := func(b []byte, off int64) {
		if err == nil {
			_, err = f.WriteAt(b, off)
		}
	}

	// File type identifier.
	fti := make([]byte, 64*kib)
	copy(fti, "vhdxfile")
	copy(fti[8:], utf16bytes("grain vhdxtest"))
	put(fti, 0)

	// Headers.
	dw := seededGUID(seed, "data")
	if s.DataWriteGUID != "" {
		if dw, err = guidBytes(s.DataWriteGUID); err != nil {
			return lay, err
		}
	}
	fw := seededGUID(seed, "file")
	lay.DataWriteGUID, lay.FileWriteGUID = guidString(dw), guidString(fw)
	for i, off := range []int64{64 * kib, 128 * kib} {
		h := make([]byte, 4*kib)
		copy(h, "head")
		binary.LittleEndian.PutUint64(h[8:], uint64(i+1))
		copy(h[16:], fw[:])
		copy(h[32:], dw[:])
		binary.LittleEndian.PutUint16(h[66:], 1)
		binary.LittleEndian.PutUint32(h[68:], uint32(logLen))
		binary.LittleEndian.PutUint64(h[72:], uint64(lay.LogOffset))
		crc(h, 4)
		put(h, off)
	}

	// Region tables.
	rt := make([]byte, 64*kib)
	copy(rt, "regi")
	binary.LittleEndian.PutUint32(rt[8:], 2)
	batG, _ := guidBytes("2DC27766-F623-4200-9D64-115E9BFD4A08")
	metaG, _ := guidBytes("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	e := rt[16:]
	copy(e, batG[:])
	binary.LittleEndian.PutUint64(e[16:], uint64(lay.BATOffset))
	binary.LittleEndian.PutUint32(e[24:], uint32(lay.BATLength))
	binary.LittleEndian.PutUint32(e[28:], 1)
	e = rt[48:]
	copy(e, metaG[:])
	binary.LittleEndian.PutUint64(e[16:], uint64(lay.MetadataOffset))
	binary.LittleEndian.PutUint32(e[24:], mib)
	binary.LittleEndian.PutUint32(e[28:], 1)
	crc(rt, 4)
	put(rt, 192*kib)
	put(rt, 256*kib)

	// Metadata region.
	md := make([]byte, mib)
	copy(md, "metadata")
	type item struct {
		guid  string
		flags uint32
		data  []byte
	}
	fp := make([]byte, 8)
	binary.LittleEndian.PutUint32(fp, uint32(bs))
	var fpFlags uint32
	if s.Fixed {
		fpFlags |= 1
	}
	if diff {
		fpFlags |= 2
	}
	binary.LittleEndian.PutUint32(fp[4:], fpFlags)
	vds := binary.LittleEndian.AppendUint64(nil, uint64(s.VirtualSize))
	p83 := seededGUID(seed, "page83")
	items := []item{
		{"CAA16737-FA36-4D43-B3B6-33F0AA44E76B", 4, fp},
		{"2FA54224-CD1B-4876-B211-5DBED83BF4B8", 6, vds},
		{"BECA12AB-B2E6-4523-93EF-C309E000C746", 6, p83[:]},
		{"8141BF1D-A96F-4709-BA47-F233A8FAAB5F", 6, binary.LittleEndian.AppendUint32(nil, uint32(lss))},
		{"CDA348C7-445D-4471-9CC9-E9885251C556", 6, binary.LittleEndian.AppendUint32(nil, uint32(pss))},
	}
	if diff {
		items = append(items, item{"A8D35F2D-B30B-454D-ABF7-D3D84834AB0C", 4, parentLocator(s.Parent)})
	}
	binary.LittleEndian.PutUint16(md[10:], uint16(len(items)))
	pos := 64 * kib
	for i, it := range items {
		g, _ := guidBytes(it.guid)
		e := md[32+32*i:]
		copy(e, g[:])
		binary.LittleEndian.PutUint32(e[16:], uint32(pos))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(it.data)))
		binary.LittleEndian.PutUint32(e[24:], it.flags)
		copy(md[pos:], it.data)
		pos += len(it.data)
	}
	put(md, lay.MetadataOffset)

	// BAT.
	bat := make([]byte, lay.BATLength)
	for b := int64(0); b < nBlocks; b++ {
		v := uint64(states[b])
		if off, ok := lay.Blocks[b]; ok {
			v |= uint64(off>>20) << 20
		}
		binary.LittleEndian.PutUint64(bat[8*(b+b/chunk):], v)
	}
	for c, off := range lay.Bitmaps {
		binary.LittleEndian.PutUint64(bat[8*(c*(chunk+1)+chunk):], 6|uint64(off>>20)<<20)
	}
	put(bat, lay.BATOffset)

	// Sector bitmaps.
	for c, off := range lay.Bitmaps {
		bm := make([]byte, mib)
		for b := c * chunk; b < min(nBlocks, (c+1)*chunk); b++ {
			if states[b] != PartiallyPresent {
				continue
			}
			for i, w := range written[b] {
				if w {
					n := (b-c*chunk)*secPerBlock + int64(i)
					bm[n/8] |= 1 << (n % 8)
				}
			}
		}
		put(bm, off)
	}

	// Payload.
	for _, w := range s.Writes {
		for o := int64(0); o < int64(len(w.Data)); {
			v := w.Offset + o
			b := v / bs
			n := min(int64(len(w.Data))-o, (b+1)*bs-v)
			put(w.Data[o:o+n], lay.Blocks[b]+v-b*bs)
			o += n
		}
	}
	return lay, err
}

func parentLocator(p *Parent) []byte {
	keys := []string{"parent_linkage"}
	vals := []string{p.Linkage}
	order := []string{"parent_linkage2", "relative_path", "volume_path", "absolute_win32_path"}
	seen := map[string]bool{}
	for _, k := range order {
		if v, ok := p.Entries[k]; ok {
			keys, vals = append(keys, k), append(vals, v)
			seen[k] = true
		}
	}
	for k, v := range p.Entries {
		if !seen[k] && k != "parent_linkage" {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	n := len(keys)
	b := make([]byte, 20+12*n)
	lt, _ := guidBytes("B04AEFB7-D19E-4A81-B789-25B8E9445913")
	copy(b, lt[:])
	binary.LittleEndian.PutUint16(b[18:], uint16(n))
	for i := range keys {
		k, v := utf16bytes(keys[i]), utf16bytes(vals[i])
		e := b[20+12*i:]
		binary.LittleEndian.PutUint32(e[0:], uint32(len(b)))
		binary.LittleEndian.PutUint16(e[8:], uint16(len(k)))
		b = append(b, k...)
		e = b[20+12*i:]
		binary.LittleEndian.PutUint32(e[4:], uint32(len(b)))
		binary.LittleEndian.PutUint16(e[10:], uint16(len(v)))
		b = append(b, v...)
	}
	return b
}

// WriteDynamic crafts a dynamic VHDX holding writes.
func WriteDynamic(path string, virtualSize int64, logicalSectorSize int, blockSize int64, writes []Write) error {
	_, err := Build(path, Spec{VirtualSize: virtualSize, LogicalSectorSize: logicalSectorSize, BlockSize: blockSize, Writes: writes})
	return err
}

// WriteDifferencing crafts a differencing VHDX over parentPath whose
// parent_linkage is parentDataWriteGUID (stored lower case in braces),
// holding writes as FULLY_PRESENT or PARTIALLY_PRESENT blocks. Its parent
// locator also has relative_path .\<parent file name>,
// absolute_win32_path C:\VMs\<name> and a volume_path.
func WriteDifferencing(path, parentPath string, parentDataWriteGUID string, virtualSize int64, logicalSectorSize int, blockSize int64, writes []Write) error {
	g, err := guidBytes(parentDataWriteGUID)
	if err != nil {
		return err
	}
	name := parentPath
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	_, err = Build(path, Spec{
		VirtualSize: virtualSize, LogicalSectorSize: logicalSectorSize, BlockSize: blockSize, Writes: writes,
		Parent: &Parent{Linkage: "{" + guidString(g) + "}", Entries: map[string]string{
			"relative_path":       `.\` + name,
			"absolute_win32_path": `C:\VMs\` + name,
			"volume_path":         `\\?\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\VMs\` + name,
		}},
	})
	return err
}
