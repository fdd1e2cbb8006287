package ntfs

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
)

// stream is the content of one attribute (a $DATA stream, $INDEX_ALLOCATION,
// $ATTRIBUTE_LIST, …) assembled from all its pieces: resident bytes, or the
// runlists of every extent in VCN order.
type stream struct {
	v        *FS
	where    string
	resident []byte
	runs     []run
	nonRes   bool
	size     int64 // data size
	init     int64 // initialized size
	alloc    int64 // allocated size
	flags    uint16
	compUnit int64 // clusters per compression unit when LZNT1-compressed, else 0
	mapped   int64 // VCNs covered by runs

	mu      sync.Mutex // guards the decompressed unit cache
	cUnit   int64
	cBuf    []byte
	cValid  bool
	rawBuf  []byte
	cUnitsz int
}

// newStream assembles the attribute pieces (same type and name) into one
// stream. Pieces are sorted by starting VCN and must join without gaps.
func (v *FS) newStream(where string, pieces []*attribute) (*stream, error) {
	if len(pieces) == 0 {
		return nil, formatErr(where, "attribute missing")
	}
	s := &stream{v: v, where: where}
	if !pieces[0].NonResident {
		if len(pieces) > 1 {
			return nil, formatErr(where, "resident attribute split into %d pieces", len(pieces))
		}
		a := pieces[0]
		s.resident = a.Value
		s.size, s.init, s.alloc = int64(len(a.Value)), int64(len(a.Value)), int64(len(a.Value))
		s.flags = a.Flags
		return s, nil
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].StartVCN < pieces[j].StartVCN })
	first := pieces[0]
	if first.StartVCN != 0 {
		return nil, formatErr(where, "first extent starts at VCN %d, not 0", first.StartVCN)
	}
	s.nonRes = true
	s.size, s.init, s.alloc, s.flags = first.DataSize, first.InitializedSize, first.AllocatedSize, first.Flags
	next := int64(0)
	for _, p := range pieces {
		if !p.NonResident {
			return nil, formatErr(where, "resident and non-resident extents mixed")
		}
		if p.StartVCN != next {
			return nil, formatErr(where, "extent starts at VCN %d, expected %d (gap or overlap)", p.StartVCN, next)
		}
		s.runs = append(s.runs, p.Runs...)
		next = p.LastVCN + 1
	}
	// Runs must cover the extent ranges (a runlist may end early only when
	// the rest is unallocated, which we treat as sparse on read).
	if n := len(s.runs); n > 0 {
		s.mapped = s.runs[n-1].VCN + s.runs[n-1].Length
	}
	if s.size < 0 || s.init < 0 || s.alloc < 0 {
		return nil, formatErr(where, "negative size")
	}
	if s.init > s.size {
		s.init = s.size
	}
	if first.Flags&attrFlagCompressed != 0 && first.CompUnit != 0 {
		s.compUnit = int64(1) << first.CompUnit
	}
	return s, nil
}

// allocated returns the bytes the stream occupies on the volume.
func (s *stream) allocated() int64 {
	if !s.nonRes {
		return 0
	}
	var n int64
	for _, r := range s.runs {
		if r.LCN != sparseLCN {
			n += r.Length
		}
	}
	return n * s.v.boot.ClusterSize
}

// readVolume reads from the volume, turning a short read into an error.
func (v *FS) readVolume(p []byte, off int64) error {
	if off < 0 || off > v.size || int64(len(p)) > v.size-off {
		return fmt.Errorf("ntfs: read of %d bytes at volume offset 0x%x beyond the end of the volume (%d bytes)", len(p), off, v.size)
	}
	n, err := v.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("ntfs: reading volume at 0x%x: %w", off, err)
}

