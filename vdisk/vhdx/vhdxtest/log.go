package vhdxtest

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// LogWrite is one update carried by a log entry.
type LogWrite struct {
	Offset     int64  // file offset, a multiple of 4 KiB
	Data       []byte // a multiple of 4 KiB: one data descriptor per 4 KiB
	ZeroLength int64  // if > 0: a zero descriptor of this length instead
}

// LogEntry is one log entry's updates.
type LogEntry struct{ Writes []LogWrite }

// LogOptions describe the log AddLog writes.
type LogOptions struct {
	Entries []LogEntry // the active sequence, tail first
	// Stale is an older, complete sequence with the same LogGuid and lower
	// sequence numbers, written before the active one: it must not be
	// replayed.
	Stale []LogEntry
	// Foreign entries carry another LogGuid (as Windows leaves old entries
	// behind): they must not be replayed.
	Foreign []LogEntry
	// Torn is an entry written right after the head, with the next
	// sequence number but a broken checksum: it must not be replayed.
	Torn *LogEntry
	// Wrap places the active sequence so that its head entry wraps around
	// the end of the log region.
	Wrap bool
	Seed string
}

const logSector = 4 * kib

func encodeEntry(seq uint64, tail uint32, guid [16]byte, flushed, last uint64, e LogEntry) ([]byte, error) {
	type desc struct {
		zero bool
		off  uint64
		n    uint64
		data []byte
	}
	var ds []desc
	for _, w := range e.Writes {
		if w.Offset%logSector != 0 {
			return nil, fmt.Errorf("vhdxtest: log write at 0x%x not 4 KiB aligned", w.Offset)
		}
		if w.ZeroLength > 0 {
			if w.ZeroLength%logSector != 0 {
				return nil, fmt.Errorf("vhdxtest: zero length 0x%x", w.ZeroLength)
			}
			ds = append(ds, desc{zero: true, off: uint64(w.Offset), n: uint64(w.ZeroLength)})
			continue
		}
		if len(w.Data)%logSector != 0 {
			return nil, fmt.Errorf("vhdxtest: log data of %d bytes", len(w.Data))
		}
		for i := 0; i < len(w.Data); i += logSector {
			ds = append(ds, desc{off: uint64(w.Offset) + uint64(i), data: w.Data[i : i+logSector]})
		}
	}
	nDesc := len(ds)
	descSectors := (nDesc + 2 + 127) / 128
	nData := 0
	for _, d := range ds {
		if !d.zero {
			nData++
		}
	}
	b := make([]byte, (descSectors+nData)*logSector)
	copy(b, "loge")
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[12:], tail)
	binary.LittleEndian.PutUint64(b[16:], seq)
	binary.LittleEndian.PutUint32(b[24:], uint32(nDesc))
	copy(b[32:], guid[:])
	binary.LittleEndian.PutUint64(b[48:], flushed)
	binary.LittleEndian.PutUint64(b[56:], last)
	k := descSectors
	for i, d := range ds {
		e := b[64+32*i:]
		binary.LittleEndian.PutUint64(e[16:], d.off)
		binary.LittleEndian.PutUint64(e[24:], seq)
		if d.zero {
			copy(e, "zero")
			binary.LittleEndian.PutUint64(e[8:], d.n)
			continue
		}
		copy(e, "desc")
		copy(e[4:8], d.data[4092:])
		copy(e[8:16], d.data[:8])
		s := b[k*logSector:]
		copy(s, "data")
		binary.LittleEndian.PutUint32(s[4:], uint32(seq>>32))
		copy(s[8:4092], d.data[8:4092])
		binary.LittleEndian.PutUint32(s[4092:], uint32(seq))
		k++
	}
	crc(b, 4)
	return b, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeEnds returns the end of the furthest write of entries.
func writeEnds(entries []LogEntry) int64 {
	var end int64
	for _, e := range entries {
		for _, w := range e.Writes {
			n := int64(len(w.Data))
			if w.ZeroLength > 0 {
				n = w.ZeroLength
			}
			end = max(end, w.Offset+n)
		}
	}
	return end
}

