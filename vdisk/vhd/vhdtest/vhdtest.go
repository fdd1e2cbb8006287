// Package vhdtest crafts VHD images for tests, byte by byte from Microsoft's
// "Virtual Hard Disk Image Format Specification" (2006): dynamic disks and
// differencing disks over a given parent, with their footers (and the copy
// at offset 0), dynamic headers, BATs, sector bitmaps, parent locators and
// checksums. It is written independently of package vhd (it shares none of
// its code), so that tests of one check the other; where an independent
// reader exists (libvhdi), tests check the crafted files with it too.
package vhdtest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"
)

// Disk types of the footer.
const (
	TypeFixed        = 2
	TypeDynamic      = 3
	TypeDifferencing = 4
)

const sector = 512

// Write is a sector-aligned run of bytes the image holds at Offset of the
// virtual disk.
type Write struct {
	Offset int64
	Data   []byte
}

// Locator is one parent locator entry and its data, written as given.
type Locator struct {
	Code string // four characters: "W2ku", "W2ru", "Wi2k", "MacX", …
	Data []byte
}

// Spec describes an image to craft.
type Spec struct {
	Type        uint32 // TypeDynamic or TypeDifferencing
	VirtualSize int64  // footer Current Size
	BlockSize   int64  // a power of two, at least 512
	Writes      []Write

	UniqueID        [16]byte // zero: derived from the content
	TimeStamp       uint32   // footer Time Stamp
	Creator         string   // footer Creator Application, 4 bytes ("win " if empty, so that qemu sizes it by Current Size as Hyper-V does)
	ParentUniqueID  [16]byte
	ParentTimeStamp uint32
	ParentName      string // Parent Unicode Name
	Locators        []Locator
}