// ReadAt reads stream content; bytes past the initialized size are zeros.
func (s *stream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ntfs: %s: negative offset", s.where)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > s.size-off {
		p = p[:s.size-off]
	}
	var err error
	switch {
	case !s.nonRes:
		copy(p, s.resident[off:])
	case s.compUnit != 0:
		err = s.readCompressed(p, off)
	default:
		err = s.readPlain(p, off)
	}
	if err != nil {
		return 0, err
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

func (s *stream) readPlain(p []byte, off int64) error {
	cs := s.v.boot.ClusterSize
	for len(p) > 0 {
		if off >= s.init {
			clear(p)
			return nil
		}
		vcn := off / cs
		n := int64(len(p))
		if n > s.init-off {
			n = s.init - off
		}
		i := findRun(s.runs, vcn)
		if i < 0 {
			if vcn >= s.mapped {
				return formatErr(s.where, "offset %d (VCN %d) beyond the runlist (%d clusters mapped)", off, vcn, s.mapped)
			}
			return formatErr(s.where, "VCN %d not mapped", vcn)
		}
		r := s.runs[i]
		end := (r.VCN + r.Length) * cs
		if n > end-off {
			n = end - off
		}
		if r.LCN == sparseLCN {
			clear(p[:n])
		} else if err := s.v.readVolume(p[:n], r.LCN*cs+off-r.VCN*cs); err != nil {
			return fmt.Errorf("%w (%s)", err, s.where)
		}
		p = p[n:]
		off += n
	}
	return nil
}

// readCompressed reads an LZNT1-compressed stream, one compression unit at
// a time: a unit with no allocated cluster is zeros, a fully allocated unit
// is stored plainly, a partly allocated unit holds compressed data.
func (s *stream) readCompressed(p []byte, off int64) error {
	cs := s.v.boot.ClusterSize
	ub := s.compUnit * cs
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 {
		if off >= s.init {
			clear(p)
			return nil
		}
		u := off / ub
		if !s.cValid || s.cUnit != u {
			if err := s.loadUnit(u); err != nil {
				return err
			}
		}
		in := off - u*ub
		n := copy(p, s.cBuf[in:])
		if int64(n) > s.init-off {
			clear(p[s.init-off : n])
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// loadUnit decodes compression unit u into s.cBuf. s.mu is held.
func (s *stream) loadUnit(u int64) error {
	cs := s.v.boot.ClusterSize
	ub := s.compUnit * cs
	if s.cBuf == nil {
		s.cBuf = make([]byte, ub)
	}
	s.cValid = false
	vcn0 := u * s.compUnit
	// Gather the unit's allocated clusters.
	type seg struct{ lcn, n int64 }
	var segs [16]seg
	nseg, alloc := 0, int64(0)
	sparse := false
	for vcn := vcn0; vcn < vcn0+s.compUnit; {
		i := findRun(s.runs, vcn)
		if i < 0 {
			// Unmapped tail: treated as sparse.
			sparse = true
			break
		}
		r := s.runs[i]
		n := min(r.VCN+r.Length, vcn0+s.compUnit) - vcn
		if r.LCN == sparseLCN {
			sparse = true
		} else {
			if sparse {
				return formatErr(s.where, "compression unit %d: allocated clusters after sparse ones", u)
			}
			lcn := r.LCN + vcn - r.VCN
			if nseg > 0 && segs[nseg-1].lcn+segs[nseg-1].n == lcn {
				segs[nseg-1].n += n
			} else if nseg < len(segs) {
				segs[nseg] = seg{lcn, n}
				nseg++
			} else {
				return formatErr(s.where, "compression unit %d too fragmented", u)
			}
			alloc += n
		}
		vcn += n
	}
	switch {
	case alloc == 0:
		clear(s.cBuf)
	case alloc == s.compUnit || !sparse:
		// Stored uncompressed (or the runlist ends inside the last unit).
		pos := int64(0)
		for _, sg := range segs[:nseg] {
			if err := s.v.readVolume(s.cBuf[pos:pos+sg.n*cs], sg.lcn*cs); err != nil {
				return fmt.Errorf("%w (%s)", err, s.where)
			}
			pos += sg.n * cs
		}
		clear(s.cBuf[pos:])
	default:
		if s.v.lznt1 == nil {
			return &unsupportedError{s.where + ": LZNT1 decompressor not available"}
		}
		if int64(cap(s.rawBuf)) < alloc*cs {
			s.rawBuf = make([]byte, alloc*cs)
		}
		raw := s.rawBuf[:alloc*cs]
		pos := int64(0)
		for _, sg := range segs[:nseg] {
			if err := s.v.readVolume(raw[pos:pos+sg.n*cs], sg.lcn*cs); err != nil {
				return fmt.Errorf("%w (%s)", err, s.where)
			}
			pos += sg.n * cs
		}
		n, err := s.v.lznt1(s.cBuf, raw)
		if err != nil {
			return formatErr(s.where, "compression unit %d: %v", u, err)
		}
		if n < 0 || n > len(s.cBuf) {
			n = len(s.cBuf)
		}
		clear(s.cBuf[n:])
	}
	s.cUnit, s.cValid = u, true
	return nil
}

// readAll reads a whole stream of at most max bytes.
func (s *stream) readAll(max int64) ([]byte, error) {
	if s.size > max {
		return nil, formatErr(s.where, "size %d larger than the %d allowed", s.size, max)
	}
	b := make([]byte, s.size)
	if _, err := s.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}
