package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/grainvm/grain/fsys"
)

// walkReadSize is how much of the $MFT Walk reads at once.
const walkReadSize = 1 << 20

// maxWalkWorkers bounds the goroutines that parse the $MFT in a Walk.
const maxWalkWorkers = 8

// Kinds of walkRec.
const (
	wrUnused   = iota // never used, deleted, or an extension record
	wrFast            // described by its walkRec alone
	wrSlow            // described by a *fileInfo makeInfo made
	wrDeferred        // has an $ATTRIBUTE_LIST: read after the pass
)

// walkRec bits.
const (
	wrDir    = 1 << iota // record header: a directory
	wrV3                 // $STANDARD_INFORMATION has the NTFS 3 fields
	wrData               // has an unnamed $DATA
	wrListed             // has an attribute list: its names are in the last chunk
	wrPlain              // its extents map all its unnamed $DATA: OpenInfo reads by them
)

// walkRec is what a Walk keeps of one MFT record, indexed by record
// number. It holds no pointers (the garbage collector need not scan the
// table), and for an ordinary file it holds all makeInfo would report:
// the FileInfo is made from it only when fn is called.
type walkRec struct {
	times   [4]uint64 // $STANDARD_INFORMATION creation, modification, MFT change, access
	usn     uint64
	size    int64  // unnamed $DATA size
	alloc   int64  // unnamed $DATA allocated bytes
	ext     uint64 // first extent in its chunk's extents
	names   uint64 // first name in its chunk's names
	nNames  uint32
	nExt    uint32
	attrs   uint32 // FILE_ATTRIBUTE_* of $STANDARD_INFORMATION
	secID   uint32
	ownerID uint32
	seq     uint16
	kind    uint8
	bits    uint8
}

// walkName is one $FILE_NAME of a record, its text in its chunk's arena.
type walkName struct {
	rec    uint64
	parent fileRef
	off    uint64
	n      uint32
	ns     uint8
	plain  bool // fsys.SafeName leaves the name as it is
}

// walkScan is the result of one pass over the $MFT.
type walkScan struct {
	recs []walkRec
	// What the records of each piece of the $MFT read (perChunk records)
	// name and map, kept as the piece's parser left it (gathering them
	// into one table would copy them and hold both at once); the last
	// chunk holds the names of records with an attribute list.
	chunks   []walkChunk
	perChunk uint64
	slow     map[uint64]*fileInfo
	// kids of directory d are the names kids[start[d]:start[d+1]].
	start []uint32
	kids  []nameRef
}

// walkChunk holds the names and extents of the records of one chunk; the
// offsets in its walkRecs and walkNames are into these.
type walkChunk struct {
	names   []walkName
	arena   string
	extents []fsys.Extent
}

// nameRef is a name in a chunk.
type nameRef struct{ chunk, i uint32 }

// chunkOf returns the chunk holding record num's names and extents.
func (sc *walkScan) chunkOf(num uint64) *walkChunk {
	if sc.recs[num].bits&wrListed != 0 {
		return &sc.chunks[len(sc.chunks)-1]
	}
	return &sc.chunks[num/sc.perChunk]
}

// name returns the walkName ref points to and its text.
func (sc *walkScan) name(ref nameRef) (*walkName, string) {
	c := &sc.chunks[ref.chunk]
	n := &c.names[ref.i]
	return n, c.arena[n.off : n.off+uint64(n.n)]
}

// walkChunkOut is what parsing one chunk of the $MFT adds; offsets in
// it (walkRec.names/ext, walkName.off) are relative to the chunk.
type walkChunkOut struct {
	names    []walkName
	arena    []byte
	extents  []fsys.Extent
	slow     []slowInfo
	deferred []uint64
	err      error
}

type slowInfo struct {
	num uint64
	fi  *fileInfo
}

// Walk calls fn for root and everything below it. It reads the whole $MFT
// sequentially in large pieces (parsed on several goroutines) and builds
// the tree from each record's $FILE_NAME parents, instead of descending
// directory by directory. Links are reported, not followed; metadata
// files in the root are not listed.
func (v *FS) Walk(root string, fn func(path string, info fs.FileInfo) error) error {
	rootIno, base, err := v.resolve("walk", root)
	if err != nil {
		return err
	}
	rootInfo := v.makeInfo(rootIno, base)
	if err := fn(root, rootInfo); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	if !rootInfo.IsDir() {
		return nil
	}
	sc, err := v.scanMFT()
	if err != nil {
		return err
	}
	w := &walker{
		v:       v,
		sc:      sc,
		fn:      fn,
		visited: make([]bool, len(sc.recs)),
		stamp:   make([]uint32, len(sc.recs)),
		strs:    map[uint32]string{},
	}
	err = w.dir(rootIno.num, root)
	if err == fs.SkipAll {
		return nil
	}
	return err
}

