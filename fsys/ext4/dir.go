package ext4

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/grainvm/grain/fsys"
)

// Directory entry file types (ext4_dir_entry_2.file_type).
const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
	ftChr     = 3
	ftBlk     = 4
	ftFifo    = 5
	ftSock    = 6
	ftSymlink = 7
	ftCsum    = 0xDE // the checksum tail's fake entry
)

// dirent is one live directory entry.
type dirent struct {
	Safe  string // fsys.SafeName of the name as stored
	Inode uint32
	Type  uint8  // ft*, ftUnknown without the filetype feature
	pos   uint32 // order on disk
}

// dirList is a parsed directory, entries sorted by Safe name.
type dirList struct {
	entries  []dirent
	casefold bool
}

func (d *dirList) lookup(name string) (dirent, bool) {
	i := sort.Search(len(d.entries), func(i int) bool { return d.entries[i].Safe >= name })
	if i < len(d.entries) && d.entries[i].Safe == name {
		return d.entries[i], true
	}
	if d.casefold {
		for _, e := range d.entries {
			if strings.EqualFold(e.Safe, name) {
				return e, true
			}
		}
	}
	return dirent{}, false
}

func ftMode(t uint8) (fs.FileMode, bool) {
	switch t {
	case ftReg:
		return 0, true
	case ftDir:
		return fs.ModeDir, true
	case ftChr:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case ftBlk:
		return fs.ModeDevice, true
	case ftFifo:
		return fs.ModeNamedPipe, true
	case ftSock:
		return fs.ModeSocket, true
	case ftSymlink:
		return fs.ModeSymlink, true
	}
	return 0, false
}

// readDir parses directory inode in (cached).
func (f *FS) readDir(in *inode) (*dirList, error) {
	if d, ok := f.dirs.Get(in.Ino); ok {
		return d, nil
	}
	d, err := f.parseDir(in, nil)
	if err != nil {
		return nil, err
	}
	f.dirs.Put(in.Ino, d, len(d.entries)+1)
	return d, nil
}

// dirChunk is the most a directory read asks for at once.
const dirChunk = 256 << 10

// dirScratch is memory a caller parsing many directories lends to
// parseDir, to use again from one directory to the next.
type dirScratch struct {
	blocks []byte   // block reads
	names  []byte   // a block's plain names, end to end
	ends   []int32  // where each ends in names
	out    []dirent // the entries (returned: valid until the next parse)
}

