package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/grainvm/grain/internal/lru"
)

// ErrFormat reports that the volume is not, or no longer, a valid
// ext2/ext3/ext4 file system.
var ErrFormat = errors.New("ext4: invalid file system")

// ErrUnsupported reports an incompatible feature this driver cannot read.
var ErrUnsupported = errors.New("ext4: unsupported feature")

const (
	maxWarnings     = 200
	inodeCacheSize  = 8192    // inodes
	blockCacheBytes = 8 << 20 // extent-tree and indirect blocks
	runCacheRuns    = 1 << 18 // data runs of recently used files
	dirCacheEntries = 1 << 18 // parsed directory entries
	maxSymlinkHops  = 40
	maxSymlinkSize  = 4096
	maxExtentDepth  = 5
)

// FS is an ext2, ext3 or ext4 volume opened read-only.
type FS struct {
	r    io.ReaderAt
	size int64
	sb   *Superblock
	bs   int64 // block size

	groups       []groupDesc
	hasCsum      bool   // metadata_csum
	hasGroupCsum bool   // metadata_csum or gdt_csum: bg_flags are valid
	csumSeed     uint32 // crc32c seed of metadata checksums

	inodes *lru.Cache[uint32, *inode]
	blocks *lru.Cache[uint64, []byte]
	runs   *lru.Cache[uint32, []run]
	dirs   *lru.Cache[uint32, *dirList]

	journal JournalState

	wmu      sync.Mutex
	warnings []string
	warned   map[string]bool
	dropped  int
}

// OpenOptions change how OpenWith reads a volume.
type OpenOptions struct {
	// IgnoreJournal reads the volume as it is on disk even when its
	// journal needs recovery (Journal().Ignored and a warning say so).
	// The content may then be stale or inconsistent.
	IgnoreJournal bool
}

// Open reads the superblock and group descriptors of the volume held in
// the first size bytes of r. A journal that needs recovery is replayed in
// memory (see OpenWith).
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenWith(r, size, OpenOptions{})
}

// OpenWith is Open with options. When the superblock says the journal
// needs recovery, the committed transactions of the internal journal are
// replayed in memory, as the kernel or e2fsck would replay them, and every
// read sees the recovered volume; r is never written. A journal that
// cannot be replayed (external, damaged) leaves the volume read as is,
// with a warning and the reason in Journal().
func OpenWith(r io.ReaderAt, size int64, opts OpenOptions) (*FS, error) {
	f, err := openVolume(r, size)
	if err != nil {
		return nil, err
	}
	if f.sb.FeatureIncompat&incompatRecover != 0 {
		f = f.recoverJournal(opts)
	}
	root, err := f.inode(rootIno)
	if err != nil {
		return nil, fmt.Errorf("ext4: root directory: %w", err)
	}
	if !root.isDir() {
		return nil, fmt.Errorf("ext4: root inode has mode %#o, not a directory: %w", root.Mode, ErrFormat)
	}
	return f, nil
}

// recoverJournal returns f, or a new FS reading f's volume through the
// journal's replay.
func (f *FS) recoverJournal(opts OpenOptions) *FS {
	st := JournalState{NeedsRecovery: true}
	switch {
	case f.sb.FeatureCompat&compatHasJournal == 0:
		st.Error = "needs_recovery is set but the file system has no journal"
		f.warnf("journal needs recovery, but there is no journal: read as is")
	case opts.IgnoreJournal:
		st.Ignored = true
		f.warnf("journal needs recovery: read as is, without replaying the journal (IgnoreJournal): content may be stale")
	case f.sb.JournalInum == 0:
		st.External = true
		st.Error = "the journal is on an external device"
		f.warnf("journal needs recovery, but it is on an external device (UUID %x): not replayed, read as is: content may be stale", f.sb.JournalUUID)
	default:
		ov, js, err := f.loadJournal()
		st = js
		switch {
		case err != nil:
			st.Error = err.Error()
			f.warnf("journal needs recovery but cannot be replayed: %v: read as is: content may be stale", err)
		case ov == nil || len(ov.ents) == 0:
			f.warnf("journal needs recovery but holds no committed transactions to replay: read as is")
		default:
			g, err := openVolume(&overlayReader{r: f.r, ov: ov}, f.size)
			if err != nil {
				st.Error = "replayed volume: " + err.Error()
				f.warnf("journal replayed in memory gives a volume that does not open (%v): read as is, without the replay", err)
				break
			}
			st.Replayed = true
			g.journal = st
			g.warnf("journal needed recovery: %d committed transactions (%d..%d) replayed in memory, %d blocks replaced", st.Transactions, st.FirstSequence, st.EndSequence-1, st.Blocks)
			if st.BadBlocks > 0 {
				g.warnf("journal: %d journal blocks skipped for a bad checksum", st.BadBlocks)
			}
			if st.Features&jbdIncompatFastCommit != 0 {
				g.warnf("journal: fast commits are not replayed")
			}
			return g
		}
	}
	f.journal = st
	return f
}

