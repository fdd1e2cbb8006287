package vhdx

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
)

// LogState tells what NewImage found in, and did with, the log.
type LogState struct {
	Dirty         bool   // the current header's LogGuid is non-zero
	Replayed      bool   // the active sequence was applied (in memory)
	Ignored       bool   // Options.IgnoreLog: the file was read without replay
	Entries       int    // entries in the active sequence (tail to head)
	FirstSequence uint64 // sequence number of the tail entry
	LastSequence  uint64 // sequence number of the head entry
	Bytes         int64  // bytes written by the replayed descriptors (data and zeros)
	LogGUID       string // the header's LogGuid, canonical form
}

// Most log data replay will hold in memory; larger logs are refused.
const maxLogLength = 256 * mib

// Largest file offset a log descriptor may write to (keeps arithmetic far
// from overflow; MS-VHDX files are at most a few hundred TiB).
const maxLogFileOffset = 1 << 52

// LogEntryHeader is the 64-byte header of a log entry (MS-VHDX 2.3.1.1).
type LogEntryHeader struct {
	Signature         [4]byte
	Checksum          uint32
	EntryLength       uint32
	Tail              uint32
	SequenceNumber    uint64
	DescriptorCount   uint32
	Reserved          uint32
	LogGuid           GUID
	FlushedFileOffset uint64
	LastFileOffset    uint64
}

func parseLogEntryHeader(b []byte) LogEntryHeader {
	var h LogEntryHeader
	copy(h.Signature[:], b[0:4])
	h.Checksum = binary.LittleEndian.Uint32(b[4:])
	h.EntryLength = binary.LittleEndian.Uint32(b[8:])
	h.Tail = binary.LittleEndian.Uint32(b[12:])
	h.SequenceNumber = binary.LittleEndian.Uint64(b[16:])
	h.DescriptorCount = binary.LittleEndian.Uint32(b[24:])
	h.Reserved = binary.LittleEndian.Uint32(b[28:])
	copy(h.LogGuid[:], b[32:48])
	h.FlushedFileOffset = binary.LittleEndian.Uint64(b[48:])
	h.LastFileOffset = binary.LittleEndian.Uint64(b[56:])
	return h
}

// logDesc is a decoded zero or data descriptor (MS-VHDX 2.3.1.2, 2.3.1.3).
type logDesc struct {
	zero       bool
	fileOffset uint64
	zeroLength uint64
	leading    [8]byte
	trailing   [4]byte
	dataPos    uint32 // for data: log offset of its data sector
}

type logEntry struct {
	pos   uint32 // offset of the entry in the log
	hdr   LogEntryHeader
	descs []logDesc
}

// logRing is the log region read into memory.
type logRing struct {
	buf  []byte
	guid GUID
	memo map[uint32]bool // checksum result by entry position
	why  string          // first reason an entry with the right LogGuid was refused
}

func (l *logRing) length() uint32 { return uint32(len(l.buf)) }

// sector returns the 4 KiB log sector at entry offset x of the entry at pos.
func (l *logRing) sector(pos, x uint32) []byte {
	p := (uint64(pos) + uint64(x)) % uint64(len(l.buf))
	return l.buf[p : p+logSectorSize]
}

func descSectors(count uint32) uint64 { return (uint64(count) + 2 + 127) / 128 }

func (l *logRing) refuse(pos uint32, format string, args ...any) *logEntry {
	if l.why == "" {
		l.why = fmt.Sprintf("entry at log offset 0x%x: ", pos) + fmt.Sprintf(format, args...)
	}
	return nil
}