// AddLog copies the clean VHDX src to dst and makes it dirty: it writes
// the log entries o describes into dst's log region and sets a new LogGuid
// in both headers. The updates are not applied to dst (that is the reader's
// job); ApplyLog gives the file a correct replay produces.
func AddLog(src, dst string, o LogOptions) error {
	if err := copyFile(src, dst); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	hs := make([]byte, 2*64*kib)
	if _, err := f.ReadAt(hs, 64*kib); err != nil {
		return err
	}
	cur := hs[:4*kib]
	if binary.LittleEndian.Uint64(hs[64*kib+8:]) > binary.LittleEndian.Uint64(cur[8:]) {
		cur = hs[64*kib : 64*kib+4*kib]
	}
	h := append([]byte(nil), cur...)
	logLen := int64(binary.LittleEndian.Uint32(h[68:]))
	logOff := int64(binary.LittleEndian.Uint64(h[72:]))
	if logLen == 0 {
		return fmt.Errorf("vhdxtest: %s has no log region", src)
	}
	seed := o.Seed
	if seed == "" {
		seed = dst
	}
	guid := seededGUID(seed, "log")
	other := seededGUID(seed, "oldlog")
	flushed := uint64(size / mib * mib)
	last := uint64(alignUp(max(size, writeEnds(o.Entries)), mib))

	ring := make([]byte, logLen)
	if _, err := f.ReadAt(ring, logOff); err != nil {
		return err
	}
	put := func(pos int64, b []byte) {
		for i := int64(0); i < int64(len(b)); i += logSector {
			p := (pos + i) % logLen
			copy(ring[p:p+logSector], b[i:i+logSector])
		}
	}
	encodeAll := func(entries []LogEntry, seq0 uint64, pos int64, g [16]byte) (int64, error) {
		tail := uint32(pos % logLen)
		for i, e := range entries {
			b, err := encodeEntry(seq0+uint64(i), tail, g, flushed, last, e)
			if err != nil {
				return 0, err
			}
			put(pos, b)
			pos += int64(len(b))
		}
		return pos, nil
	}
	var lengths []int64
	for i, e := range o.Entries {
		b, err := encodeEntry(1000+uint64(i), 0, guid, flushed, last, e)
		if err != nil {
			return err
		}
		lengths = append(lengths, int64(len(b)))
	}
	var activeLen int64
	for _, n := range lengths {
		activeLen += n
	}
	pos := int64(0)
	var start int64
	if o.Wrap {
		if len(lengths) == 0 || lengths[len(lengths)-1] < 2*logSector {
			return fmt.Errorf("vhdxtest: Wrap needs a head entry of at least two sectors")
		}
		start = logLen - (activeLen - lengths[len(lengths)-1]) - logSector
		pos = lengths[len(lengths)-1] - logSector // past the wrapped part
		if o.Torn != nil {
			b, err := encodeEntry(1, 0, guid, flushed, last, *o.Torn)
			if err != nil {
				return err
			}
			pos += int64(len(b)) // room for the torn entry after the head
		}
	}
	if pos, err = encodeAll(o.Foreign, 1, pos, other); err != nil {
		return err
	}
	if pos, err = encodeAll(o.Stale, 500, pos, guid); err != nil {
		return err
	}
	if !o.Wrap {
		start = pos
	}
	end, err := encodeAll(o.Entries, 1000, start, guid)
	if err != nil {
		return err
	}
	if o.Torn != nil {
		b, err := encodeEntry(1000+uint64(len(o.Entries)), uint32(start%logLen), guid, flushed, last, *o.Torn)
		if err != nil {
			return err
		}
		b[len(b)-100] ^= 0xff // torn: the checksum no longer matches
		put(end, b)
		end += int64(len(b))
	}
	if end-start > logLen || (!o.Wrap && end > logLen) {
		return fmt.Errorf("vhdxtest: log entries of %d bytes do not fit in a log of %d", end-start, logLen)
	}
	if _, err := f.WriteAt(ring, logOff); err != nil {
		return err
	}
	// Both headers: new LogGuid, newer sequence numbers.
	seq := binary.LittleEndian.Uint64(h[8:])
	copy(h[48:64], guid[:])
	for i, off := range []int64{64 * kib, 128 * kib} {
		binary.LittleEndian.PutUint64(h[8:], seq+1+uint64(i))
		crc(h, 4)
		if _, err := f.WriteAt(h, off); err != nil {
			return err
		}
	}
	return f.Close()
}

// ApplyLog copies the clean VHDX src to dst and applies the active
// sequence's updates of o directly, as a correct replay would, extending
// the file where they reach past its end. dst stays clean (LogGuid zero).
func ApplyLog(src, dst string, o LogOptions) error {
	if err := copyFile(src, dst); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, e := range o.Entries {
		for _, w := range e.Writes {
			if w.ZeroLength > 0 {
				if _, err := f.WriteAt(make([]byte, w.ZeroLength), w.Offset); err != nil {
					return err
				}
				continue
			}
			if _, err := f.WriteAt(w.Data, w.Offset); err != nil {
				return err
			}
		}
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if n := alignUp(st.Size(), mib); n != st.Size() {
		if err := f.Truncate(n); err != nil {
			return err
		}
	}
	return f.Close()
}