// Journal tells what Open found in, and did with, the journal.
func (f *FS) Journal() JournalState { return f.journal }

// openVolume reads the superblock and group descriptors.
func openVolume(r io.ReaderAt, size int64) (*FS, error) {
	if size < superblockOffset+superblockSize {
		return nil, fmt.Errorf("ext4: volume of %d bytes too small for a superblock: %w", size, ErrFormat)
	}
	f := &FS{r: r, size: size}
	b := make([]byte, superblockSize)
	if err := f.readAt(b, superblockOffset); err != nil {
		return nil, fmt.Errorf("ext4: superblock: %w", err)
	}
	sb, err := parseSuperblock(b)
	if err != nil {
		return nil, err
	}
	f.sb = sb
	f.bs = sb.BlockSize()
	if bad := sb.unsupportedIncompat(); len(bad) > 0 {
		return nil, fmt.Errorf("ext4: volume uses incompatible feature %s, which this driver cannot read: %w", strings.Join(bad, ", "), ErrUnsupported)
	}
	f.hasCsum = sb.FeatureROCompat&roCompatMetadataCsum != 0
	f.hasGroupCsum = f.hasCsum || sb.FeatureROCompat&roCompatGdtCsum != 0
	if f.hasCsum {
		if sb.ChecksumType != 1 {
			f.warnf("superblock: checksum type %d is not crc32c", sb.ChecksumType)
		}
		if c := crc32c(^uint32(0), b[:0x3FC]); c != sb.Checksum {
			f.warnf("superblock: checksum %#08x, computed %#08x", sb.Checksum, c)
		}
		if sb.FeatureIncompat&incompatCsumSeed != 0 {
			f.csumSeed = sb.ChecksumSeed
		} else {
			f.csumSeed = crc32c(^uint32(0), sb.UUID[:])
		}
	}
	if sb.State&1 == 0 {
		f.warnf("file system was not cleanly unmounted")
	}
	if sb.State&2 != 0 {
		f.warnf("file system has errors recorded")
	}
	if total := sb.BlocksCount; total > uint64(size)/uint64(f.bs) {
		f.warnf("volume holds %d bytes, the file system claims %d blocks of %d bytes (truncated)", size, total, f.bs)
	}
	if err := f.loadGroups(); err != nil {
		return nil, err
	}
	f.inodes = lru.New[uint32, *inode](inodeCacheSize)
	f.blocks = lru.New[uint64, []byte](blockCacheBytes)
	f.runs = lru.New[uint32, []run](runCacheRuns)
	f.dirs = lru.New[uint32, *dirList](dirCacheEntries)
	return f, nil
}

// readAt reads exactly len(p) bytes at off, which must lie in the volume.
func (f *FS) readAt(p []byte, off int64) error {
	if off < 0 || off > f.size || int64(len(p)) > f.size-off {
		return fmt.Errorf("read of %d bytes at %#x beyond end of volume (%#x): %w", len(p), off, f.size, ErrFormat)
	}
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// block reads file-system block n into a fresh or cached buffer; the
// caller must not modify it.
func (f *FS) block(n uint64) ([]byte, error) {
	if b, ok := f.blocks.Get(n); ok {
		return b, nil
	}
	if n >= f.sb.BlocksCount {
		return nil, fmt.Errorf("block %d beyond file system (%d blocks): %w", n, f.sb.BlocksCount, ErrFormat)
	}
	b := make([]byte, f.bs)
	if err := f.readAt(b, int64(n)*f.bs); err != nil {
		return nil, fmt.Errorf("block %d: %w", n, err)
	}
	f.blocks.Put(n, b, len(b))
	return b, nil
}

func (f *FS) warnf(format string, args ...any) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	w := "ext4: " + fmt.Sprintf(format, args...)
	if f.warned[w] {
		return
	}
	if len(f.warnings) >= maxWarnings {
		f.dropped++
		return
	}
	if f.warned == nil {
		f.warned = map[string]bool{}
	}
	f.warned[w] = true
	f.warnings = append(f.warnings, w)
}

// Warnings returns what was found wrong but readable so far: checksum
// mismatches, a journal needing recovery, a truncated volume.
func (f *FS) Warnings() []string {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	w := append([]string(nil), f.warnings...)
	if f.dropped > 0 {
		w = append(w, fmt.Sprintf("ext4: %d more warnings not kept", f.dropped))
	}
	return w
}