// entry validates the log entry at pos (MS-VHDX 2.3.1): signature, lengths,
// LogGuid, checksum, descriptors and data sectors. want, if non-zero, is the
// sequence number the entry must carry. It returns nil for no valid entry.
func (l *logRing) entry(pos uint32, want uint64) *logEntry {
	first := l.sector(pos, 0)
	if string(first[0:4]) != string(sigLogEntry) {
		return nil
	}
	h := parseLogEntryHeader(first)
	if h.LogGuid != l.guid {
		return nil
	}
	if want != 0 && h.SequenceNumber != want {
		return nil
	}
	L := l.length()
	switch {
	case h.EntryLength == 0 || h.EntryLength%logSectorSize != 0:
		return l.refuse(pos, "entry length 0x%x not a non-zero multiple of 4 KiB", h.EntryLength)
	case h.EntryLength > L:
		return l.refuse(pos, "entry length 0x%x beyond the log length 0x%x", h.EntryLength, L)
	case h.Tail%logSectorSize != 0 || h.Tail >= L:
		return l.refuse(pos, "tail 0x%x not a 4 KiB offset inside the log", h.Tail)
	case h.SequenceNumber == 0:
		return l.refuse(pos, "sequence number 0")
	}
	sectors := uint64(h.EntryLength / logSectorSize)
	ds := descSectors(h.DescriptorCount)
	if ds > sectors {
		return l.refuse(pos, "%d descriptors do not fit in an entry of 0x%x bytes", h.DescriptorCount, h.EntryLength)
	}
	ok, seen := l.memo[pos]
	if !seen {
		var zero [4]byte
		c := crc32.Update(0, castagnoli, first[:4])
		c = crc32.Update(c, castagnoli, zero[:])
		c = crc32.Update(c, castagnoli, first[8:])
		for s := uint64(1); s < sectors; s++ {
			c = crc32.Update(c, castagnoli, l.sector(pos, uint32(s*logSectorSize)))
		}
		ok = c == h.Checksum
		l.memo[pos] = ok
	}
	if !ok {
		return l.refuse(pos, "checksum mismatch (sequence %d)", h.SequenceNumber)
	}
	e := &logEntry{pos: pos, hdr: h, descs: make([]logDesc, 0, min(uint64(h.DescriptorCount), sectors*128))}
	data := ds // next data sector of the entry
	for i := uint32(0); i < h.DescriptorCount; i++ {
		off := 64 + 32*uint64(i)
		b := l.sector(pos, uint32(off/logSectorSize*logSectorSize))[off%logSectorSize:]
		var d logDesc
		d.fileOffset = binary.LittleEndian.Uint64(b[16:])
		if seq := binary.LittleEndian.Uint64(b[24:]); seq != h.SequenceNumber {
			return l.refuse(pos, "descriptor %d: sequence %d, entry has %d", i, seq, h.SequenceNumber)
		}
		if d.fileOffset%logSectorSize != 0 {
			return l.refuse(pos, "descriptor %d: file offset 0x%x not a multiple of 4 KiB", i, d.fileOffset)
		}
		switch string(b[0:4]) {
		case string(sigZeroDesc):
			d.zero = true
			d.zeroLength = binary.LittleEndian.Uint64(b[8:])
			if d.zeroLength%logSectorSize != 0 {
				return l.refuse(pos, "descriptor %d: zero length 0x%x not a multiple of 4 KiB", i, d.zeroLength)
			}
			if d.fileOffset > maxLogFileOffset || d.zeroLength > maxLogFileOffset-d.fileOffset {
				return l.refuse(pos, "descriptor %d: zeroes [0x%x, +0x%x) beyond any file", i, d.fileOffset, d.zeroLength)
			}
		case string(sigDataDesc):
			copy(d.trailing[:], b[4:8])
			copy(d.leading[:], b[8:16])
			if d.fileOffset > maxLogFileOffset {
				return l.refuse(pos, "descriptor %d: writes at 0x%x beyond any file", i, d.fileOffset)
			}
			if data >= sectors {
				return l.refuse(pos, "descriptor %d: no data sector left in the entry", i)
			}
			s := l.sector(pos, uint32(data*logSectorSize))
			if string(s[0:4]) != string(sigDataSect) {
				return l.refuse(pos, "data sector %d: signature %q, want \"data\"", data, s[0:4])
			}
			seq := uint64(binary.LittleEndian.Uint32(s[4:]))<<32 | uint64(binary.LittleEndian.Uint32(s[4092:]))
			if seq != h.SequenceNumber {
				return l.refuse(pos, "data sector %d: sequence %d, entry has %d", data, seq, h.SequenceNumber)
			}
			d.dataPos = uint32((uint64(pos) + data*logSectorSize) % uint64(L))
			data++
		default:
			return l.refuse(pos, "descriptor %d: signature %q, want \"zero\" or \"desc\"", i, b[0:4])
		}
		e.descs = append(e.descs, d)
	}
	return e
}

