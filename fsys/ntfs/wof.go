package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/fsys"
)

// wofStreamName is the named $DATA stream holding a WOF-compressed file's
// data (provider FILE).
const wofStreamName = "WofCompressedData"

// maxWofChunks bounds the chunk offset table read into memory.
const maxWofChunks = 1 << 24

// wofStream reads a file compressed by the Windows Overlay Filter's file
// provider: the content, cut into chunks of 4, 8, 16 KiB (XPRESS Huffman)
// or 32 KiB (LZX), is compressed chunk by chunk into WofCompressedData,
// which starts with a table of where each chunk after the first begins.
type wofStream struct {
	src       *stream
	size      int64
	chunkSize int64
	offsets   []int64 // start of each chunk in src, plus the end
	decode    func(dst, src []byte) (int, error)
	where     string

	mu    sync.Mutex
	cur   int64
	buf   []byte
	raw   []byte
	valid bool
}

// wofAlgorithmName names a WOF file-provider algorithm.
func wofAlgorithmName(a uint32) string {
	switch a {
	case wofXpress4K:
		return "XPRESS4K"
	case wofXpress8K:
		return "XPRESS8K"
	case wofXpress16K:
		return "XPRESS16K"
	case wofLZX:
		return "LZX"
	}
	return fmt.Sprintf("algorithm %d", a)
}

// setupWOF prepares reading a WOF-backed file or says why it cannot be.
func (v *FS) setupWOF(fi *fileInfo) {
	m := fi.meta
	rp := fi.rp
	m.Compressed = true
	where := fmt.Sprintf("MFT record %d", fi.ino.num)
	m.Extra = append(m.Extra, fsys.KV{Key: "wof_provider", Value: fmt.Sprint(rp.WofProvider)})
	if rp.WofProvider == wofProviderWIM {
		m.Special = SpecialWIM
		fi.readErr = &unsupportedError{where + ": content is backed by a WIM image outside the volume (WOF WIM provider)"}
		return
	}
	if rp.WofProvider != wofProviderFile || !rp.wofOK {
		m.Special = SpecialWOF
		fi.readErr = &unsupportedError{fmt.Sprintf("%s: WOF provider %d not supported", where, rp.WofProvider)}
		return
	}
	m.Extra = append(m.Extra, fsys.KV{Key: "wof_algorithm", Value: wofAlgorithmName(rp.WofAlgorithm)})
	var chunk int64
	var decode func(dst, src []byte) (int, error)
	switch rp.WofAlgorithm {
	case wofXpress4K:
		chunk, decode = 4<<10, v.xpress
	case wofXpress8K:
		chunk, decode = 8<<10, v.xpress
	case wofXpress16K:
		chunk, decode = 16<<10, v.xpress
	case wofLZX:
		chunk, decode = 32<<10, v.lzx
	default:
		m.Special = SpecialWOF
		fi.readErr = &unsupportedError{fmt.Sprintf("%s: WOF %s not supported", where, wofAlgorithmName(rp.WofAlgorithm))}
		return
	}
	if decode == nil {
		m.Special = SpecialWOF
		fi.readErr = &unsupportedError{fmt.Sprintf("%s: WOF %s decompressor not available", where, wofAlgorithmName(rp.WofAlgorithm))}
		return
	}
	src, err := fi.ino.stream(attrData, wofStreamName)
	if err != nil {
		m.Special = SpecialWOF
		fi.readErr = fmt.Errorf("ntfs: %s: WOF-compressed file without a readable %s stream: %w", where, wofStreamName, err)
		return
	}
	size := int64(0)
	if fi.data != nil {
		size = fi.data.size
	}
	ws, err := newWofStream(src, size, chunk, decode, where)
	if err != nil {
		m.Special = SpecialWOF
		fi.readErr = err
		return
	}
	fi.wof = ws
	m.Extents = extentsOf(src, v.boot.ClusterSize)
	m.Allocated = src.allocated()
}

func newWofStream(src *stream, size, chunk int64, decode func(dst, src []byte) (int, error), where string) (*wofStream, error) {
	if size < 0 {
		return nil, formatErr(where, "WOF size %d invalid", size)
	}
	n := (size + chunk - 1) / chunk
	if n > maxWofChunks {
		return nil, formatErr(where, "WOF file of %d chunks too large", n)
	}
	entry := int64(4)
	if size > 0xFFFFFFFF {
		entry = 8
	}
	table := int64(0)
	if n > 0 {
		table = (n - 1) * entry
	}
	if table > src.size {
		return nil, formatErr(where, "WOF chunk table (%d bytes) larger than %s (%d bytes)", table, wofStreamName, src.size)
	}
	tb := make([]byte, table)
	if _, err := src.ReadAt(tb, 0); err != nil && err != io.EOF {
		return nil, err
	}
	offs := make([]int64, 0, n+1)
	if n > 0 {
		offs = append(offs, table)
	}
	for i := int64(0); i+1 < n; i++ {
		var o int64
		if entry == 4 {
			o = int64(binary.LittleEndian.Uint32(tb[4*i:]))
		} else {
			o = int64(binary.LittleEndian.Uint64(tb[8*i:]))
		}
		o += table
		if o < offs[len(offs)-1] || o > src.size {
			return nil, formatErr(where, "WOF chunk %d offset %d out of order or beyond the stream", i+1, o)
		}
		offs = append(offs, o)
	}
	if n > 0 {
		offs = append(offs, src.size)
	}
	return &wofStream{src: src, size: size, chunkSize: chunk, offsets: offs, decode: decode, where: where}, nil
}

func (w *wofStream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ntfs: %s: negative offset", w.where)
	}
	if off >= w.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > w.size-off {
		p = p[:w.size-off]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		c := pos / w.chunkSize
		if !w.valid || w.cur != c {
			if err := w.load(c); err != nil {
				return done, err
			}
		}
		done += copy(p[done:], w.buf[pos-c*w.chunkSize:])
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// load decodes chunk c into w.buf. w.mu is held.
func (w *wofStream) load(c int64) error {
	w.valid = false
	expect := min(w.chunkSize, w.size-c*w.chunkSize)
	if w.buf == nil {
		w.buf = make([]byte, w.chunkSize)
	}
	w.buf = w.buf[:expect]
	start, end := w.offsets[c], w.offsets[c+1]
	clen := end - start
	if clen <= 0 || clen > expect {
		return formatErr(w.where, "WOF chunk %d has %d compressed bytes for %d", c, clen, expect)
	}
	if clen == expect {
		if _, err := w.src.ReadAt(w.buf, start); err != nil && err != io.EOF {
			return err
		}
	} else {
		if int64(cap(w.raw)) < clen {
			w.raw = make([]byte, w.chunkSize)
		}
		raw := w.raw[:clen]
		if _, err := w.src.ReadAt(raw, start); err != nil && err != io.EOF {
			return err
		}
		n, err := w.decode(w.buf, raw)
		if err != nil {
			return formatErr(w.where, "WOF chunk %d: %v", c, err)
		}
		if int64(n) != expect {
			return formatErr(w.where, "WOF chunk %d decompressed to %d bytes, want %d", c, n, expect)
		}
	}
	w.cur, w.valid = c, true
	return nil
}
