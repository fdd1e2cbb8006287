package vhd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/vdisk/extent"
)

// maxVirtualSize bounds the footer's Current Size: 2^32 blocks of the
// largest block size.
const maxVirtualSize = 1 << 60

// Image is an opened VHD file: fixed, dynamic or differencing. It reads
// the virtual disk this file defines; a differencing image's parent is
// stacked by the caller (package vdisk) through Extents. An Image is safe
// for concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize int64

	footer   Footer
	header   *DynamicHeader // nil for fixed disks
	size     int64          // virtual disk size
	warnings []string

	// dynamic and differencing disks
	blockSize  int64
	bitmapSize int64    // bytes of the sector bitmap on disk (a whole number of sectors)
	bat        []uint32 // the BAT entries that cover the virtual disk
	locators   []ParentLocator
	parentName string

	bitmaps bitmapCache
}

var _ extent.Mapper = (*Image)(nil)

// NewImage opens the VHD held by r, a file of size bytes. It checks the
// footer (falling back to the copy at offset 0 of a dynamic or
// differencing disk when the one at the end is damaged), the dynamic
// header, the BAT and the parent locators against the file size.
func NewImage(r io.ReaderAt, size int64) (*Image, error) {
	im := &Image{r: r, fileSize: size}
	footerLen, err := im.readFooter()
	if err != nil {
		return nil, err
	}
	f := &im.footer
	if f.CurrentSize > maxVirtualSize {
		return nil, fmt.Errorf("vhd: footer: current size %d exceeds %d: %w", f.CurrentSize, int64(maxVirtualSize), ErrFormat)
	}
	im.size = int64(f.CurrentSize)
	switch f.DiskType {
	case Fixed:
		if dataEnd := size - int64(footerLen); im.size > dataEnd {
			return nil, fmt.Errorf("vhd: fixed disk: current size %d exceeds the %d bytes before the footer (truncated file?): %w", im.size, dataEnd, ErrFormat)
		}
		return im, nil
	case Dynamic, Differencing:
		if err := im.openDynamic(); err != nil {
			return nil, err
		}
		return im, nil
	}
	return nil, fmt.Errorf("vhd: footer: unsupported disk type %d: %w", uint32(f.DiskType), ErrFormat)
}

// readFooter finds and parses the footer and returns its length on disk.
func (im *Image) readFooter() (int, error) {
	size := im.fileSize
	if size < OldFooterSize {
		return 0, fmt.Errorf("vhd: file of %d bytes is too small for a footer: %w", size, ErrFormat)
	}
	var buf [FooterSize]byte
	var tailErr error
	if size >= FooterSize {
		if err := readFull(im.r, buf[:], size-FooterSize); err != nil {
			return 0, fmt.Errorf("vhd: reading footer: %w", err)
		}
		f, err := ParseFooter(buf[:])
		if err == nil {
			im.footer = f
			im.checkFooterCopy(buf[:])
			return FooterSize, nil
		}
		tailErr = err
	}
	// Before Virtual PC 2004, footers were 511 bytes long.
	if err := readFull(im.r, buf[:OldFooterSize], size-OldFooterSize); err != nil {
		return 0, fmt.Errorf("vhd: reading footer: %w", err)
	}
	if string(buf[:8]) == FooterCookie {
		f, err := ParseFooter(buf[:OldFooterSize])
		if err == nil {
			if f.DiskType == Fixed {
				im.footer = f
				return OldFooterSize, nil
			}
		} else {
			tailErr = err
		}
	}
	if tailErr == nil {
		tailErr = fmt.Errorf("vhd: footer: no %q cookie at the end of the file: %w", FooterCookie, ErrFormat)
	}
	// A dynamic or differencing disk keeps a copy at offset 0.
	if size >= FooterSize+DynamicHeaderSize {
		if err := readFull(im.r, buf[:], 0); err != nil {
			return 0, fmt.Errorf("vhd: reading footer copy: %w", err)
		}
		if f, err := ParseFooter(buf[:]); err == nil && (f.DiskType == Dynamic || f.DiskType == Differencing) {
			im.footer = f
			what := "footer damaged"
			if string(buf[:8]) == FooterCookie {
				var tail [8]byte
				if readFull(im.r, tail[:], size-FooterSize) == nil && string(tail[:]) == FooterCookie {
					what = "footer checksum mismatch"
				}
			}
			im.warnings = append(im.warnings, fmt.Sprintf("%s (%v): used the copy at offset 0", what, tailErr))
			return FooterSize, nil
		}
	}
	return 0, tailErr
}

// checkFooterCopy notes when a dynamic disk's footer copy at offset 0
// differs from the footer at the end.
func (im *Image) checkFooterCopy(tail []byte) {
	if im.footer.DiskType != Dynamic && im.footer.DiskType != Differencing {
		return
	}
	var head [FooterSize]byte
	if err := readFull(im.r, head[:], 0); err != nil || !bytes.Equal(head[:], tail) {
		im.warnings = append(im.warnings, "footer copy at offset 0 differs from the footer at the end of the file")
	}
}

