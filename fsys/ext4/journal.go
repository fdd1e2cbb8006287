package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// jbd2 on-disk constants (big-endian structures).
const (
	jbdMagic = 0xC03B3998

	jbdDescriptor = 1
	jbdCommit     = 2
	jbdSuperV1    = 3
	jbdSuperV2    = 4
	jbdRevoke     = 5

	jbdCompatChecksum = 0x1 // v1 checksums: crc32_be in the commit block

	jbdIncompatRevoke      = 0x1
	jbdIncompat64bit       = 0x2
	jbdIncompatAsyncCommit = 0x4
	jbdIncompatCsumV2      = 0x8
	jbdIncompatCsumV3      = 0x10
	jbdIncompatFastCommit  = 0x20
	jbdIncompatKnown       = 0x3F

	jbdFlagEscape   = 1
	jbdFlagSameUUID = 2
	jbdFlagLastTag  = 8

	jbdCRC32Chksum  = 1 // h_chksum_type of a v1 checksum
	jbdCRC32CChksum = 4 // s_checksum_type of v2/v3 checksums

	jbdHeaderSize = 12
)

// JournalState tells what Open found in, and did with, the journal.
type JournalState struct {
	NeedsRecovery bool   // the superblock's needs_recovery flag was set
	Replayed      bool   // committed transactions were applied (in memory)
	Ignored       bool   // OpenOptions.IgnoreJournal: read as is
	External      bool   // the journal is on another device: read as is
	Error         string // why a journal needing recovery was not replayed
	Version       int    // journal superblock version (1 or 2)
	Features      uint32 // jbd2 incompatible features (s_feature_incompat)
	Transactions  int    // committed transactions replayed
	FirstSequence uint32 // sequence of the first replayed transaction
	EndSequence   uint32 // sequence after the last replayed transaction
	Blocks        int    // distinct file system blocks the replay replaces
	Revoked       int    // revoke records in the replayed transactions
	BadBlocks     int    // journal blocks skipped for a bad checksum
}

// jsuper is the part of journal_superblock_t recovery needs.
type jsuper struct {
	version        int
	blockSize      uint32
	maxLen         uint32
	first          uint32
	sequence       uint32
	start          uint32
	compat         uint32
	incompat       uint32
	uuid           [16]byte
	checksumType   uint8
	numFCBlocks    uint32
	checksum       uint32
	computedCsumOK bool
}

