package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/grainvm/grain/internal/lru"
)

// Cache sizes (entries).
const (
	recordCacheSize = 4096
	indexCacheSize  = 512
	chunkRecords    = 16 // MFT records read at once on a cache miss
)

// FS is an open NTFS volume. It implements fsys.FS, fsys.StreamFS,
// fsys.WalkFS and fsys.InfoOpener and is safe for concurrent use.
type FS struct {
	r          io.ReaderAt
	size       int64
	boot       *bootSector
	clusters   int64
	recSize    int64
	mft        *stream
	records    uint64 // records the $MFT $DATA holds
	upcaseOnce sync.Once
	upcase     upcaseTable // read on first use: see upcaseTable
	label      string
	major      uint8
	minor      uint8
	volFlags   uint16

	recCache *lru.Cache[uint64, *record]
	idxCache *lru.Cache[idxKey, []indexEntry]

	lznt1  func(dst, src []byte) (int, error)
	xpress func(dst, src []byte) (int, error)
	lzx    func(dst, src []byte) (int, error)

	usageOnce sync.Once
	used      int64
	usageOK   bool
}

type idxKey struct {
	rec uint64
	vcn int64
}

// Open reads the NTFS volume of size bytes in r.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	if size < bootSectorSize {
		return nil, formatErr("boot sector", "volume of %d bytes too small", size)
	}
	var b [bootSectorSize]byte
	if n, err := r.ReadAt(b[:], 0); n != len(b) {
		return nil, fmt.Errorf("ntfs: reading boot sector: %v", err)
	}
	boot, err := parseBootSector(b[:])
	if err != nil {
		return nil, err
	}
	v := &FS{
		r:        r,
		size:     size,
		boot:     boot,
		recSize:  boot.MFTRecordSize,
		recCache: lru.New[uint64, *record](recordCacheSize),
		idxCache: lru.New[idxKey, []indexEntry](indexCacheSize),
	}
	v.lznt1 = lznt1Decompressor()
	v.xpress = xpressDecompressor()
	v.lzx = lzxDecompressor()
	v.clusters = int64(boot.TotalSectors / uint64(boot.SectorsPerCluster))
	if v.clusters == 0 {
		return nil, formatErr("boot sector", "volume has no whole cluster")
	}
	// Reads are checked against the reader's size; the boot sector's own
	// size may be larger (a truncated image) and then reads fail there.
	if err := v.loadMFT(); err != nil {
		return nil, err
	}
	v.loadVolumeInfo()
	// The root directory must be readable.
	if _, err := v.inode(recRoot); err != nil {
		return nil, fmt.Errorf("ntfs: root directory: %w", err)
	}
	return v, nil
}

// readRawRecord0 reads MFT record 0 at a cluster and parses it.
func (v *FS) readRecordAt(lcn uint64, num uint64) (*record, error) {
	if lcn >= uint64(v.clusters) {
		return nil, formatErr("boot sector", "MFT cluster %d beyond the volume's %d clusters", lcn, v.clusters)
	}
	b := make([]byte, v.recSize)
	if err := v.readVolume(b, int64(lcn)*v.boot.ClusterSize+int64(num)*v.recSize); err != nil {
		return nil, err
	}
	return parseRecord(b, num, v.clusters)
}

// loadMFT finds $MFT's own $DATA runlist, from record 0 (or its copy in
// $MFTMirr when the primary is damaged), following its attribute list.
func (v *FS) loadMFT() error {
	rec, err := v.readRecordAt(v.boot.MFTCluster, 0)
	if err != nil || !rec.inUse() {
		mirr, err2 := v.readRecordAt(v.boot.MFTMirrCluster, 0)
		if err2 != nil || !mirr.inUse() {
			if err == nil {
				err = formatErr("MFT record 0", "not in use")
			}
			return err
		}
		rec = mirr
	}
	var pieces []*attribute
	var list *attribute
	for i := range rec.Attrs {
		a := &rec.Attrs[i]
		switch {
		case a.Type == attrData && a.Name == "":
			pieces = append(pieces, a)
		case a.Type == attrAttributeList:
			list = a
		}
	}
	if len(pieces) == 0 || !pieces[0].NonResident {
		return formatErr("MFT record 0", "$MFT has no non-resident $DATA")
	}
	v.mft, err = v.newStream("$MFT", pieces)
	if err != nil {
		return err
	}
	v.setMFTSize()
	if list != nil {
		// The $MFT is fragmented enough to need extension records: read
		// them through the runlist known so far, growing it as we go.
		ls, err := v.newStream("$MFT attribute list", []*attribute{list})
		if err != nil {
			return err
		}
		lb, err := ls.readAll(maxAttrListSize)
		if err != nil {
			return err
		}
		entries, err := parseAttrList(lb, "$MFT attribute list")
		if err != nil {
			return err
		}
		seen := map[uint64]bool{0: true}
		for _, e := range entries {
			if e.Type != attrData || e.Name != "" || seen[e.Ref.record()] {
				continue
			}
			seen[e.Ref.record()] = true
			ext, err := v.readRecordUncached(e.Ref.record())
			if err != nil {
				return err
			}
			for i := range ext.Attrs {
				a := &ext.Attrs[i]
				if a.Type == attrData && a.Name == "" {
					pieces = append(pieces, a)
				}
			}
			if s, err := v.newStream("$MFT", append([]*attribute(nil), pieces...)); err == nil {
				v.mft = s
			}
		}
		v.mft, err = v.newStream("$MFT", pieces)
		if err != nil {
			return err
		}
		v.setMFTSize()
	}
	if v.records < firstUserRecord {
		return formatErr("$MFT", "holds only %d records", v.records)
	}
	return nil
}

