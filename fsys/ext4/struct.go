package ext4

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// On-disk constants, named as in the kernel's fs/ext4/ext4.h.
const (
	superblockOffset = 1024
	superblockSize   = 1024
	superMagic       = 0xEF53

	rootIno = 2

	// s_feature_compat
	compatDirPrealloc  = 0x1
	compatImagicInodes = 0x2
	compatHasJournal   = 0x4
	compatExtAttr      = 0x8
	compatResizeInode  = 0x10
	compatDirIndex     = 0x20
	compatSparseSuper2 = 0x200

	// s_feature_incompat
	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargedir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	// s_feature_ro_compat
	roCompatSparseSuper  = 0x1
	roCompatLargeFile    = 0x2
	roCompatHugeFile     = 0x8
	roCompatGdtCsum      = 0x10
	roCompatDirNlink     = 0x20
	roCompatExtraIsize   = 0x40
	roCompatQuota        = 0x100
	roCompatBigalloc     = 0x200
	roCompatMetadataCsum = 0x400

	// bg_flags
	bgInodeUninit = 0x1

	// i_flags
	flagIndex      = 0x1000
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
	flagCasefold   = 0x40000000
	flagEncrypt    = 0x800
	flagCompr      = 0x4
)

// incompatNames names the incompatible features; supported says which of
// them this driver reads.
var incompatNames = []struct {
	bit       uint32
	name      string
	supported bool
}{
	{incompatCompression, "compression", false},
	{incompatFiletype, "filetype", true},
	{incompatRecover, "needs_recovery", true},
	{incompatJournalDev, "journal_dev", false},
	{incompatMetaBG, "meta_bg", true},
	{incompatExtents, "extent", true},
	{incompat64bit, "64bit", true},
	{incompatMMP, "mmp", true},
	{incompatFlexBG, "flex_bg", true},
	{incompatEAInode, "ea_inode", true},
	{incompatDirData, "dirdata", false},
	{incompatCsumSeed, "metadata_csum_seed", true},
	{incompatLargedir, "large_dir", true},
	{incompatInlineData, "inline_data", true},
	{incompatEncrypt, "encrypt", false},
	{incompatCasefold, "casefold", true},
}

// Superblock is struct ext4_super_block, the fields this driver uses.
type Superblock struct {
	InodesCount      uint32 // s_inodes_count
	BlocksCount      uint64 // s_blocks_count_lo | s_blocks_count_hi<<32
	RBlocksCount     uint64 // s_r_blocks_count
	FreeBlocksCount  uint64 // s_free_blocks_count
	FreeInodesCount  uint32 // s_free_inodes_count
	FirstDataBlock   uint32 // s_first_data_block
	LogBlockSize     uint32 // s_log_block_size
	LogClusterSize   uint32 // s_log_cluster_size
	BlocksPerGroup   uint32 // s_blocks_per_group
	ClustersPerGroup uint32 // s_clusters_per_group
	InodesPerGroup   uint32 // s_inodes_per_group
	Magic            uint16 // s_magic
	State            uint16 // s_state
	RevLevel         uint32 // s_rev_level
	FirstIno         uint32 // s_first_ino
	InodeSize        uint16 // s_inode_size
	FeatureCompat    uint32 // s_feature_compat
	FeatureIncompat  uint32 // s_feature_incompat
	FeatureROCompat  uint32 // s_feature_ro_compat
	UUID             [16]byte
	VolumeName       [16]byte
	JournalUUID      [16]byte  // s_journal_uuid (external journal)
	JournalInum      uint32    // s_journal_inum
	JournalDev       uint32    // s_journal_dev (external journal)
	HashSeed         [4]uint32 // s_hash_seed
	DefHashVersion   uint8     // s_def_hash_version
	DescSize         uint16    // s_desc_size
	FirstMetaBG      uint32    // s_first_meta_bg
	MinExtraIsize    uint16    // s_min_extra_isize
	Flags            uint32    // s_flags
	LogGroupsPerFlex uint8     // s_log_groups_per_flex
	ChecksumType     uint8     // s_checksum_type
	BackupBGs        [2]uint32 // s_backup_bgs
	ChecksumSeed     uint32    // s_checksum_seed
	Encoding         uint16    // s_encoding
	Checksum         uint32    // s_checksum
}