// walker is the state of the tree walk after the scan.
type walker struct {
	v       *FS
	sc      *walkScan
	fn      func(string, fs.FileInfo) error
	visited []bool
	stamp   []uint32 // stamp[r] == gen: r has a non-DOS name in the directory listed
	gen     uint32
	stack   []walkEnt // the entries of the directories being listed
	strs    map[uint32]string
	slab    []walkInfo
}

type walkEnt struct {
	name string
	rec  uint64
}

func (w *walker) dir(dir uint64, path string) error {
	if dir >= uint64(len(w.visited)) || w.visited[dir] {
		return nil
	}
	w.visited[dir] = true
	sc := w.sc
	list := sc.kids[sc.start[dir]:sc.start[dir+1]]
	// Hide DOS names where a long name exists here; hide metadata files
	// in the root.
	w.gen++
	gen := w.gen
	for _, ref := range list {
		if c, _ := sc.name(ref); c.ns != nsDOS {
			w.stamp[c.rec] = gen
		}
	}
	base := len(w.stack)
	defer func() { w.stack = w.stack[:base] }()
	for _, ref := range list {
		c, name := sc.name(ref)
		if c.ns == nsDOS && w.stamp[c.rec] == gen || c.rec == dir || dir == recRoot && c.rec < firstUserRecord {
			continue
		}
		if k := sc.recs[c.rec].kind; k != wrFast && k != wrSlow {
			continue
		}
		if !c.plain {
			name = fsys.SafeName(name)
		}
		w.stack = append(w.stack, walkEnt{name, c.rec})
	}
	end := len(w.stack)
	slices.SortFunc(w.stack[base:end], func(a, b walkEnt) int { return strings.Compare(a.name, b.name) })
	for k := base; k < end; k++ {
		e := w.stack[k]
		p := e.name
		if path != "." {
			p = path + "/" + e.name
		}
		fi := w.info(e.rec, e.name)
		err := w.fn(p, fi)
		if err == fs.SkipDir {
			if fi.IsDir() {
				continue
			}
			return nil
		}
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if err := w.dir(e.rec, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkSlab is how many walkInfos are allocated at once (fewer, larger
// allocations; a FileInfo fn keeps holds its slab).
const walkSlab = 32

// walkInfo is the FileInfo of a record the scan's fast path described:
// its Meta, name and mode, and a few Extra facts, allocated together and
// no more (Size and ModTime are the Meta's).
type walkInfo struct {
	m    fsys.Meta
	name string
	mode fs.FileMode
	kv   [4]fsys.KV
	// v made the info; plain: m.Extents map every byte of the content
	// (see wrPlain), so that v's OpenInfo reads by them.
	v     *FS
	plain bool
}

func (x *walkInfo) Name() string       { return x.name }
func (x *walkInfo) Size() int64        { return x.m.Size }
func (x *walkInfo) Mode() fs.FileMode  { return x.mode }
func (x *walkInfo) ModTime() time.Time { return x.m.Modify }
func (x *walkInfo) IsDir() bool        { return x.mode.IsDir() }
func (x *walkInfo) Sys() any           { return &x.m }

// info makes the FileInfo of record num under name: what makeInfo gives
// for the record.
func (w *walker) info(num uint64, name string) fs.FileInfo {
	sc := w.sc
	r := &sc.recs[num]
	if r.kind == wrSlow {
		cp := *sc.slow[num]
		cp.name = name
		return &cp
	}
	if len(w.slab) == 0 {
		w.slab = make([]walkInfo, walkSlab)
	}
	x := &w.slab[0]
	w.slab = w.slab[1:]
	m := &x.m
	x.name, x.v = name, w.v
	m.Inode, m.Generation = num, uint32(r.seq)
	m.Birth, m.Modify, m.Change, m.Access = ntfsTime(r.times[0]), ntfsTime(r.times[1]), ntfsTime(r.times[2]), ntfsTime(r.times[3])
	m.Attributes = r.attrs
	dir := r.bits&wrDir != 0
	if dir {
		m.Attributes |= FileAttributeDirectory
	}
	extra := x.kv[:0]
	if r.bits&wrV3 != 0 {
		extra = append(extra,
			fsys.KV{Key: "security_id", Value: w.itoa(r.secID)},
			fsys.KV{Key: "owner_id", Value: w.itoa(r.ownerID)},
			fsys.KV{Key: "usn", Value: strconv.FormatUint(r.usn, 10)})
	}
	chunk := sc.chunkOf(num)
	for _, n := range chunk.names[r.names : r.names+uint64(r.nNames)] {
		if n.ns != nsDOS {
			m.Nlink++
		}
		if n.ns == nsDOS || n.ns == nsWin32DOS {
			extra = append(extra, fsys.KV{Key: "short_name", Value: chunk.arena[n.off : n.off+uint64(n.n)]})
		}
	}
	if len(extra) > 0 {
		m.Extra = extra[:len(extra):len(extra)]
	}
	if dir {
		x.mode = fs.ModeDir | 0o555
	} else {
		x.mode = 0o444
		if r.bits&wrData != 0 {
			m.Size = r.size
			m.Allocated = r.alloc
			if r.nExt > 0 {
				m.Extents = chunk.extents[r.ext : r.ext+uint64(r.nExt) : r.ext+uint64(r.nExt)]
			}
			x.plain = r.bits&wrPlain != 0
		}
	}
	return x
}

// itoa formats a security or owner ID, remembering the few a volume uses.
func (w *walker) itoa(n uint32) string {
	if s, ok := w.strs[n]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(n), 10)
	if len(w.strs) < 4096 {
		w.strs[n] = s
	}
	return s
}

// scanMFT reads every record in use: what the walk reports of each base
// record, and the names each directory holds.
func (v *FS) scanMFT() (*walkScan, error) {
	// The table below has an entry per record: a $MFT larger than the
	// volume (sparse, so hostile) is refused rather than allocated for.
	if v.records > uint64(v.size/v.recSize) {
		return nil, formatErr("$MFT", "%d records of %d bytes: more than the volume's %d bytes hold", v.records, v.recSize, v.size)
	}
	perChunk := uint64(max(int64(1), walkReadSize/v.recSize))
	nChunks := (v.records + perChunk - 1) / perChunk
	sc := &walkScan{recs: make([]walkRec, v.records), perChunk: perChunk, slow: map[uint64]*fileInfo{}}
	// What each chunk's parse gave.
	type chunkDone struct {
		chunk    walkChunk
		slow     []slowInfo
		deferred []uint64
		err      error
	}
	outs := make([]chunkDone, nChunks)
	workers := min(uint64(runtime.GOMAXPROCS(0)), nChunks, maxWalkWorkers)
	var next, failed atomic.Uint64
	failed.Store(nChunks)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, perChunk*uint64(v.recSize))
			var runs []run
			// Each chunk's output is gathered here, then copied out at its
			// size.
			var scratch walkChunkOut
			for {
				k := next.Add(1) - 1
				if k >= nChunks || k > failed.Load() {
					return
				}
				first := k * perChunk
				n := min(perChunk, v.records-first)
				scratch.names, scratch.arena, scratch.extents = scratch.names[:0], scratch.arena[:0], scratch.extents[:0]
				scratch.slow, scratch.deferred = nil, nil
				err := v.scanChunk(buf[:int64(n)*v.recSize], first, sc.recs[first:first+n], &scratch, &runs)
				outs[k] = chunkDone{
					chunk: walkChunk{
						names:   slices.Clone(scratch.names),
						arena:   string(scratch.arena),
						extents: slices.Clone(scratch.extents),
					},
					slow:     scratch.slow,
					deferred: scratch.deferred,
					err:      err,
				}
				if err != nil {
					for {
						cur := failed.Load()
						if k >= cur || failed.CompareAndSwap(cur, k) {
							break
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	sc.chunks = make([]walkChunk, nChunks+1)
	var deferred []uint64
	nNames := 0
	for k := range outs {
		out := &outs[k]
		if out.err != nil {
			return nil, out.err
		}
		sc.chunks[k] = out.chunk
		nNames += len(out.chunk.names)
		for _, s := range out.slow {
			sc.slow[s.num] = s.fi
		}
		deferred = append(deferred, out.deferred...)
	}
	outs = nil
	// Records with an attribute list, read whole now: their names go to
	// the last chunk.
	last := &sc.chunks[nChunks]
	var arena []byte
	for _, num := range deferred {
		ino, err := v.inode(num)
		if err != nil {
			return nil, err
		}
		r := &sc.recs[num]
		r.names, r.nNames = uint64(len(last.names)), 0
		r.bits |= wrListed
		for _, fn := range ino.fileNames() {
			last.names = append(last.names, walkName{rec: num, parent: fn.Parent, off: uint64(len(arena)), n: uint32(len(fn.Name)), ns: fn.Namespace, plain: fsys.SafeName(fn.Name) == fn.Name})
			arena = append(arena, fn.Name...)
			r.nNames++
		}
		sc.slow[num] = stripInfo(v.makeInfo(ino, ""))
		r.kind = wrSlow
	}
	last.arena = string(arena)
	nNames += len(last.names)
	if uint64(nNames) >= 1<<32-1 || uint64(len(sc.chunks)) >= 1<<32-1 {
		return nil, formatErr("$MFT", "%d file names: too many to walk", nNames)
	}
	// The names each directory holds, in record order (a counting sort
	// by parent), leaving out orphans: names whose parent is gone or was
	// reused.
	sc.start = make([]uint32, v.records+1)
	keep := func(nm *walkName) (uint64, bool) {
		parent := nm.parent.record()
		if parent >= v.records {
			return 0, false
		}
		pr := &sc.recs[parent]
		if pr.kind == wrUnused || nm.parent.seq() != 0 && pr.seq != nm.parent.seq() {
			return 0, false
		}
		if parent == nm.rec && parent != recRoot {
			return 0, false
		}
		return parent, true
	}
	for k := range sc.chunks {
		for i := range sc.chunks[k].names {
			if p, ok := keep(&sc.chunks[k].names[i]); ok {
				sc.start[p+1]++
			}
		}
	}
	for i := uint64(1); i <= v.records; i++ {
		sc.start[i] += sc.start[i-1]
	}
	sc.kids = make([]nameRef, sc.start[v.records])
	fill := slices.Clone(sc.start[:v.records])
	for k := range sc.chunks {
		for i := range sc.chunks[k].names {
			if p, ok := keep(&sc.chunks[k].names[i]); ok {
				sc.kids[fill[p]] = nameRef{uint32(k), uint32(i)}
				fill[p]++
			}
		}
	}
	return sc, nil
}

// scanChunk reads the records first… of the $MFT into b and describes
// each record in use in recs.
func (v *FS) scanChunk(b []byte, first uint64, recs []walkRec, out *walkChunkOut, runs *[]run) error {
	if _, err := v.mft.ReadAt(b, int64(first)*v.recSize); err != nil && err != io.EOF {
		return fmt.Errorf("ntfs: reading $MFT at record %d: %w", first, err)
	}
	for i := range recs {
		num := first + uint64(i)
		rb := b[int64(i)*v.recSize : int64(i+1)*v.recSize : int64(i+1)*v.recSize]
		if string(rb[0:4]) != "FILE" || rb[0x16]&recordInUse == 0 {
			continue // never used, or deleted
		}
		if v.scanFast(rb, num, &recs[i], out, runs) {
			continue
		}
		recs[i] = walkRec{}
		if err := v.scanSlow(num, &recs[i], out); err != nil {
			return err
		}
	}
	return nil
}

// scanSlow describes record num through parseRecord and makeInfo, reading
// it again (scanFast changed the copy in the chunk).
func (v *FS) scanSlow(num uint64, r *walkRec, out *walkChunkOut) error {
	b := make([]byte, v.recSize)
	if _, err := v.mft.ReadAt(b, int64(num)*v.recSize); err != nil && err != io.EOF {
		return fmt.Errorf("ntfs: reading $MFT at record %d: %w", num, err)
	}
	rec, err := parseRecord(b, num, v.clusters)
	if err != nil {
		return err
	}
	if rec.Base != 0 {
		return nil // extension records are read with their base
	}
	ino := &inode{num: num, seq: rec.Seq, flags: rec.Flags, v: v}
	hasList := false
	for j := range rec.Attrs {
		ino.attrs = append(ino.attrs, &rec.Attrs[j])
		if rec.Attrs[j].Type == attrAttributeList {
			hasList = true
		}
	}
	r.seq = rec.Seq
	if hasList {
		r.kind = wrDeferred
		out.deferred = append(out.deferred, num)
		return nil
	}
	r.names = uint64(len(out.names))
	for _, fn := range ino.fileNames() {
		out.names = append(out.names, walkName{rec: num, parent: fn.Parent, off: uint64(len(out.arena)), n: uint32(len(fn.Name)), ns: fn.Namespace, plain: fsys.SafeName(fn.Name) == fn.Name})
		out.arena = append(out.arena, fn.Name...)
		r.nNames++
	}
	r.kind = wrSlow
	out.slow = append(out.slow, slowInfo{num, stripInfo(v.makeInfo(ino, ""))})
	return nil
}

// scanFast describes the in-use record num held in b from its bytes
// alone, without allocating, when it is an ordinary file or directory
// (no attribute list, named stream, object ID, extended attributes,
// reparse point, encryption or compression) and parseRecord would accept
// it; it reports false otherwise, for scanSlow. An extension record
// leaves r unused.
func (v *FS) scanFast(b []byte, num uint64, r *walkRec, out *walkChunkOut, runs *[]run) bool {
	n0, a0, e0 := len(out.names), len(out.arena), len(out.extents)
	if v.scanAttrs(b, num, r, out, runs) {
		return true
	}
	out.names, out.arena, out.extents = out.names[:n0], out.arena[:a0], out.extents[:e0]
	return false
}

func (v *FS) scanAttrs(b []byte, num uint64, r *walkRec, out *walkChunkOut, runs *[]run) bool {
	le := binary.LittleEndian
	if len(b) < 48 || applyFixups(b, "") != nil {
		return false
	}
	flags := le.Uint16(b[0x16:])
	attrOfs := int(le.Uint16(b[0x14:]))
	used := int(le.Uint32(b[0x18:]))
	if used > len(b) || used < 0 {
		return false
	}
	if attrOfs < 0x2A || attrOfs > used-4 || attrOfs%8 != 0 && attrOfs%2 != 0 {
		return false
	}
	dir := flags&recordDirectory != 0
	n0, e0 := len(out.names), len(out.extents)
	var si standardInformation
	haveSI, haveData := false, false
	var size, alloc int64
	plain := false
	for ofs := attrOfs; ; {
		if ofs+4 > used {
			return false
		}
		typ := le.Uint32(b[ofs:])
		if typ == attrEnd {
			break
		}
		if ofs+16 > used {
			return false
		}
		alen := int(le.Uint32(b[ofs+4:]))
		if alen < 16 || alen%8 != 0 || ofs+alen > used {
			return false
		}
		a := b[ofs : ofs+alen]
		ofs += alen
		switch typ {
		case attrAttributeList, attrObjectID, attrEAInformation, attrReparsePoint, attrLoggedUtilityStream:
			return false
		}
		nameLen, nameOfs := int(a[9]), int(le.Uint16(a[0x0A:]))
		aflags := le.Uint16(a[0x0C:])
		if nameLen > 0 && nameOfs+2*nameLen > len(a) {
			return false
		}
		if typ == attrData && (nameLen > 0 || haveData || aflags&attrFlagEncrypted != 0) {
			return false
		}
		if a[8] == 0 { // resident
			if len(a) < 0x18 {
				return false
			}
			vlen, vofs := int(le.Uint32(a[0x10:])), int(le.Uint16(a[0x14:]))
			if vofs > len(a) || vlen > len(a)-vofs {
				return false
			}
			val := a[vofs : vofs+vlen]
			switch typ {
			case attrStandardInformation:
				if !haveSI {
					si, _ = parseStandardInformation(val)
					haveSI = true
				}
			case attrFileName:
				if len(val) < 0x42 {
					break
				}
				n := int(val[0x40])
				if 0x42+2*n > len(val) {
					break
				}
				off := len(out.arena)
				var plain bool
				out.arena, plain = appendUTF16(out.arena, val[0x42:0x42+2*n])
				name := out.arena[off:]
				plain = plain && len(name) > 0 && string(name) != "." && string(name) != ".."
				out.names = append(out.names, walkName{
					rec: num, parent: fileRef(le.Uint64(val)), ns: val[0x41],
					off: uint64(off), n: uint32(len(name)), plain: plain,
				})
			case attrData:
				haveData = true
				size, alloc = int64(vlen), 0
			}
			continue
		}
		if len(a) < 0x40 {
			return false
		}
		startVCN, lastVCN := int64(le.Uint64(a[0x10:])), int64(le.Uint64(a[0x18:]))
		runOfs, cu := int(le.Uint16(a[0x20:])), le.Uint16(a[0x22:])
		allocSize, dataSize, initSize := int64(le.Uint64(a[0x28:])), int64(le.Uint64(a[0x30:])), int64(le.Uint64(a[0x38:]))
		if cu > 16 || startVCN < 0 || lastVCN < startVCN-1 || lastVCN >= 1<<48 {
			return false
		}
		if startVCN == 0 && (dataSize < 0 || allocSize < 0 || initSize < 0 || initSize > dataSize) {
			return false
		}
		if runOfs < 0x40 || runOfs > len(a) {
			return false
		}
		rs, err := appendRunlist((*runs)[:0], a[runOfs:], startVCN, lastVCN, v.clusters)
		*runs = rs
		if err != nil {
			return false
		}
		if typ == attrData {
			if startVCN != 0 || aflags&attrFlagCompressed != 0 && cu != 0 {
				return false
			}
			haveData = true
			size, alloc = dataSize, 0
			sparse := false
			for _, x := range rs {
				if x.LCN != sparseLCN {
					alloc += x.Length
				} else {
					sparse = true
				}
			}
			alloc *= v.boot.ClusterSize
			if !dir {
				out.extents = appendExtents(out.extents, rs, dataSize, false, v.boot.ClusterSize)
				// Plain: what readPlain reads is the extents' bytes (no
				// hole, nothing past the initialized size, every byte
				// mapped, no extent left out).
				mapped := int64(0)
				if k := len(rs); k > 0 {
					mapped = rs[k-1].VCN + rs[k-1].Length
				}
				plain = !sparse && initSize == dataSize && aflags&attrFlagCompressed == 0 &&
					mapped > (dataSize-1)/v.boot.ClusterSize &&
					len(out.extents)-e0 < maxExtents
			}
		}
	}
	if le.Uint64(b[0x20:]) != 0 {
		// An extension record: read with its base.
		out.names, out.extents = out.names[:n0], out.extents[:e0]
		*r = walkRec{}
		return true
	}
	if si.FileAttributes&FileAttributeEncrypted != 0 {
		return false
	}
	*r = walkRec{
		times:   [4]uint64{si.Creation, si.Modification, si.MFTChange, si.Access},
		usn:     si.USN,
		size:    size,
		alloc:   alloc,
		ext:     uint64(e0),
		nExt:    uint32(len(out.extents) - e0),
		names:   uint64(n0),
		nNames:  uint32(len(out.names) - n0),
		attrs:   si.FileAttributes,
		secID:   si.SecurityID,
		ownerID: si.OwnerID,
		seq:     le.Uint16(b[0x10:]),
		kind:    wrFast,
	}
	if dir {
		r.bits |= wrDir
	}
	if si.hasV3 {
		r.bits |= wrV3
	}
	if haveData {
		r.bits |= wrData
	}
	if plain {
		r.bits |= wrPlain
	}
	return true
}

// appendUTF16 appends little-endian UTF-16 b as UTF-8, as decodeUTF16
// converts it; plain is false when it holds a slash or a NUL.
func appendUTF16(dst, b []byte) (_ []byte, plain bool) {
	plain = true
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		switch {
		case u < 0x80:
			if u == '/' || u == 0 {
				plain = false
			}
			dst = append(dst, byte(u))
			continue
		case utf16.IsSurrogate(u):
			if u < 0xDC00 && i+3 < len(b) {
				if u2 := rune(binary.LittleEndian.Uint16(b[i+2:])); u2 >= 0xDC00 && u2 < 0xE000 {
					u = utf16.DecodeRune(u, u2)
					i += 2
					break
				}
			}
			u = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, u)
	}
	return dst, plain
}

// stripInfo drops what a walk result need not keep (references into
// record buffers), keeping the metadata.
func stripInfo(fi *fileInfo) *fileInfo {
	fi.ino, fi.data, fi.wof, fi.rp = nil, nil, nil, nil
	if fi.readErr != nil {
		fi.readErr = errors.New(fi.readErr.Error())
	}
	return fi
}