// Encode lays out the image in memory: footer copy at 0, dynamic header at
// 512, BAT at 1536, the locators' data, the blocks in disk order, the
// footer.
func Encode(s Spec) ([]byte, error) {
	bs := s.BlockSize
	if bs < sector || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("vhdtest: block size %d is not a power of two >= 512", bs)
	}
	if s.VirtualSize <= 0 || s.VirtualSize%sector != 0 {
		return nil, fmt.Errorf("vhdtest: virtual size %d is not a positive multiple of 512", s.VirtualSize)
	}
	if s.Type != TypeDynamic && s.Type != TypeDifferencing {
		return nil, fmt.Errorf("vhdtest: disk type %d: only dynamic and differencing disks", s.Type)
	}
	for _, w := range s.Writes {
		if w.Offset < 0 || w.Offset%sector != 0 || len(w.Data)%sector != 0 || w.Offset+int64(len(w.Data)) > s.VirtualSize {
			return nil, fmt.Errorf("vhdtest: write [%d, +%d) is not sector-aligned within the disk", w.Offset, len(w.Data))
		}
	}
	entries := (s.VirtualSize + bs - 1) / bs
	spb := bs / sector
	bitmapLen := roundUp((spb+7)/8, sector)
	batLen := roundUp(entries*4, sector)

	// Which blocks are written, and which sectors of them.
	blocks := map[int64][]byte{} // block -> bitmap
	for _, w := range s.Writes {
		for off := w.Offset; off < w.Offset+int64(len(w.Data)); off += sector {
			bi, si := off/bs, (off%bs)/sector
			bm := blocks[bi]
			if bm == nil {
				bm = make([]byte, bitmapLen)
				blocks[bi] = bm
			}
			bm[si/8] |= 0x80 >> (si % 8)
		}
	}
	order := make([]int64, 0, len(blocks))
	for bi := range blocks {
		order = append(order, bi)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })

	pos := int64(sector + 1024 + batLen)
	locOff := make([]int64, len(s.Locators))
	for i, l := range s.Locators {
		locOff[i] = pos
		pos += roundUp(int64(max(len(l.Data), 1)), sector)
	}
	blockOff := map[int64]int64{}
	for _, bi := range order {
		blockOff[bi] = pos
		pos += bitmapLen + bs
	}
	img := make([]byte, pos+sector)
	be := binary.BigEndian

	// BAT
	bat := img[sector+1024:]
	for i := int64(0); i < batLen/4; i++ {
		be.PutUint32(bat[i*4:], 0xFFFFFFFF)
	}
	for bi, off := range blockOff {
		be.PutUint32(bat[bi*4:], uint32(off/sector))
		copy(img[off:], blocks[bi])
	}
	for _, w := range s.Writes {
		for i := int64(0); i < int64(len(w.Data)); i += sector {
			v := w.Offset + i
			copy(img[blockOff[v/bs]+bitmapLen+v%bs:], w.Data[i:i+sector])
		}
	}
	for i, l := range s.Locators {
		copy(img[locOff[i]:], l.Data)
	}

	// Dynamic disk header
	h := img[sector : sector+1024]
	copy(h[0:], "cxsparse")
	be.PutUint64(h[8:], 0xFFFFFFFFFFFFFFFF)
	be.PutUint64(h[16:], sector+1024)
	be.PutUint32(h[24:], 0x00010000)
	be.PutUint32(h[28:], uint32(entries))
	be.PutUint32(h[32:], uint32(bs))
	copy(h[40:56], s.ParentUniqueID[:])
	be.PutUint32(h[56:], s.ParentTimeStamp)
	name := utf16.Encode([]rune(s.ParentName))
	if len(name) > 256 {
		return nil, fmt.Errorf("vhdtest: parent name longer than 256 UTF-16 units")
	}
	for i, c := range name {
		be.PutUint16(h[64+2*i:], c)
	}
	if len(s.Locators) > 8 {
		return nil, fmt.Errorf("vhdtest: more than 8 parent locators")
	}
	for i, l := range s.Locators {
		e := h[576+24*i:]
		copy(e[0:4], l.Code)
		be.PutUint32(e[4:], uint32(roundUp(int64(max(len(l.Data), 1)), sector)/sector))
		be.PutUint32(e[8:], uint32(len(l.Data)))
		be.PutUint64(e[16:], uint64(locOff[i]))
	}
	be.PutUint32(h[36:], checksum(h, 36))

	// Footer, and its copy at offset 0
	f := img[pos : pos+sector]
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)
	be.PutUint32(f[12:], 0x00010000)
	be.PutUint64(f[16:], sector)
	be.PutUint32(f[24:], s.TimeStamp)
	creator := s.Creator
	if creator == "" {
		creator = "win "
	}
	copy(f[28:32], creator)
	be.PutUint32(f[32:], 0x00010000)
	copy(f[36:40], "Wi2k")
	be.PutUint64(f[40:], uint64(s.VirtualSize))
	be.PutUint64(f[48:], uint64(s.VirtualSize))
	c, hd, spt := Geometry(s.VirtualSize)
	be.PutUint16(f[56:], c)
	f[58], f[59] = hd, spt
	be.PutUint32(f[60:], s.Type)
	id := s.UniqueID
	if id == ([16]byte{}) {
		sum := sha256.Sum256(img)
		copy(id[:], sum[:16])
		id[6] = id[6]&0x0F | 0x40 // a version 4 UUID
		id[8] = id[8]&0x3F | 0x80
	}
	copy(f[68:84], id[:])
	be.PutUint32(f[64:], checksum(f, 64))
	copy(img[0:sector], f)
	return img, nil
}

// checksum is the one's complement of the byte sum, the 4-byte checksum
// field at at excluded.
func checksum(b []byte, at int) uint32 {
	var s uint32
	for i, c := range b {
		if i < at || i >= at+4 {
			s += uint32(c)
		}
	}
	return ^s
}