// parseDir parses directory inode in, uncached. sc, if not nil, is scratch
// memory to use; the entries returned then live in it.
func (f *FS) parseDir(in *inode, sc *dirScratch) (*dirList, error) {
	if !in.isDir() {
		return nil, fmt.Errorf("ext4: inode %d is not a directory", in.Ino)
	}
	own := sc == nil
	if own {
		sc = &dirScratch{}
	}
	p := &dirParser{f: f, in: in, sc: sc}
	if own {
		// Room for the entries a directory this size usually holds
		// (names of a dozen bytes or so), so that the list seldom grows.
		p.out = make([]dirent, 0, min(in.Size/32, 1<<14))
	} else {
		p.out = sc.out[:0]
	}
	var err error
	if in.Flags&flagInlineData != 0 {
		err = p.inline()
	} else {
		err = p.blocks()
	}
	if err != nil {
		return nil, err
	}
	// Sorted by name; of entries with the same (safe) name the first on
	// disk is kept, the later ones are unreachable by path.
	es := p.out
	slices.SortFunc(es, func(a, b dirent) int {
		if c := strings.Compare(a.Safe, b.Safe); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	k := 0
	for i := range es {
		if k > 0 && es[k-1].Safe == es[i].Safe {
			continue
		}
		es[k] = es[i]
		k++
	}
	if !own {
		sc.out = es
	}
	return &dirList{entries: es[:k:k], casefold: in.Flags&flagCasefold != 0}, nil
}

type dirParser struct {
	f    *FS
	in   *inode
	seed uint32
	out  []dirent
	sc   *dirScratch
}

func (p *dirParser) inline() error {
	// i_block: 4-byte parent inode, then entries; system.data continues.
	if err := p.entries(p.in.Block[4:], func() string { return fmt.Sprintf("inode %d: inline directory", p.in.Ino) }); err != nil {
		return err
	}
	if more := p.f.inlineDataXattr(p.in); len(more) > 0 {
		return p.entries(more, func() string { return fmt.Sprintf("inode %d: inline directory (system.data)", p.in.Ino) })
	}
	return nil
}

func (p *dirParser) blocks() error {
	f := p.f
	rs, err := f.runsOf(p.in)
	if err != nil {
		return err
	}
	if f.hasCsum {
		p.seed = crc32cU32(crc32cU32(f.csumSeed, p.in.Ino), p.in.Generation)
	}
	nblocks := (uint64(p.in.Size) + uint64(f.bs) - 1) / uint64(f.bs)
	buf := p.sc.blocks
	perRead := uint64(dirChunk / f.bs)
	if perRead == 0 {
		perRead = 1
	}
	for _, r := range rs {
		if r.Uninit || r.Logical >= nblocks {
			continue
		}
		end := min(r.Length, nblocks-r.Logical)
		// Whole runs at once (up to dirChunk): one read, not one per block.
		for k := uint64(0); k < end; {
			n := min(end-k, perRead)
			need := int(n) * int(f.bs)
			if cap(buf) < need {
				buf = make([]byte, need)
			}
			b := buf[:need]
			phys := r.Physical + k
			if err := f.readAt(b, int64(phys)*f.bs); err != nil {
				return fmt.Errorf("ext4: directory inode %d: block %d: %w", p.in.Ino, phys, err)
			}
			for j := uint64(0); j < n; j++ {
				if err := p.block(b[j*uint64(f.bs):(j+1)*uint64(f.bs)], r.Logical+k+j, phys+j); err != nil {
					return err
				}
			}
			k += n
		}
	}
	p.sc.blocks = buf
	return nil
}

// block parses one directory block (a leaf, or an htree node whose only
// visible entries are the fake empty ones that cover it).
func (p *dirParser) block(b []byte, lblk, phys uint64) error {
	le := binary.LittleEndian
	where := func() string { return fmt.Sprintf("directory inode %d: block %d", p.in.Ino, phys) }
	end := len(b)
	if p.isDx(b, lblk) {
		// An htree root or interior node: its entries are hidden behind
		// "..", or one empty entry, covering the block. Stale bytes of a
		// former leaf may still look like a checksum tail: no tail here.
		if p.f.hasCsum {
			p.checkDx(b, lblk, where)
		}
	} else if n := len(b); n >= 12 && le.Uint32(b[n-12:]) == 0 && le.Uint16(b[n-8:]) == 12 && b[n-6] == 0 && b[n-5] == ftCsum {
		end = n - 12
		if p.f.hasCsum {
			if c, want := crc32c(p.seed, b[:end]), le.Uint32(b[n-4:]); c != want {
				p.f.warnf("%s: checksum %#08x, computed %#08x", where(), want, c)
			}
		}
	} else if p.f.hasCsum {
		p.f.warnf("%s: no checksum tail", where())
	}
	return p.entries(b[:end], where)
}

// isDx reports whether a directory block is an htree root (block 0 of an
// indexed directory) or an interior node (one empty entry spanning it).
func (p *dirParser) isDx(b []byte, lblk uint64) bool {
	le := binary.LittleEndian
	if len(b) < 0x28 || p.in.Flags&flagIndex == 0 {
		return false
	}
	if lblk == 0 {
		return true
	}
	return le.Uint32(b) == 0 && int(le.Uint16(b[4:])) == len(b) && b[6] == 0
}

// checkDx verifies the checksum of an htree root or interior node.
func (p *dirParser) checkDx(b []byte, lblk uint64, where func() string) {
	le := binary.LittleEndian
	if len(b) < 0x28 {
		return
	}
	countOff := 8 // after the empty entry of an interior node
	if lblk == 0 {
		countOff = 0x18 + int(b[0x1D]) // after dx_root_info (info_length)
	}
	if countOff+4 > len(b) {
		return
	}
	limit, count := int(le.Uint16(b[countOff:])), int(le.Uint16(b[countOff+2:]))
	tail := countOff + limit*8
	if count > limit || tail+8 > len(b) {
		p.f.warnf("%s: htree node: count %d, limit %d do not fit", where(), count, limit)
		return
	}
	c := crc32c(p.seed, b[:countOff+count*8])
	c = crc32c(c, b[tail:tail+4])
	c = crc32c(c, []byte{0, 0, 0, 0}) // dt_checksum, as zero
	if want := le.Uint32(b[tail+4:]); c != want {
		p.f.warnf("%s: htree node checksum %#08x, computed %#08x", where(), want, c)
	}
}

// entries parses a run of ext4_dir_entry_2 records filling b.
func (p *dirParser) entries(b []byte, where func() string) error {
	le := binary.LittleEndian
	filetype := p.f.sb.FeatureIncompat&incompatFiletype != 0
	// The names are substrings of one string holding this block's names:
	// one allocation per block, not one per name.
	first := len(p.out)
	sc := p.sc
	sc.names = sc.names[:0]
	for off := 0; off < len(b); {
		if off+8 > len(b) {
			return fmt.Errorf("ext4: %s: entry at %#x: header runs past the block: %w", where(), off, ErrFormat)
		}
		ino := le.Uint32(b[off:])
		recLen := int(le.Uint16(b[off+4:]))
		if p.f.bs == 65536 && (recLen == 65535 || recLen == 0) && off == 0 {
			recLen = 65536
		}
		nameLen := int(b[off+6])
		typ := b[off+7]
		if !filetype {
			nameLen |= int(typ) << 8
			typ = ftUnknown
		}
		if recLen < 8 || recLen%4 != 0 || off+recLen > len(b) {
			return fmt.Errorf("ext4: %s: entry at %#x: rec_len %d: %w", where(), off, recLen, ErrFormat)
		}
		if ino != 0 {
			if 8+nameLen > recLen {
				return fmt.Errorf("ext4: %s: entry at %#x: name of %d bytes exceeds rec_len %d: %w", where(), off, nameLen, recLen, ErrFormat)
			}
			if nb := b[off+8 : off+8+nameLen]; !(nameLen == 1 && nb[0] == '.' || nameLen == 2 && nb[0] == '.' && nb[1] == '.') {
				e := dirent{Inode: ino, Type: typ, pos: uint32(len(p.out))}
				if nameLen == 0 || bytes.IndexByte(nb, '/') >= 0 || bytes.IndexByte(nb, 0) >= 0 {
					e.Safe = fsys.SafeName(string(nb))
					e.pos |= 1 << 31 // named already
				} else {
					// Named below, from p.names.
					sc.names = append(sc.names, nb...)
					sc.ends = append(sc.ends, int32(len(sc.names)))
				}
				p.out = append(p.out, e)
			}
		}
		off += recLen
	}
	all := string(sc.names)
	start, k := 0, 0
	for i := first; i < len(p.out); i++ {
		e := &p.out[i]
		if e.pos&(1<<31) != 0 {
			e.pos &^= 1 << 31
			continue
		}
		end := int(sc.ends[k])
		e.Safe = all[start:end]
		start, k = end, k+1
	}
	sc.ends = sc.ends[:0]
	return nil
}