// activeSequence finds the active log sequence as MS-VHDX 2.3.3 describes:
// the valid, complete sequence (its head's tail lies inside it) with the
// greatest head sequence number. It returns the entries from the tail entry
// to the head entry, or nil.
func (l *logRing) activeSequence() []*logEntry {
	L := l.length()
	var cand []*logEntry
	var cur, old uint32
	for iter := uint32(0); iter <= L/logSectorSize; iter++ {
		var seq []*logEntry
		p := cur
		var total uint64
		for {
			var want uint64
			if len(seq) > 0 {
				want = seq[len(seq)-1].hdr.SequenceNumber + 1
				if want == 0 {
					break
				}
			}
			e := l.entry(p, want)
			if e == nil || total+uint64(e.hdr.EntryLength) > uint64(L) {
				break
			}
			seq = append(seq, e)
			total += uint64(e.hdr.EntryLength)
			p = uint32((uint64(p) + uint64(e.hdr.EntryLength)) % uint64(L))
		}
		valid := false
		if len(seq) > 0 {
			head := seq[len(seq)-1]
			for i, e := range seq {
				if e.pos == head.hdr.Tail {
					valid = true
					if cand == nil || head.hdr.SequenceNumber > cand[len(cand)-1].hdr.SequenceNumber {
						cand = seq[i:]
					}
					break
				}
			}
		}
		if valid {
			cur = p
		} else {
			cur += logSectorSize
			if cur >= L {
				cur = 0
			}
		}
		if cur <= old {
			break
		}
		old = cur
	}
	return cand
}

// span is a half-open byte range of the file.
type span struct{ start, end int64 }

// overlay holds the file writes of a replayed log: 4 KiB data sectors and
// zeroed ranges, never overlapping each other.
type overlay struct {
	sectors map[int64][]byte
	keys    []int64 // sorted keys of sectors
	zeros   []span  // sorted, disjoint
	end     int64   // end of the last byte written
}

func newOverlay() *overlay { return &overlay{sectors: make(map[int64][]byte)} }

func (o *overlay) writeData(off int64, b []byte) {
	o.sectors[off] = b
	o.subtractZero(off, off+logSectorSize)
	o.end = max(o.end, off+logSectorSize)
}

func (o *overlay) writeZero(start, end int64) {
	if end <= start {
		return
	}
	for k := range o.sectors {
		if k >= start && k < end {
			delete(o.sectors, k)
		}
	}
	o.subtractZero(start, end)
	o.zeros = append(o.zeros, span{start, end})
	sort.Slice(o.zeros, func(i, j int) bool { return o.zeros[i].start < o.zeros[j].start })
	// merge touching spans
	out := o.zeros[:0]
	for _, z := range o.zeros {
		if n := len(out); n > 0 && z.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, z.end)
			continue
		}
		out = append(out, z)
	}
	o.zeros = out
	o.end = max(o.end, end)
}

func (o *overlay) subtractZero(start, end int64) {
	var out []span
	for _, z := range o.zeros {
		if z.end <= start || z.start >= end {
			out = append(out, z)
			continue
		}
		if z.start < start {
			out = append(out, span{z.start, start})
		}
		if z.end > end {
			out = append(out, span{end, z.end})
		}
	}
	o.zeros = out
}

func (o *overlay) finish() {
	o.keys = o.keys[:0]
	for k := range o.sectors {
		o.keys = append(o.keys, k)
	}
	sort.Slice(o.keys, func(i, j int) bool { return o.keys[i] < o.keys[j] })
}

// apply patches p, which holds the file bytes at off, with the overlay.
func (o *overlay) apply(p []byte, off int64) {
	end := off + int64(len(p))
	i := sort.Search(len(o.zeros), func(i int) bool { return o.zeros[i].end > off })
	for ; i < len(o.zeros) && o.zeros[i].start < end; i++ {
		a, b := max(o.zeros[i].start, off), min(o.zeros[i].end, end)
		clear(p[a-off : b-off])
	}
	j := sort.Search(len(o.keys), func(i int) bool { return o.keys[i]+logSectorSize > off })
	for ; j < len(o.keys) && o.keys[j] < end; j++ {
		k := o.keys[j]
		a, b := max(k, off), min(k+logSectorSize, end)
		copy(p[a-off:b-off], o.sectors[k][a-k:b-k])
	}
}

// touches reports whether any write of the overlay falls in [off, end).
func (o *overlay) touches(off, end int64) bool {
	i := sort.Search(len(o.zeros), func(i int) bool { return o.zeros[i].end > off })
	if i < len(o.zeros) && o.zeros[i].start < end {
		return true
	}
	j := sort.Search(len(o.keys), func(i int) bool { return o.keys[i]+logSectorSize > off })
	return j < len(o.keys) && o.keys[j] < end
}

// fileView reads the image file through the replayed log. Bytes past the
// real end of the file, up to size, read as zeros (a log may extend the
// file).
type fileView struct {
	r        io.ReaderAt
	realSize int64
	size     int64
	ov       *overlay
}

