package restic

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Pack header entry types and sizes (design.rst, "Pack Format").
const (
	packEntryData           = 0
	packEntryTree           = 1
	packEntryDataCompressed = 2
	packEntryTreeCompressed = 3

	entrySize           = 1 + 4 + IDSize     // type, length, ID
	compressedEntrySize = 1 + 4 + 4 + IDSize // type, length, uncompressed length, ID

	headerLengthSize = 4

	// MaxHeaderSize bounds the encrypted header plus its length field,
	// as restic does.
	MaxHeaderSize = 16<<20 + headerLengthSize
)

// DefaultPackSize is the target pack size (restic's default since 0.14).
const DefaultPackSize = 16 << 20

// ParsePackHeader decodes a decrypted pack header. Blob offsets follow
// from the lengths; they must lie within dataSize, the part of the pack
// before the header.
func ParsePackHeader(hdr []byte, dataSize int64) ([]Blob, error) {
	var blobs []Blob
	var off int64
	for pos := 0; pos < len(hdr); {
		var b Blob
		typ := hdr[pos]
		size := entrySize
		if typ == packEntryDataCompressed || typ == packEntryTreeCompressed {
			size = compressedEntrySize
		}
		if len(hdr)-pos < size {
			return nil, fmt.Errorf("restic: pack header: entry %d truncated: %w", len(blobs), ErrFormat)
		}
		e := hdr[pos : pos+size]
		switch typ {
		case packEntryData, packEntryDataCompressed:
			b.Type = DataBlob
		case packEntryTree, packEntryTreeCompressed:
			b.Type = TreeBlob
		default:
			return nil, fmt.Errorf("restic: pack header: entry %d: invalid type %d: %w", len(blobs), typ, ErrFormat)
		}
		b.Length = binary.LittleEndian.Uint32(e[1:5])
		if size == compressedEntrySize {
			b.UncompressedLength = binary.LittleEndian.Uint32(e[5:9])
			if b.UncompressedLength == 0 {
				return nil, fmt.Errorf("restic: pack header: entry %d: compressed blob with zero length: %w", len(blobs), ErrFormat)
			}
		}
		copy(b.ID[:], e[size-IDSize:])
		if b.Length < CiphertextOverhead {
			return nil, fmt.Errorf("restic: pack header: entry %d: length %d shorter than IV and MAC: %w", len(blobs), b.Length, ErrFormat)
		}
		if off+int64(b.Length) > dataSize {
			return nil, fmt.Errorf("restic: pack header: entry %d: offset %d length %d beyond data part of %d bytes: %w",
				len(blobs), off, b.Length, dataSize, ErrFormat)
		}
		b.Offset = uint32(off)
		off += int64(b.Length)
		blobs = append(blobs, b)
		pos += size
	}
	return blobs, nil
}

// appendPackEntry appends a header entry for b.
func appendPackEntry(dst []byte, b Blob) []byte {
	var typ byte
	switch {
	case b.Type == DataBlob && !b.IsCompressed():
		typ = packEntryData
	case b.Type == TreeBlob && !b.IsCompressed():
		typ = packEntryTree
	case b.Type == DataBlob:
		typ = packEntryDataCompressed
	default:
		typ = packEntryTreeCompressed
	}
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint32(dst, b.Length)
	if b.IsCompressed() {
		dst = binary.LittleEndian.AppendUint32(dst, b.UncompressedLength)
	}
	return append(dst, b.ID[:]...)
}

// ReadPackHeader reads, decrypts and decodes the header of a pack of the
// given size through ra (a pack in memory or a ranged backend read).
func ReadPackHeader(ra io.ReaderAt, size int64, key *Key) ([]Blob, error) {
	if size < headerLengthSize {
		return nil, fmt.Errorf("restic: pack of %d bytes too short for a header: %w", size, ErrFormat)
	}
	var lb [headerLengthSize]byte
	if _, err := ra.ReadAt(lb[:], size-headerLengthSize); err != nil {
		return nil, fmt.Errorf("restic: pack header length: %w", err)
	}
	hlen := int64(binary.LittleEndian.Uint32(lb[:]))
	switch {
	case hlen < CiphertextOverhead:
		return nil, fmt.Errorf("restic: pack header length %d too short: %w", hlen, ErrFormat)
	case hlen > size-headerLengthSize:
		return nil, fmt.Errorf("restic: pack header length %d beyond pack of %d bytes: %w", hlen, size, ErrFormat)
	case hlen > MaxHeaderSize-headerLengthSize:
		return nil, fmt.Errorf("restic: pack header length %d above the limit: %w", hlen, ErrFormat)
	}
	enc := make([]byte, hlen)
	if _, err := ra.ReadAt(enc, size-headerLengthSize-hlen); err != nil {
		return nil, fmt.Errorf("restic: pack header: %w", err)
	}
	hdr, err := key.Open(enc[:0:0], enc)
	if err != nil {
		return nil, fmt.Errorf("restic: pack header: %w", err)
	}
	return ParsePackHeader(hdr, size-headerLengthSize-hlen)
}

// backendReaderAt reads ranges of one backend file.
type backendReaderAt struct {
	ctx context.Context
	be  Backend
	h   Handle
}

func (r backendReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	rd, err := r.be.Load(r.ctx, r.h, off, len(p))
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	n, err := io.ReadFull(rd, p)
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("restic: %v: short read at %d: %w", r.h, off, io.ErrUnexpectedEOF)
	}
	return n, err
}