func (v *FS) setMFTSize() {
	v.records = uint64(v.mft.size / v.recSize)
	if m := uint64(v.mft.mapped * v.boot.ClusterSize / v.recSize); m < v.records {
		v.records = m
	}
}

// readRecordUncached reads and parses MFT record num.
func (v *FS) readRecordUncached(num uint64) (*record, error) {
	if num >= v.records {
		return nil, formatErr(fmt.Sprintf("MFT record %d", num), "beyond the $MFT's %d records", v.records)
	}
	b := make([]byte, v.recSize)
	if _, err := v.mft.ReadAt(b, int64(num)*v.recSize); err != nil && err != io.EOF {
		return nil, fmt.Errorf("ntfs: MFT record %d: %w", num, err)
	}
	return parseRecord(b, num, v.clusters)
}

// record returns MFT record num, parsed, from the cache or the volume. A
// miss reads a few neighbouring records too: directories tend to list
// records that are close together.
func (v *FS) record(num uint64) (*record, error) {
	if r, ok := v.recCache.Get(num); ok {
		return r, nil
	}
	if num >= v.records {
		return nil, formatErr(fmt.Sprintf("MFT record %d", num), "beyond the $MFT's %d records", v.records)
	}
	first := num - num%chunkRecords
	n := min(uint64(chunkRecords), v.records-first)
	buf := make([]byte, int64(n)*v.recSize)
	if _, err := v.mft.ReadAt(buf, int64(first)*v.recSize); err != nil && err != io.EOF {
		return nil, fmt.Errorf("ntfs: MFT record %d: %w", num, err)
	}
	var want *record
	var wantErr error
	for i := uint64(0); i < n; i++ {
		b := buf[int64(i)*v.recSize : int64(i+1)*v.recSize : int64(i+1)*v.recSize]
		r, err := parseRecord(b, first+i, v.clusters)
		if first+i == num {
			want, wantErr = r, err
		}
		if err == nil {
			v.recCache.Put(first+i, r, 1)
		}
	}
	return want, wantErr
}

// upcaseTable returns the volume's $UpCase, read on first use: only name
// look-ups need it (listing, walking and OpenInfo do not), and opening a
// volume for one file should not pay for more than it reads. A volume
// without a readable $UpCase falls back to Unicode's simple upper-case
// mapping.
func (v *FS) upcaseTable() upcaseTable {
	v.upcaseOnce.Do(func() {
		if t, ok := v.readUpcase(); ok {
			v.upcase = t
		} else {
			v.upcase = defaultUpcase()
		}
	})
	return v.upcase
}

// readUpcase reads $UpCase; code units beyond its end map to themselves.
func (v *FS) readUpcase() (upcaseTable, bool) {
	ino, err := v.inode(recUpCase)
	if err != nil {
		return nil, false
	}
	s, err := ino.stream(attrData, "")
	if err != nil || s.size < 2*128 || s.size > 2*65536 || s.size%2 != 0 {
		return nil, false
	}
	b, err := s.readAll(2 * 65536)
	if err != nil {
		return nil, false
	}
	t := make(upcaseTable, 65536)
	n := len(b) / 2
	for i := range n {
		t[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	for i := n; i < len(t); i++ {
		t[i] = uint16(i)
	}
	return t, true
}

// loadVolumeInfo reads the label and version from $Volume.
func (v *FS) loadVolumeInfo() {
	ino, err := v.inode(recVolume)
	if err != nil {
		return
	}
	for _, a := range ino.attrs {
		switch {
		case a.Type == attrVolumeName && !a.NonResident:
			v.label = decodeUTF16(a.Value)
		case a.Type == attrVolumeInformation && !a.NonResident && len(a.Value) >= 12:
			v.major, v.minor = a.Value[8], a.Value[9]
			v.volFlags = binary.LittleEndian.Uint16(a.Value[10:])
		}
	}
}

// Dirty reports whether the volume's dirty flag is set (it was not
// unmounted cleanly). grain reads such volumes as they are.
func (v *FS) Dirty() bool { return v.volFlags&0x0001 != 0 }

// Version is the NTFS version, such as "3.1".
func (v *FS) Version() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// ClusterSize is the volume's cluster size in bytes.
func (v *FS) ClusterSize() int64 { return v.boot.ClusterSize }