func (im *Image) openDynamic() error {
	f := &im.footer
	size := im.fileSize
	if f.DataOffset > uint64(size) || int64(f.DataOffset) > size-DynamicHeaderSize {
		return fmt.Errorf("vhd: footer: dynamic header offset 0x%x beyond end of file (%d bytes): %w", f.DataOffset, size, ErrFormat)
	}
	buf := make([]byte, DynamicHeaderSize)
	if err := readFull(im.r, buf, int64(f.DataOffset)); err != nil {
		return fmt.Errorf("vhd: reading dynamic header at 0x%x: %w", f.DataOffset, err)
	}
	h, err := ParseDynamicHeader(buf)
	if err != nil {
		return err
	}
	im.header = h
	bs := int64(h.BlockSize)
	im.blockSize = bs
	sectorsPerBlock := bs / SectorSize
	im.bitmapSize = ((sectorsPerBlock+7)/8 + SectorSize - 1) / SectorSize * SectorSize

	// The BAT entries that cover the virtual disk; entries past them (a
	// Max Table Entries larger than needed) are never read.
	needed := (im.size + bs - 1) / bs
	entries := needed
	if int64(h.MaxTableEntries) < needed {
		entries = int64(h.MaxTableEntries)
		im.warnings = append(im.warnings, fmt.Sprintf("BAT has %d entries, %d needed for the current size %d: the rest reads as absent", h.MaxTableEntries, needed, im.size))
	}
	if h.TableOffset > uint64(size) || entries*4 > size-int64(h.TableOffset) {
		return fmt.Errorf("vhd: dynamic header: BAT at 0x%x with %d entries beyond end of file (%d bytes): %w", h.TableOffset, entries, size, ErrFormat)
	}
	raw := make([]byte, entries*4)
	if err := readFull(im.r, raw, int64(h.TableOffset)); err != nil {
		return fmt.Errorf("vhd: reading BAT at 0x%x: %w", h.TableOffset, err)
	}
	im.bat = make([]uint32, entries)
	for i := range im.bat {
		e := binary.BigEndian.Uint32(raw[i*4:])
		im.bat[i] = e
		if e == UnusedBlock {
			continue
		}
		dataLen := min(bs, im.size-int64(i)*bs)
		if end := int64(e)*SectorSize + im.bitmapSize + dataLen; end > size {
			return fmt.Errorf("vhd: BAT entry %d: block at 0x%x (ends at 0x%x) beyond end of file (%d bytes): %w", i, int64(e)*SectorSize, end, size, ErrFormat)
		}
	}

	if f.DiskType == Differencing {
		im.parentName = h.ParentName()
		if im.locators, err = readLocators(im.r, size, h); err != nil {
			return err
		}
		n := min(int64(4096), max(1, (2<<20)/im.bitmapSize))
		im.bitmaps.slots = make([]bitmapSlot, n)
	}
	return nil
}

// Size is the virtual disk size in bytes: the footer's Current Size (see
// docs/formats/vhd.md for why, also for disks made by Virtual PC).
func (im *Image) Size() int64 { return im.size }

// LogicalSectorSize is 512: VHD knows no other sector size.
func (im *Image) LogicalSectorSize() int { return SectorSize }

// PhysicalSectorSize is 512.
func (im *Image) PhysicalSectorSize() int { return SectorSize }

// Type is the footer's disk type.
func (im *Image) Type() DiskType { return im.footer.DiskType }

// BlockSize is the dynamic header's block size, 0 for a fixed disk.
func (im *Image) BlockSize() int64 { return im.blockSize }

// Footer is the footer in use.
func (im *Image) Footer() Footer { return im.footer }

// DynamicHeader is the dynamic disk header, nil for a fixed disk. The
// caller must not modify it.
func (im *Image) DynamicHeader() *DynamicHeader { return im.header }

// UniqueID is the footer's Unique Id, as stored.
func (im *Image) UniqueID() [16]byte { return im.footer.UniqueID }

// ParentUniqueID is the Parent Unique Id of a differencing disk (zero for
// other disks).
func (im *Image) ParentUniqueID() [16]byte {
	if im.footer.DiskType != Differencing {
		return [16]byte{}
	}
	return im.header.ParentUniqueID
}

// ParentName is the Parent Unicode Name of a differencing disk.
func (im *Image) ParentName() string { return im.parentName }

// ParentLocators are the used parent locator entries of a differencing
// disk, decoded.
func (im *Image) ParentLocators() []ParentLocator {
	return append([]ParentLocator(nil), im.locators...)
}

// Warnings lists what was wrong but could be worked around.
func (im *Image) Warnings() []string { return append([]string(nil), im.warnings...) }