// parseSuperblock decodes and sanity-checks the 1024-byte superblock.
func parseSuperblock(b []byte) (*Superblock, error) {
	if len(b) < superblockSize {
		return nil, fmt.Errorf("ext4: superblock: %d bytes, want %d: %w", len(b), superblockSize, ErrFormat)
	}
	le := binary.LittleEndian
	s := &Superblock{
		InodesCount:      le.Uint32(b[0x0:]),
		BlocksCount:      uint64(le.Uint32(b[0x4:])),
		RBlocksCount:     uint64(le.Uint32(b[0x8:])),
		FreeBlocksCount:  uint64(le.Uint32(b[0xC:])),
		FreeInodesCount:  le.Uint32(b[0x10:]),
		FirstDataBlock:   le.Uint32(b[0x14:]),
		LogBlockSize:     le.Uint32(b[0x18:]),
		LogClusterSize:   le.Uint32(b[0x1C:]),
		BlocksPerGroup:   le.Uint32(b[0x20:]),
		ClustersPerGroup: le.Uint32(b[0x24:]),
		InodesPerGroup:   le.Uint32(b[0x28:]),
		Magic:            le.Uint16(b[0x38:]),
		State:            le.Uint16(b[0x3A:]),
		RevLevel:         le.Uint32(b[0x4C:]),
		FirstIno:         11,
		InodeSize:        128,
		JournalInum:      le.Uint32(b[0xE0:]),
		DefHashVersion:   b[0xFC],
		DescSize:         le.Uint16(b[0xFE:]),
		FirstMetaBG:      le.Uint32(b[0x104:]),
		MinExtraIsize:    le.Uint16(b[0x15C:]),
		Flags:            le.Uint32(b[0x160:]),
		LogGroupsPerFlex: b[0x174],
		ChecksumType:     b[0x175],
		ChecksumSeed:     le.Uint32(b[0x270:]),
		Encoding:         le.Uint16(b[0x27C:]),
		Checksum:         le.Uint32(b[0x3FC:]),
	}
	if s.Magic != superMagic {
		return nil, fmt.Errorf("ext4: superblock: magic %#04x, want %#04x: %w", s.Magic, superMagic, ErrFormat)
	}
	if s.RevLevel >= 1 {
		s.FirstIno = le.Uint32(b[0x54:])
		s.InodeSize = le.Uint16(b[0x58:])
		s.FeatureCompat = le.Uint32(b[0x5C:])
		s.FeatureIncompat = le.Uint32(b[0x60:])
		s.FeatureROCompat = le.Uint32(b[0x64:])
	}
	copy(s.UUID[:], b[0x68:0x78])
	copy(s.VolumeName[:], b[0x78:0x88])
	copy(s.JournalUUID[:], b[0xD0:0xE0])
	s.JournalDev = le.Uint32(b[0xE4:])
	for i := range s.HashSeed {
		s.HashSeed[i] = le.Uint32(b[0xEC+4*i:])
	}
	s.BackupBGs[0] = le.Uint32(b[0x24C:])
	s.BackupBGs[1] = le.Uint32(b[0x250:])
	if s.FeatureIncompat&incompat64bit != 0 {
		s.BlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		s.RBlocksCount |= uint64(le.Uint32(b[0x154:])) << 32
		s.FreeBlocksCount |= uint64(le.Uint32(b[0x158:])) << 32
	}

	// Sanity limits from the specification.
	switch {
	case s.LogBlockSize > 6:
		return nil, fmt.Errorf("ext4: superblock: block size 2^(10+%d) beyond 64 KiB: %w", s.LogBlockSize, ErrFormat)
	case s.BlocksPerGroup == 0 || s.FeatureROCompat&roCompatBigalloc == 0 && s.BlocksPerGroup > 8<<(10+s.LogBlockSize):
		return nil, fmt.Errorf("ext4: superblock: %d blocks per group (block size %d): %w", s.BlocksPerGroup, 1024<<s.LogBlockSize, ErrFormat)
	case s.FeatureROCompat&roCompatBigalloc != 0 && (s.ClustersPerGroup == 0 || s.ClustersPerGroup > 8<<(10+s.LogBlockSize) ||
		s.LogClusterSize < s.LogBlockSize || s.LogClusterSize > 29):
		return nil, fmt.Errorf("ext4: superblock: bigalloc: %d clusters per group, cluster size 2^(10+%d): %w", s.ClustersPerGroup, s.LogClusterSize, ErrFormat)
	case s.InodesPerGroup == 0 || s.InodesPerGroup > 8<<(10+s.LogBlockSize):
		return nil, fmt.Errorf("ext4: superblock: %d inodes per group (block size %d): %w", s.InodesPerGroup, 1024<<s.LogBlockSize, ErrFormat)
	case s.InodeSize < 128 || s.InodeSize&(s.InodeSize-1) != 0 || uint32(s.InodeSize) > 1024<<s.LogBlockSize:
		return nil, fmt.Errorf("ext4: superblock: inode size %d: %w", s.InodeSize, ErrFormat)
	case s.BlocksCount <= uint64(s.FirstDataBlock):
		return nil, fmt.Errorf("ext4: superblock: %d blocks, first data block %d: %w", s.BlocksCount, s.FirstDataBlock, ErrFormat)
	case s.FirstDataBlock > 1:
		return nil, fmt.Errorf("ext4: superblock: first data block %d: %w", s.FirstDataBlock, ErrFormat)
	}
	if s.FeatureIncompat&incompat64bit != 0 {
		if s.DescSize < 32 || s.DescSize > 1024 || s.DescSize&(s.DescSize-1) != 0 {
			return nil, fmt.Errorf("ext4: superblock: group descriptor size %d: %w", s.DescSize, ErrFormat)
		}
	} else {
		s.DescSize = 32
	}
	if s.FirstIno < 3 || s.FirstIno > s.InodesCount && s.InodesCount != 0 {
		return nil, fmt.Errorf("ext4: superblock: first inode %d: %w", s.FirstIno, ErrFormat)
	}
	return s, nil
}