func parseJournalSuper(b []byte) (*jsuper, error) {
	if len(b) < 1024 {
		return nil, fmt.Errorf("superblock of %d bytes: %w", len(b), ErrFormat)
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != jbdMagic {
		return nil, fmt.Errorf("superblock magic %#08x, want %#08x: %w", m, jbdMagic, ErrFormat)
	}
	s := &jsuper{
		blockSize: be.Uint32(b[0xC:]),
		maxLen:    be.Uint32(b[0x10:]),
		first:     be.Uint32(b[0x14:]),
		sequence:  be.Uint32(b[0x18:]),
		start:     be.Uint32(b[0x1C:]),
	}
	switch t := be.Uint32(b[4:]); t {
	case jbdSuperV1:
		s.version = 1
	case jbdSuperV2:
		s.version = 2
		s.compat = be.Uint32(b[0x24:])
		s.incompat = be.Uint32(b[0x28:])
		copy(s.uuid[:], b[0x30:0x40])
		s.checksumType = b[0x50]
		s.numFCBlocks = be.Uint32(b[0x54:])
		s.checksum = be.Uint32(b[0xFC:])
		var c [4]byte
		cs := crc32c(^uint32(0), b[:0xFC])
		cs = crc32c(cs, c[:])
		cs = crc32c(cs, b[0x100:1024])
		s.computedCsumOK = cs == s.checksum
	default:
		return nil, fmt.Errorf("superblock block type %d, want 3 or 4: %w", t, ErrFormat)
	}
	return s, nil
}

// journal reads the log of an internal journal.
type journal struct {
	r        io.ReaderAt
	volSize  int64
	bs       int64
	fsBlocks uint64 // blocks of the file system (replay targets must lie below)
	runs     []run  // the journal inode's mapping
	sb       *jsuper
	first    uint64 // log area is [first, last)
	last     uint64
	tagBytes int
	csum     bool // v2 or v3
	v3       bool
	is64     bool
	seed     uint32
	state    JournalState
	buf      []byte
}

// phys is the volume block of journal block l.
func (j *journal) phys(l uint64) (uint64, error) {
	i, ok := findRun(j.runs, l)
	if !ok || j.runs[i].Uninit {
		return 0, fmt.Errorf("ext4: journal block %d: not mapped by the journal inode: %w", l, ErrFormat)
	}
	p := j.runs[i].Physical + l - j.runs[i].Logical
	if p >= j.fsBlocks || int64(p) >= j.volSize/j.bs {
		return 0, fmt.Errorf("ext4: journal block %d: at volume block %d, beyond the volume: %w", l, p, ErrFormat)
	}
	return p, nil
}

func (j *journal) read(l uint64, b []byte) error {
	p, err := j.phys(l)
	if err != nil {
		return err
	}
	n, err := j.r.ReadAt(b, int64(p)*j.bs)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("ext4: journal block %d (volume block %d): %w", l, p, err)
}

// wrap returns the log block after l.
func (j *journal) next(l uint64) uint64 {
	l++
	if l >= j.last {
		l = j.first + (l - j.last)
	}
	return l
}

// tag is one journal_block_tag(3)_t.
type tag struct {
	target uint64
	flags  uint32
	csum   uint32
}

// tags decodes the tags of descriptor block b.
func (j *journal) tags(b []byte, fn func(i int, t tag) error) (int, error) {
	be := binary.BigEndian
	end := len(b)
	if j.csum {
		end -= 4 // struct jbd2_journal_block_tail
	}
	off, n := jbdHeaderSize, 0
	for off+j.tagBytes <= end {
		t := tag{target: uint64(be.Uint32(b[off:]))}
		if j.v3 {
			t.flags = be.Uint32(b[off+4:])
			t.csum = be.Uint32(b[off+12:])
		} else {
			t.csum = uint32(be.Uint16(b[off+4:]))
			t.flags = uint32(be.Uint16(b[off+6:]))
		}
		if j.is64 {
			t.target |= uint64(be.Uint32(b[off+8:])) << 32
		}
		off += j.tagBytes
		if t.flags&jbdFlagSameUUID == 0 {
			off += 16 // the UUID; past the tag area, the loop ends (as the kernel's count_tags)
		}
		if err := fn(n, t); err != nil {
			return n, err
		}
		n++
		if t.flags&jbdFlagLastTag != 0 {
			return n, nil
		}
	}
	return n, nil
}

// tailOK checks the crc32c tail of a descriptor or revoke block.
func (j *journal) tailOK(b []byte) bool {
	if !j.csum {
		return true
	}
	var z [4]byte
	c := crc32c(j.seed, b[:len(b)-4])
	c = crc32c(c, z[:])
	return c == binary.BigEndian.Uint32(b[len(b)-4:])
}

// commitOK checks a commit block's checksum: csum v2/v3 crc32c, or the v1
// crc32_be of the transaction's descriptor and data blocks (sum).
func (j *journal) commitOK(b []byte, sum uint32) bool {
	be := binary.BigEndian
	found := be.Uint32(b[0x10:])
	if j.csum {
		var z [4]byte
		c := crc32c(j.seed, b[:0x10])
		c = crc32c(c, z[:])
		c = crc32c(c, b[0x14:])
		return c == found
	}
	if j.sb.compat&jbdCompatChecksum != 0 {
		typ, size := b[0xC], b[0xD]
		return typ == jbdCRC32Chksum && size == 4 && found == sum || typ == 0 && size == 0 && found == 0
	}
	return true
}

// dataOK checks a data block against its tag's checksum.
func (j *journal) dataOK(t tag, seq uint32, data []byte) bool {
	if !j.csum {
		return true
	}
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], seq)
	c := crc32c(crc32c(j.seed, s[:]), data)
	if j.v3 {
		return c == t.csum
	}
	return uint16(c) == uint16(t.csum)
}

// ovEntry redirects one file system block to a journal block.
type ovEntry struct {
	target uint64 // file system block
	phys   uint64 // volume block of its newest copy in the journal
	escape bool   // restore the magic number in its first 4 bytes
}

// overlay is the recovered state: file system blocks whose newest
// committed contents are in the journal. Immutable once built.
type overlay struct {
	bs   int64
	ents []ovEntry // sorted by target
}

// seqBefore reports a < b in the wrapping order of transaction IDs.
func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// Bounds on what a replay holds in memory: distinct blocks replaced and
// distinct blocks revoked (a 1 GiB journal of 4 KiB blocks, the largest
// mke2fs makes, holds 262,144 blocks; of 1 KiB blocks, 1,048,576).
const (
	maxReplayBlocks = 1 << 21
	maxRevoked      = 1 << 21
)

