// Package wimtest reads the compressed chunks out of WIM files that
// wimlib's wimcapture wrote, so that the decompressors can be tested
// against an independent encoder. It parses only what that needs: the WIM
// header, the blob table, and each non-solid resource's chunk table.
//
// WIM resources are split into chunks of the header's chunk size, each
// compressed independently, exactly as Windows' WOF (System Compression)
// stores XPRESS4K/8K/16K and LZX (32 KiB) files.
package wimtest

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
)

// Header flags (WIM_HDR_FLAG_*).
const (
	HdrCompression = 0x00000002
	HdrXPRESS      = 0x00020000
	HdrLZX         = 0x00040000
)

// Resource header flags (WIM_RESHDR_FLAG_*).
const (
	ResMetadata   = 0x02
	ResCompressed = 0x04
	ResSolid      = 0x10
)

// ResHdr is a WIM resource header.
type ResHdr struct {
	SizeInWIM    int64
	Flags        byte
	Offset       int64
	OriginalSize int64
}

func parseResHdr(b []byte) ResHdr {
	var h ResHdr
	var s [8]byte
	copy(s[:7], b[:7])
	h.SizeInWIM = int64(binary.LittleEndian.Uint64(s[:]))
	h.Flags = b[7]
	h.Offset = int64(binary.LittleEndian.Uint64(b[8:]))
	h.OriginalSize = int64(binary.LittleEndian.Uint64(b[16:]))
	return h
}

// Chunk is one compressed chunk of a resource.
type Chunk struct {
	Data []byte // as stored
	Size int    // uncompressed size
	// Stored is true when the chunk is kept uncompressed (its stored size
	// equals its uncompressed size).
	Stored bool
}

// Blob is one resource of the WIM with the SHA-1 the blob table records
// for its uncompressed content (zero for metadata resources).
type Blob struct {
	Hdr    ResHdr
	SHA1   [20]byte
	Chunks []Chunk
}

// WIM is a parsed WIM file.
type WIM struct {
	Flags     uint32
	ChunkSize int
	Blobs     []Blob
}

// Parse reads a WIM file's header, blob table and chunk tables.
func Parse(b []byte) (*WIM, error) {
	if len(b) < 208 || !bytes.Equal(b[:8], []byte("MSWIM\x00\x00\x00")) {
		return nil, fmt.Errorf("wimtest: not a WIM file")
	}
	w := &WIM{
		Flags:     binary.LittleEndian.Uint32(b[16:]),
		ChunkSize: int(binary.LittleEndian.Uint32(b[20:])),
	}
	bt := parseResHdr(b[48:])
	if bt.Flags&ResCompressed != 0 {
		return nil, fmt.Errorf("wimtest: compressed blob table not supported")
	}
	if bt.Offset < 0 || bt.SizeInWIM < 0 || bt.Offset+bt.SizeInWIM > int64(len(b)) {
		return nil, fmt.Errorf("wimtest: blob table beyond end of file")
	}
	table := b[bt.Offset : bt.Offset+bt.SizeInWIM]
	for e := 0; e+50 <= len(table); e += 50 {
		blob := Blob{Hdr: parseResHdr(table[e:])}
		copy(blob.SHA1[:], table[e+30:e+50])
		if blob.Hdr.Flags&ResSolid != 0 {
			return nil, fmt.Errorf("wimtest: solid resources not supported")
		}
		if blob.Hdr.Flags&ResCompressed != 0 {
			chunks, err := chunks(b, blob.Hdr, w.ChunkSize)
			if err != nil {
				return nil, err
			}
			blob.Chunks = chunks
		}
		w.Blobs = append(w.Blobs, blob)
	}
	return w, nil
}

func chunks(b []byte, h ResHdr, chunkSize int) ([]Chunk, error) {
	if chunkSize <= 0 || h.Offset < 0 || h.SizeInWIM < 0 || h.Offset+h.SizeInWIM > int64(len(b)) {
		return nil, fmt.Errorf("wimtest: resource at %d beyond end of file", h.Offset)
	}
	res := b[h.Offset : h.Offset+h.SizeInWIM]
	n := int((h.OriginalSize + int64(chunkSize) - 1) / int64(chunkSize))
	entry := 4
	if h.OriginalSize > 1<<32 {
		entry = 8
	}
	tsize := (n - 1) * entry
	if n == 0 || tsize > len(res) {
		return nil, fmt.Errorf("wimtest: resource at %d: bad chunk table", h.Offset)
	}
	offs := make([]int, n+1)
	for i := 1; i < n; i++ {
		if entry == 4 {
			offs[i] = int(binary.LittleEndian.Uint32(res[(i-1)*4:]))
		} else {
			offs[i] = int(binary.LittleEndian.Uint64(res[(i-1)*8:]))
		}
	}
	data := res[tsize:]
	offs[n] = len(data)
	var out []Chunk
	for i := 0; i < n; i++ {
		if offs[i] > offs[i+1] || offs[i+1] > len(data) {
			return nil, fmt.Errorf("wimtest: resource at %d: chunk %d out of order", h.Offset, i)
		}
		size := chunkSize
		if i == n-1 {
			size = int(h.OriginalSize - int64(i)*int64(chunkSize))
		}
		c := Chunk{Data: data[offs[i]:offs[i+1]], Size: size}
		c.Stored = len(c.Data) == size
		out = append(out, c)
	}
	return out, nil
}

// Check decompresses every chunk of every compressed blob with decode and
// compares each blob's SHA-1 with the blob table's. It returns the number
// of chunks decoded (not stored) and the SHA-1s of all blobs (those of
// uncompressed ones as the blob table gives them).
func (w *WIM) Check(decode func(dst, src []byte) (int, error)) (decoded int, sums map[[20]byte]bool, err error) {
	sums = map[[20]byte]bool{}
	for bi, blob := range w.Blobs {
		if blob.Hdr.Flags&ResCompressed == 0 {
			sums[blob.SHA1] = true // stored as is: nothing to decode
			continue
		}
		h := sha1.New()
		for ci, c := range blob.Chunks {
			if c.Stored {
				h.Write(c.Data)
				continue
			}
			dst := make([]byte, c.Size)
			n, err := decode(dst, c.Data)
			if err != nil {
				return decoded, sums, fmt.Errorf("blob %d chunk %d (%d→%d bytes): %w", bi, ci, len(c.Data), c.Size, err)
			}
			if n != c.Size {
				return decoded, sums, fmt.Errorf("blob %d chunk %d: %d bytes, want %d", bi, ci, n, c.Size)
			}
			decoded++
			h.Write(dst)
		}
		var sum [20]byte
		copy(sum[:], h.Sum(nil))
		if blob.Hdr.Flags&ResMetadata == 0 && sum != blob.SHA1 {
			return decoded, sums, fmt.Errorf("blob %d: SHA-1 %x, blob table says %x", bi, sum, blob.SHA1)
		}
		sums[sum] = true
	}
	return decoded, sums, nil
}

// Seeds returns up to n compressed chunks, a few from each blob, as fuzz
// seeds.
func (w *WIM) Seeds(n int) []Chunk {
	var out []Chunk
	for per := 1; per <= 3 && len(out) < n; per++ {
		for _, b := range w.Blobs {
			if len(b.Chunks) >= per && !b.Chunks[per-1].Stored && len(out) < n {
				out = append(out, b.Chunks[per-1])
			}
		}
	}
	return out
}