// ReadFileAt reads the VHD file itself.
func (im *Image) ReadFileAt(p []byte, off int64) (int, error) {
	n, err := im.r.ReadAt(p, off)
	if n == len(p) {
		err = nil
	}
	return n, err
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Extents appends the extents covering [off, off+n) of the virtual disk.
// Fixed disks are one Data run. In dynamic disks an unallocated block is
// Absent and an allocated block is Data as a whole (the sector bitmap is
// not consulted, as Windows and qemu do). In differencing disks an
// allocated block is Data where its sector bitmap bit is set and Absent
// where it is clear.
func (im *Image) Extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	if off < 0 || n < 0 || off > im.size || n > im.size-off {
		return dst, fmt.Errorf("vhd: extents [%d, +%d) outside the virtual disk (%d bytes)", off, n, im.size)
	}
	if n == 0 {
		return dst, nil
	}
	if im.header == nil {
		return append(dst, extent.Extent{Offset: off, Length: n, State: extent.Data, FileOffset: off}), nil
	}
	bs := im.blockSize
	end := off + n
	for pos := off; pos < end; {
		bi := pos / bs
		within := pos % bs
		l := min(bs-within, end-pos)
		if bi >= int64(len(im.bat)) {
			dst = addExtent(dst, extent.Extent{Offset: pos, Length: end - pos, State: extent.Absent})
			break
		}
		e := im.bat[bi]
		if e == UnusedBlock {
			dst = addExtent(dst, extent.Extent{Offset: pos, Length: l, State: extent.Absent})
			pos += l
			continue
		}
		data := int64(e)*SectorSize + im.bitmapSize
		if im.footer.DiskType != Differencing {
			dst = addExtent(dst, extent.Extent{Offset: pos, Length: l, State: extent.Data, FileOffset: data + within})
			pos += l
			continue
		}
		bits, err := im.bitmap(bi, int64(e)*SectorSize)
		if err != nil {
			return dst, err
		}
		// Walk the bitmap in runs of equal bits, sector by sector (a whole
		// byte at a time where it can).
		blockStart := bi * bs
		for s, stop := within/SectorSize, (within+l+SectorSize-1)/SectorSize; s < stop; {
			set := bits[s>>3]&(0x80>>(s&7)) != 0
			r := s + 1
			for r < stop {
				if r&7 == 0 && r+8 <= stop {
					b := bits[r>>3]
					if (set && b == 0xFF) || (!set && b == 0) {
						r += 8
						continue
					}
				}
				if (bits[r>>3]&(0x80>>(r&7)) != 0) != set {
					break
				}
				r++
			}
			lo := max(blockStart+s*SectorSize, pos)
			hi := min(blockStart+r*SectorSize, pos+l)
			x := extent.Extent{Offset: lo, Length: hi - lo, State: extent.Absent}
			if set {
				x.State, x.FileOffset = extent.Data, data+(lo-blockStart)
			}
			dst = addExtent(dst, x)
			s = r
		}
		pos += l
	}
	return dst, nil
}

// addExtent appends x, merged into the last extent when they continue one
// another (and, for data, continue in the file too).
func addExtent(dst []extent.Extent, x extent.Extent) []extent.Extent {
	if k := len(dst); k > 0 {
		p := &dst[k-1]
		if p.State == x.State && p.End() == x.Offset && (x.State != extent.Data || p.FileOffset+p.Length == x.FileOffset) {
			p.Length += x.Length
			return dst
		}
	}
	return append(dst, x)
}

// ReadAt reads the virtual disk this file defines. Ranges it leaves
// absent (unallocated blocks, clear bitmap bits) read as zeros: stacking a
// differencing disk on its parent is done by vdisk through Extents.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhd: read at negative offset %d", off)
	}
	if off >= im.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int64(len(p))
	var eof error
	if n > im.size-off {
		n, eof = im.size-off, io.EOF
	}
	var stack [8]extent.Extent
	exts, err := im.Extents(stack[:0], off, n)
	if err != nil {
		return 0, err
	}
	for _, e := range exts {
		dst := p[e.Offset-off : e.End()-off]
		if e.State != extent.Data {
			clear(dst)
			continue
		}
		if err := readFull(im.r, dst, e.FileOffset); err != nil {
			return int(e.Offset - off), fmt.Errorf("vhd: reading data at file offset 0x%x for disk offset 0x%x: %w", e.FileOffset, e.Offset, err)
		}
	}
	return int(n), eof
}

// bitmapCache is a small direct-mapped cache of sector bitmaps, keyed by
// block index. Slots are replaced, never written in place, so a bitmap
// handed out stays valid.
type bitmapCache struct {
	mu    sync.Mutex
	slots []bitmapSlot
}

type bitmapSlot struct {
	valid bool
	block int64
	bits  []byte
}

// bitmap returns the sector bitmap of block bi, which starts at blockOff
// in the file.
func (im *Image) bitmap(bi, blockOff int64) ([]byte, error) {
	c := &im.bitmaps
	slot := &c.slots[bi%int64(len(c.slots))]
	c.mu.Lock()
	if slot.valid && slot.block == bi {
		b := slot.bits
		c.mu.Unlock()
		return b, nil
	}
	c.mu.Unlock()
	n := (im.blockSize/SectorSize + 7) / 8
	b := make([]byte, n)
	if err := readFull(im.r, b, blockOff); err != nil {
		return nil, fmt.Errorf("vhd: block %d: reading sector bitmap at 0x%x: %w", bi, blockOff, err)
	}
	c.mu.Lock()
	*slot = bitmapSlot{valid: true, block: bi, bits: b}
	c.mu.Unlock()
	return b, nil
}