// loadJournal reads the internal journal of f (opened on the raw
// volume) and returns the overlay its committed transactions make.
func (f *FS) loadJournal() (*overlay, JournalState, error) {
	st := JournalState{NeedsRecovery: true}
	ino := f.sb.JournalInum
	in, err := f.inode(ino)
	if err != nil {
		return nil, st, fmt.Errorf("journal inode %d: %w", ino, err)
	}
	if in.Flags&flagInlineData != 0 || in.Mode&sIFMT != sIFREG {
		return nil, st, fmt.Errorf("ext4: journal inode %d: mode %#o flags %#x: not a regular file with blocks: %w", ino, in.Mode, in.Flags, ErrFormat)
	}
	runs, err := f.runsOf(in)
	if err != nil {
		return nil, st, fmt.Errorf("journal inode %d: %w", ino, err)
	}
	j := &journal{r: f.r, volSize: f.size, bs: f.bs, fsBlocks: f.sb.BlocksCount, runs: runs}
	j.buf = make([]byte, f.bs)
	if err := j.read(0, j.buf); err != nil {
		return nil, st, err
	}
	sb, err := parseJournalSuper(j.buf)
	if err != nil {
		return nil, st, fmt.Errorf("ext4: journal block 0: %w", err)
	}
	j.sb = sb
	st.Version, st.Features = sb.version, sb.incompat
	var mapped uint64
	for _, r := range runs {
		mapped = max(mapped, r.Logical+r.Length)
	}
	switch {
	case int64(sb.blockSize) != f.bs:
		return nil, st, fmt.Errorf("ext4: journal block 0: journal block size %d, file system's %d: %w", sb.blockSize, f.bs, ErrFormat)
	case sb.incompat&^jbdIncompatKnown != 0:
		return nil, st, fmt.Errorf("ext4: journal block 0: unknown incompatible journal features %#x: %w", sb.incompat&^jbdIncompatKnown, ErrUnsupported)
	case sb.incompat&(jbdIncompatCsumV2|jbdIncompatCsumV3) != 0 && !sb.computedCsumOK:
		return nil, st, fmt.Errorf("ext4: journal block 0: superblock checksum %#08x does not match: %w", sb.checksum, ErrFormat)
	case sb.incompat&(jbdIncompatCsumV2|jbdIncompatCsumV3) != 0 && sb.checksumType != jbdCRC32CChksum:
		return nil, st, fmt.Errorf("ext4: journal block 0: checksum type %d, want crc32c (4): %w", sb.checksumType, ErrUnsupported)
	case uint64(sb.maxLen) > mapped:
		return nil, st, fmt.Errorf("ext4: journal block 0: journal of %d blocks, its inode maps %d: %w", sb.maxLen, mapped, ErrFormat)
	case sb.first == 0 || sb.first >= sb.maxLen:
		return nil, st, fmt.Errorf("ext4: journal block 0: first log block %d outside 1..%d: %w", sb.first, sb.maxLen, ErrFormat)
	}
	j.first, j.last = uint64(sb.first), uint64(sb.maxLen)
	if sb.incompat&jbdIncompatFastCommit != 0 {
		// The fast-commit area ends the journal, after the log.
		n := uint64(sb.numFCBlocks)
		if n == 0 {
			n = 256 // JBD2_DEFAULT_FAST_COMMIT_BLOCKS
		}
		if n >= j.last-j.first {
			return nil, st, fmt.Errorf("ext4: journal block 0: %d fast-commit blocks in a journal of %d: %w", n, sb.maxLen, ErrFormat)
		}
		j.last -= n
	}
	j.is64 = sb.incompat&jbdIncompat64bit != 0
	j.v3 = sb.incompat&jbdIncompatCsumV3 != 0
	j.csum = j.v3 || sb.incompat&jbdIncompatCsumV2 != 0
	switch {
	case j.v3:
		j.tagBytes = 16 // journal_block_tag3_t, whether 64-bit or not
	default:
		j.tagBytes = 8
		if j.is64 {
			j.tagBytes = 12
		}
		if j.csum {
			j.tagBytes += 2
		}
	}
	if j.csum {
		j.seed = crc32c(^uint32(0), sb.uuid[:])
	}
	if sb.start == 0 {
		return nil, st, nil // an empty journal: nothing to replay
	}
	if uint64(sb.start) < j.first || uint64(sb.start) >= j.last {
		return nil, st, fmt.Errorf("ext4: journal block 0: log start %d outside %d..%d: %w", sb.start, j.first, j.last, ErrFormat)
	}
	ov, err := j.recover(&st)
	return ov, st, err
}