// Geometry is the specification's CHS calculation (its appendix) for a disk
// of size bytes.
func Geometry(size int64) (cylinders uint16, heads, sectorsPerTrack uint8) {
	total := size / sector
	if total > 65535*16*255 {
		total = 65535 * 16 * 255
	}
	var spt, hd, cth int64
	if total >= 65535*16*63 {
		spt, hd = 255, 16
		cth = total / spt
	} else {
		spt = 17
		cth = total / spt
		hd = (cth + 1023) / 1024
		if hd < 4 {
			hd = 4
		}
		if cth >= hd*1024 || hd > 16 {
			spt, hd = 31, 16
			cth = total / spt
		}
		if cth >= hd*1024 {
			spt, hd = 63, 16
			cth = total / spt
		}
	}
	return uint16(cth / hd), uint8(hd), uint8(spt)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// UTF16LE encodes s as UTF-16LE, as W2ku and W2ru locators hold paths.
func UTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// WriteDynamic writes a dynamic VHD holding writes (every other range
// unallocated).
func WriteDynamic(path string, virtualSize, blockSize int64, writes []Write) error {
	img, err := Encode(Spec{Type: TypeDynamic, VirtualSize: virtualSize, BlockSize: blockSize, Writes: writes})
	if err != nil {
		return err
	}
	return os.WriteFile(path, img, 0o644)
}

// WindowsPaths are the parent paths WriteDifferencing records: the absolute
// one ("C:" and the parent's absolute path with backslashes, as Windows
// would name it on drive C:) and the one relative to the child's folder
// (".\base.vhd").
func WindowsPaths(childPath, parentPath string) (absolute, relative string, err error) {
	ap, err := filepath.Abs(parentPath)
	if err != nil {
		return "", "", err
	}
	ac, err := filepath.Abs(childPath)
	if err != nil {
		return "", "", err
	}
	rel, err := filepath.Rel(filepath.Dir(ac), ap)
	if err != nil {
		return "", "", err
	}
	rel = strings.ReplaceAll(filepath.ToSlash(rel), "/", `\`)
	if !strings.HasPrefix(rel, `..\`) {
		rel = `.\` + rel
	}
	ap = filepath.ToSlash(ap)
	if len(ap) < 2 || ap[1] != ':' {
		ap = "C:" + ap
	}
	return strings.ReplaceAll(ap, "/", `\`), rel, nil
}

// WriteDifferencing writes a differencing VHD over parentPath holding
// writes: sector bitmaps set for the written sectors only, W2ku and W2ru
// locators naming the parent (see WindowsPaths), the parent's absolute
// Windows path as Parent Unicode Name, parentUniqueID and, when the parent
// is a VHD, its footer time stamp as Parent Time Stamp.
func WriteDifferencing(path string, parentPath string, parentUniqueID [16]byte, virtualSize int64, blockSize int64, writes []Write) error {
	abs, rel, err := WindowsPaths(path, parentPath)
	if err != nil {
		return err
	}
	var ts uint32
	if f, err := os.Open(parentPath); err == nil {
		var foot [sector]byte
		if st, err := f.Stat(); err == nil && st.Size() >= sector {
			if _, err := f.ReadAt(foot[:], st.Size()-sector); err == nil && string(foot[:8]) == "conectix" {
				ts = binary.BigEndian.Uint32(foot[24:])
			}
		}
		f.Close()
	}
	img, err := Encode(Spec{
		Type: TypeDifferencing, VirtualSize: virtualSize, BlockSize: blockSize, Writes: writes,
		ParentUniqueID: parentUniqueID, ParentTimeStamp: ts, ParentName: abs,
		Locators: []Locator{{Code: "W2ku", Data: UTF16LE(abs)}, {Code: "W2ru", Data: UTF16LE(rel)}},
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, img, 0o644)
}

// Overlay is the content a differencing disk over base holds: base (cut or
// padded with zeros to size) with the writes applied in order.
func Overlay(base []byte, size int64, writes []Write) []byte {
	out := make([]byte, size)
	copy(out, base)
	for _, w := range writes {
		copy(out[w.Offset:], w.Data)
	}
	return out
}

// EncodeFixed makes a fixed VHD of data (a whole number of sectors)
// followed by its footer, with the given creator ("win " if empty).
func EncodeFixed(data []byte, creator string) ([]byte, error) {
	if len(data) == 0 || len(data)%sector != 0 {
		return nil, fmt.Errorf("vhdtest: fixed disk data of %d bytes is not a positive multiple of 512", len(data))
	}
	img := make([]byte, len(data)+sector)
	copy(img, data)
	f := img[len(data):]
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)
	be.PutUint32(f[12:], 0x00010000)
	be.PutUint64(f[16:], 0xFFFFFFFFFFFFFFFF)
	if creator == "" {
		creator = "win "
	}
	copy(f[28:32], creator)
	be.PutUint32(f[32:], 0x00010000)
	copy(f[36:40], "Wi2k")
	be.PutUint64(f[40:], uint64(len(data)))
	be.PutUint64(f[48:], uint64(len(data)))
	c, hd, spt := Geometry(int64(len(data)))
	be.PutUint16(f[56:], c)
	f[58], f[59] = hd, spt
	be.PutUint32(f[60:], TypeFixed)
	sum := sha256.Sum256(data)
	copy(f[68:84], sum[:16])
	f[68+6] = f[68+6]&0x0F | 0x40
	f[68+8] = f[68+8]&0x3F | 0x80
	be.PutUint32(f[64:], checksum(f, 64))
	return img, nil
}