// groupHasSuper reports whether block group g holds a superblock backup
// (and so, without meta_bg, a group descriptor table copy).
func (f *FS) groupHasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if f.sb.FeatureCompat&compatSparseSuper2 != 0 {
		return g == uint64(f.sb.BackupBGs[0]) || g == uint64(f.sb.BackupBGs[1])
	}
	if g <= 1 || f.sb.FeatureROCompat&roCompatSparseSuper == 0 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)
}

// loadGroups reads every group descriptor once.
func (f *FS) loadGroups() error {
	sb := f.sb
	ngroups := (sb.BlocksCount - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
	dsz := uint64(sb.DescSize)
	if ngroups > uint64(f.size)/dsz {
		return fmt.Errorf("ext4: %d block groups: descriptor table larger than the volume: %w", ngroups, ErrFormat)
	}
	if uint64(sb.InodesCount) > ngroups*uint64(sb.InodesPerGroup) {
		return fmt.Errorf("ext4: superblock: %d inodes but %d groups of %d: %w", sb.InodesCount, ngroups, sb.InodesPerGroup, ErrFormat)
	}
	perBlock := uint64(f.bs) / dsz
	nblocks := (ngroups + perBlock - 1) / perBlock
	is64 := sb.FeatureIncompat&incompat64bit != 0
	f.groups = make([]groupDesc, 0, ngroups)
	first := uint64(sb.FirstDataBlock) + 1
	metaBG := sb.FeatureIncompat&incompatMetaBG != 0
	buf := make([]byte, f.bs)
	for i := uint64(0); i < nblocks; i++ {
		loc := first + i
		if metaBG && i >= uint64(sb.FirstMetaBG) {
			g := i * perBlock
			loc = g*uint64(sb.BlocksPerGroup) + uint64(sb.FirstDataBlock)
			if f.groupHasSuper(g) {
				loc++
			}
		}
		if loc >= sb.BlocksCount {
			return fmt.Errorf("ext4: group descriptor block %d at block %d beyond file system: %w", i, loc, ErrFormat)
		}
		if err := f.readAt(buf, int64(loc)*f.bs); err != nil {
			return fmt.Errorf("ext4: group descriptor block %d: %w", i, err)
		}
		for j := uint64(0); j < perBlock && uint64(len(f.groups)) < ngroups; j++ {
			d := buf[j*dsz : (j+1)*dsz]
			g := uint64(len(f.groups))
			gd := parseGroupDesc(d, is64)
			f.checkGroupDesc(g, d, gd)
			f.groups = append(f.groups, gd)
		}
	}
	return nil
}

func (f *FS) checkGroupDesc(g uint64, d []byte, gd groupDesc) {
	switch {
	case f.hasCsum:
		c := crc32cU32(f.csumSeed, uint32(g))
		c = crc32c(c, d[:0x1E])
		c = crc32c(c, []byte{0, 0})
		c = crc32c(c, d[0x20:])
		if uint16(c) != gd.Checksum {
			f.warnf("group %d: descriptor checksum %#04x, computed %#04x", g, gd.Checksum, uint16(c))
		}
	case f.sb.FeatureROCompat&roCompatGdtCsum != 0:
		var gb [4]byte
		binary.LittleEndian.PutUint32(gb[:], uint32(g))
		c := crc16(0xFFFF, f.sb.UUID[:])
		c = crc16(c, gb[:])
		c = crc16(c, d[:0x1E])
		if len(d) > 0x20 {
			c = crc16(c, d[0x20:])
		}
		if c != gd.Checksum {
			f.warnf("group %d: descriptor checksum %#04x, computed %#04x", g, gd.Checksum, c)
		}
	}
}

// Type is "ext4", "ext3" or "ext2", told from the features as blkid does.
func (f *FS) Type() string {
	const ext3Incompat = incompatFiletype | incompatRecover | incompatMetaBG
	const ext3ROCompat = roCompatSparseSuper | roCompatLargeFile | 0x4 // btree_dir
	if f.sb.FeatureIncompat&^ext3Incompat != 0 || f.sb.FeatureROCompat&^ext3ROCompat != 0 {
		return "ext4"
	}
	if f.sb.FeatureCompat&compatHasJournal != 0 {
		return "ext3"
	}
	return "ext2"
}

// Label is the volume label (s_volume_name).
func (f *FS) Label() string { return f.sb.label() }

// ID is the file system UUID as blkid prints it.
func (f *FS) ID() string {
	u := f.sb.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Usage reports the size of the file system and the bytes not free, from
// the superblock counters.
func (f *FS) Usage() (total, used int64, ok bool) {
	n, free := f.sb.BlocksCount, f.sb.FreeBlocksCount
	if free > n || n > uint64(1<<62)/uint64(f.bs) {
		return 0, 0, false
	}
	return int64(n) * f.bs, int64(n-free) * f.bs, true
}

// Superblock returns a copy of the decoded superblock.
func (f *FS) Superblock() Superblock { return *f.sb }