// recover runs the three passes of jbd2 recovery: scan (find the end of
// the committed log), revoke (collect revoke records) and replay (map
// each target block to its newest journal copy).
func (j *journal) recover(st *JournalState) (*overlay, error) {
	end, err := j.scan(st)
	if err != nil {
		return nil, err
	}
	st.FirstSequence, st.EndSequence = j.sb.sequence, end
	if end == j.sb.sequence {
		return nil, nil
	}
	revoked := map[uint64]uint32{}
	if err := j.walk(end, func(l uint64, typ, seq uint32, b []byte) error {
		if typ == jbdRevoke {
			return j.revokes(l, seq, b, revoked, st)
		}
		return nil
	}, nil); err != nil {
		return nil, err
	}
	newest := map[uint64]ovEntry{}
	data := make([]byte, j.bs)
	if err := j.walk(end, nil, func(dl uint64, seq uint32, t tag) error {
		if r, ok := revoked[t.target]; ok && !seqBefore(r, seq) {
			return nil
		}
		if t.target >= j.fsBlocks || int64(t.target) >= j.volSize/j.bs {
			return fmt.Errorf("ext4: journal block %d: transaction %d writes block %d, beyond the file system (%d blocks): %w", dl, seq, t.target, j.fsBlocks, ErrFormat)
		}
		if j.csum {
			if err := j.read(dl, data); err != nil {
				return err
			}
			if !j.dataOK(t, seq, data) {
				st.BadBlocks++
				return nil
			}
		}
		p, err := j.phys(dl)
		if err != nil {
			return err
		}
		if _, ok := newest[t.target]; !ok && len(newest) >= maxReplayBlocks {
			return fmt.Errorf("ext4: journal block %d: more than %d blocks to replay: %w", dl, maxReplayBlocks, ErrFormat)
		}
		newest[t.target] = ovEntry{target: t.target, phys: p, escape: t.flags&jbdFlagEscape != 0}
		return nil
	}); err != nil {
		return nil, err
	}
	ov := &overlay{bs: j.bs, ents: make([]ovEntry, 0, len(newest))}
	for _, e := range newest {
		ov.ents = append(ov.ents, e)
	}
	sort.Slice(ov.ents, func(a, b int) bool { return ov.ents[a].target < ov.ents[b].target })
	st.Blocks = len(ov.ents)
	return ov, nil
}

// scan finds the sequence after the last committed transaction.
func (j *journal) scan(st *JournalState) (uint32, error) {
	b := j.buf
	data := make([]byte, j.bs)
	seq := j.sb.sequence
	l := uint64(j.sb.start)
	logLen := j.last - j.first
	var visited uint64
	sum := ^uint32(0) // v1 crc32_be over the transaction's blocks
	v1 := !j.csum && j.sb.compat&jbdCompatChecksum != 0
	for {
		if visited >= logLen {
			return 0, fmt.Errorf("ext4: journal block %d: transaction %d: log runs past its own start (%d blocks): %w", l, seq, logLen, ErrFormat)
		}
		if err := j.read(l, b); err != nil {
			return 0, err
		}
		be := binary.BigEndian
		if be.Uint32(b) != jbdMagic || be.Uint32(b[8:]) != seq {
			return seq, nil
		}
		switch be.Uint32(b[4:]) {
		case jbdDescriptor:
			if !j.tailOK(b) {
				return seq, nil // a torn descriptor: the transaction did not commit
			}
			if v1 {
				sum = crc32be(sum, b)
			}
			n, err := j.tags(b, func(i int, t tag) error { return nil })
			if err != nil {
				return 0, err
			}
			if uint64(n)+1 > logLen-visited {
				return 0, fmt.Errorf("ext4: journal block %d: %d tags run past the log: %w", l, n, ErrFormat)
			}
			for range n {
				l = j.next(l)
				visited++
				if v1 {
					if err := j.read(l, data); err != nil {
						return 0, err
					}
					sum = crc32be(sum, data)
				}
			}
		case jbdCommit:
			if !j.commitOK(b, sum) {
				return seq, nil // an interrupted commit ends the log
			}
			sum = ^uint32(0)
			seq++
			st.Transactions++
		case jbdRevoke:
		default:
			return seq, nil
		}
		l = j.next(l)
		visited++
	}
}