// BlockSize is the file system block size in bytes.
func (s *Superblock) BlockSize() int64 { return 1024 << s.LogBlockSize }

// unsupportedIncompat names the incompatible features set on the volume
// that this driver cannot read.
func (s *Superblock) unsupportedIncompat() []string {
	var names []string
	rest := s.FeatureIncompat
	for _, f := range incompatNames {
		if rest&f.bit != 0 {
			rest &^= f.bit
			if !f.supported {
				names = append(names, f.name)
			}
		}
	}
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if rest&bit != 0 {
			names = append(names, fmt.Sprintf("unknown(%#x)", bit))
		}
	}
	return names
}

// label is s_volume_name up to its first NUL.
func (s *Superblock) label() string {
	n := strings.IndexByte(string(s.VolumeName[:]), 0)
	if n < 0 {
		n = len(s.VolumeName)
	}
	return string(s.VolumeName[:n])
}

// groupDesc is struct ext4_group_desc, the fields this driver uses.
type groupDesc struct {
	InodeTable      uint64 // bg_inode_table_lo | _hi<<32
	Flags           uint16 // bg_flags
	ItableUnused    uint32 // bg_itable_unused
	FreeInodesCount uint32
	Checksum        uint16 // bg_checksum
}

func parseGroupDesc(b []byte, is64 bool) groupDesc {
	le := binary.LittleEndian
	g := groupDesc{
		InodeTable:      uint64(le.Uint32(b[0x8:])),
		FreeInodesCount: uint32(le.Uint16(b[0xE:])),
		Flags:           le.Uint16(b[0x12:]),
		ItableUnused:    uint32(le.Uint16(b[0x1C:])),
		Checksum:        le.Uint16(b[0x1E:]),
	}
	if is64 && len(b) >= 64 {
		g.InodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		g.FreeInodesCount |= uint32(le.Uint16(b[0x2E:])) << 16
		g.ItableUnused |= uint32(le.Uint16(b[0x32:])) << 16
	}
	return g
}

// isPowerOf reports whether n is a power of base (1 counts).
func isPowerOf(n, base uint64) bool {
	for n > 1 && n%base == 0 {
		n /= base
	}
	return n == 1
}