// verbatim reports whether [off, off+n) reads as the real file's bytes.
func (f *fileView) verbatim(off, n int64) bool {
	if off < 0 || n < 0 || off > f.realSize || n > f.realSize-off {
		return false
	}
	return f.ov == nil || !f.ov.touches(off, off+n)
}

func (f *fileView) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vhdx: negative file offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > f.size-off {
		p = p[:f.size-off]
	}
	n := 0
	if off < f.realSize {
		m := len(p)
		if int64(m) > f.realSize-off {
			m = int(f.realSize - off)
		}
		k, err := f.r.ReadAt(p[:m], off)
		if k < m {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return k, fmt.Errorf("vhdx: reading file at 0x%x: %w", off, err)
		}
		n = m
	}
	clear(p[n:])
	if f.ov != nil {
		f.ov.apply(p, off)
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// replayLog finds the active sequence of the log described by h and builds
// the overlay. The log is read from the raw file, never through an overlay.
func replayLog(r io.ReaderAt, size int64, h Header) (*overlay, LogState, []string, error) {
	st := LogState{Dirty: true, LogGUID: h.LogGuid.String()}
	if h.LogVersion != 0 {
		return nil, st, nil, errf("log: log version %d (only 0 is defined)", h.LogVersion)
	}
	L := uint64(h.LogLength)
	switch {
	case L == 0 || L%mib != 0:
		return nil, st, nil, errf("log: length 0x%x not a non-zero multiple of 1 MiB", L)
	case h.LogOffset%mib != 0 || h.LogOffset < headerSectionSize:
		return nil, st, nil, errf("log: offset 0x%x not a multiple of 1 MiB after the header section", h.LogOffset)
	case h.LogOffset > uint64(size) || L > uint64(size)-h.LogOffset:
		return nil, st, nil, errf("log: [0x%x, +0x%x) beyond end of file (0x%x bytes)", h.LogOffset, L, size)
	case L > maxLogLength:
		return nil, st, nil, errf("log: length 0x%x over the 0x%x bytes this reader replays", L, maxLogLength)
	}
	ring := &logRing{buf: make([]byte, L), guid: h.LogGuid, memo: make(map[uint32]bool)}
	if _, err := r.ReadAt(ring.buf, int64(h.LogOffset)); err != nil {
		return nil, st, nil, fmt.Errorf("vhdx: reading log at 0x%x: %w", h.LogOffset, err)
	}
	seq := ring.activeSequence()
	if seq == nil {
		msg := fmt.Sprintf("log: no valid log sequence for LogGuid %s", h.LogGuid)
		if ring.why != "" {
			msg += " (" + ring.why + ")"
		}
		return nil, st, nil, errf("%s", msg)
	}
	head := seq[len(seq)-1].hdr
	st.Entries = len(seq)
	st.FirstSequence = seq[0].hdr.SequenceNumber
	st.LastSequence = head.SequenceNumber
	var warn []string
	if uint64(size) < head.FlushedFileOffset {
		return nil, st, nil, errf("log: file is 0x%x bytes, shorter than the head entry's FlushedFileOffset 0x%x: truncated", size, head.FlushedFileOffset)
	}
	if head.LastFileOffset > maxLogFileOffset {
		return nil, st, nil, errf("log: head entry's LastFileOffset 0x%x beyond any file", head.LastFileOffset)
	}
	ov, n := buildOverlay(ring, seq)
	st.Bytes = n
	ov.end = max(ov.end, int64(head.LastFileOffset))
	ov.finish()
	st.Replayed = true
	return ov, st, warn, nil
}

// buildOverlay applies the descriptors of seq, in order, to a new overlay
// and returns it with the number of bytes written.
func buildOverlay(ring *logRing, seq []*logEntry) (*overlay, int64) {
	ov := newOverlay()
	var n int64
	for _, e := range seq {
		for _, d := range e.descs {
			if d.zero {
				ov.writeZero(int64(d.fileOffset), int64(d.fileOffset+d.zeroLength))
				n += int64(d.zeroLength)
				continue
			}
			b := make([]byte, logSectorSize)
			copy(b[0:8], d.leading[:])
			copy(b[8:4092], ring.buf[d.dataPos+8:d.dataPos+4092])
			copy(b[4092:], d.trailing[:])
			ov.writeData(int64(d.fileOffset), b)
			n += logSectorSize
		}
	}
	return ov, n
}