// walk goes through the log again up to transaction end, calling block
// for revoke blocks and tag for every data block of a descriptor.
func (j *journal) walk(end uint32, block func(l uint64, typ, seq uint32, b []byte) error, tagFn func(dl uint64, seq uint32, t tag) error) error {
	b := make([]byte, j.bs)
	seq := j.sb.sequence
	l := uint64(j.sb.start)
	logLen := j.last - j.first
	for visited := uint64(0); seq != end; visited++ {
		if visited >= logLen {
			return fmt.Errorf("ext4: journal block %d: log runs past its own start: %w", l, ErrFormat)
		}
		if err := j.read(l, b); err != nil {
			return err
		}
		be := binary.BigEndian
		if be.Uint32(b) != jbdMagic || be.Uint32(b[8:]) != seq {
			return fmt.Errorf("ext4: journal block %d: changed between passes: %w", l, ErrFormat)
		}
		typ := be.Uint32(b[4:])
		switch typ {
		case jbdDescriptor:
			d := l
			n, err := j.tags(b, func(i int, t tag) error {
				d = j.next(d)
				if tagFn != nil {
					return tagFn(d, seq, t)
				}
				return nil
			})
			if err != nil {
				return err
			}
			visited += uint64(n)
			l = d
		case jbdCommit:
			seq++
		default:
			if block != nil {
				if err := block(l, typ, seq, b); err != nil {
					return err
				}
			}
		}
		l = j.next(l)
	}
	return nil
}

// revokes records the revoke block b of transaction seq.
func (j *journal) revokes(l uint64, seq uint32, b []byte, revoked map[uint64]uint32, st *JournalState) error {
	if !j.tailOK(b) {
		return fmt.Errorf("ext4: journal block %d: revoke block checksum does not match: %w", l, ErrFormat)
	}
	be := binary.BigEndian
	count := uint64(be.Uint32(b[12:]))
	limit := uint64(len(b))
	if j.csum {
		limit -= 4
	}
	if count < 16 || count > limit {
		return fmt.Errorf("ext4: journal block %d: revoke block of %d bytes (block holds %d): %w", l, count, limit, ErrFormat)
	}
	rsz := uint64(4)
	if j.is64 {
		rsz = 8
	}
	for off := uint64(16); off+rsz <= count; off += rsz {
		var blk uint64
		if j.is64 {
			blk = be.Uint64(b[off:])
		} else {
			blk = uint64(be.Uint32(b[off:]))
		}
		r, ok := revoked[blk]
		if !ok && len(revoked) >= maxRevoked {
			return fmt.Errorf("ext4: journal block %d: more than %d revoked blocks: %w", l, maxRevoked, ErrFormat)
		}
		if !ok || seqBefore(r, seq) {
			revoked[blk] = seq
		}
		st.Revoked++
	}
	return nil
}

// crc32be is the kernel's crc32_be(crc, p): big-endian CRC-32 (polynomial
// 0x04C11DB7), no inversion, used by jbd2's v1 commit checksums.
func crc32be(crc uint32, p []byte) uint32 {
	for _, c := range p {
		crc = crc32beTable[byte(crc>>24)^c] ^ crc<<8
	}
	return crc
}

var crc32beTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

// overlayReader reads the volume with the replayed blocks in place.
type overlayReader struct {
	r  io.ReaderAt
	ov *overlay
}

func (o *overlayReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.r.ReadAt(p, off)
	if n <= 0 {
		return n, err
	}
	bs := o.ov.bs
	end := off + int64(n)
	ents := o.ov.ents
	// first entry at or after the read's first block (no closure: this
	// is every read's path)
	first := uint64(off / bs)
	i, hi := 0, len(ents)
	for i < hi {
		m := int(uint(i+hi) >> 1)
		if ents[m].target < first {
			i = m + 1
		} else {
			hi = m
		}
	}
	var tmp []byte
	for ; i < len(ents) && int64(ents[i].target)*bs < end; i++ {
		e := ents[i]
		start := int64(e.target) * bs
		var blk []byte
		direct := start >= off && start+bs <= end
		if direct {
			blk = p[start-off : start-off+bs]
		} else {
			if tmp == nil {
				tmp = make([]byte, bs)
			}
			blk = tmp
		}
		if m, rerr := o.r.ReadAt(blk, int64(e.phys)*bs); m != len(blk) {
			if rerr == nil || rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("ext4: journal copy of block %d at volume block %d: %w", e.target, e.phys, rerr)
		}
		if e.escape {
			binary.BigEndian.PutUint32(blk, jbdMagic)
		}
		if !direct {
			lo, hi := max(start, off), min(start+bs, end)
			copy(p[lo-off:hi-off], blk[lo-start:hi-start])
		}
	}
	return n, err
}
