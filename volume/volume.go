// Package volume finds the volumes of a disk: the partitions of its GPT or
// MBR partition table (volume/gpt, volume/mbr) and the LVM2 logical volumes
// (volume/lvm) on its partitions or on the whole disk. Each volume is an
// io.ReaderAt over exactly its bytes, ready for a file-system driver.
//
// Names follow grain's tree: "p1", "p2", … for partitions (MBR logical
// partitions from 5, as Linux numbers them), "vg-lv" for logical volumes
// and "disk" for a disk without a partition table. Volumes grain cannot
// read into (Windows dynamic disks, Storage Spaces, thin LVs, …) are listed
// with the reason in Unsupported and no reader.
//
// A disk with a GPT is read as GPT, also behind a hybrid MBR (with a
// warning). Damage is reported in Table.Warnings with the sane part kept.
package volume

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/grainvm/grain/volume/gpt"
	"github.com/grainvm/grain/volume/lvm"
	"github.com/grainvm/grain/volume/mbr"
)

// Schemes.
const (
	SchemeGPT  = "gpt"
	SchemeMBR  = "mbr"
	SchemeLVM  = "lvm"
	SchemeNone = "none"
)

// Volume is one volume of a disk.
type Volume struct {
	Name     string // "p1", "p5", "vg-lv", "disk"
	Index    int    // partition number; 0 for LVs and "disk"
	Scheme   string // "gpt", "mbr", "lvm", "none"
	Type     string // human type name ("Microsoft basic data", "0x07 NTFS/exFAT/HPFS", "linear LV")
	TypeID   string // GPT type GUID, MBR type "0x07", LVM segment type
	PartName string // GPT partition name
	GUID     string // GPT unique partition GUID or LV UUID
	Offset   int64  // bytes from the start of the disk (for an LV: of its first extent)
	Size     int64
	Bootable bool // MBR active flag
	PastEnd  bool // the partition reaches past the end of the disk
	// Attributes are the GPT partition attribute bits.
	Attributes uint64
	// Unsupported says why grain cannot read into the volume ("" if it can).
	Unsupported string
	// VG is the volume group name for LVs and LVM physical volumes.
	VG string
	// io.ReaderAt over exactly this volume's bytes; nil if Unsupported.
	io.ReaderAt
}

// Table is what Read found on a disk.
type Table struct {
	Scheme     string    // "gpt", "mbr", "none"
	Volumes    []*Volume // partitions in disk order, then logical volumes
	Warnings   []string
	SectorSize int

	DiskGUID      string // GPT disk GUID
	MBRSignature  uint32 // MBR disk signature
	UsedBackupGPT bool   // the primary GPT was damaged, the backup was used
	HybridMBR     bool
	VGs           []*lvm.VolumeGroup
}

// ErrFormat is returned for a disk whose tables cannot be read at all.
var ErrFormat = errors.New("volume: unreadable partition table")

// Read finds the volumes of a disk of size bytes with the given logical
// sector size (512 if 0).
func Read(r io.ReaderAt, size int64, sectorSize int) (*Table, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if size < 0 {
		return nil, fmt.Errorf("volume: negative disk size %d", size)
	}
	t := &Table{SectorSize: sectorSize}
	m, merr := mbr.Read(r, size, sectorSize)
	if merr != nil && !errors.Is(merr, mbr.ErrFormat) {
		return nil, fmt.Errorf("volume: %w", merr)
	}
	useGPT := false
	switch {
	case m != nil && m.Protective:
		useGPT = true
		if m.Hybrid {
			t.HybridMBR = true
			t.Warnings = append(t.Warnings, "volume: hybrid MBR (a GPT protective entry beside other entries): read as GPT, the MBR entries are ignored")
		}
	case m == nil && gpt.HasHeader(r, sectorSize):
		useGPT = true
		t.Warnings = append(t.Warnings, "volume: GPT header without a protective MBR")
	}
	if useGPT {
		g, err := gpt.Read(r, size, sectorSize)
		if err != nil {
			// Perhaps the caller's sector size is wrong: try the other
			// common one before giving up.
			alt := 4096
			if sectorSize == 4096 {
				alt = 512
			}
			if g2, err2 := gpt.Read(r, size, alt); err2 == nil {
				g = g2
				t.SectorSize = alt
				t.Warnings = append(t.Warnings, fmt.Sprintf("volume: GPT found with %d-byte sectors, not %d", alt, sectorSize))
			} else if m != nil && m.Hybrid {
				t.Warnings = append(t.Warnings, fmt.Sprintf("volume: hybrid MBR without a readable GPT (%v): reading the MBR", err))
				useGPT = false
			} else {
				return nil, fmt.Errorf("volume: disk has a GPT protective MBR but %w", err)
			}
		}
		if useGPT {
			t.fromGPT(r, g)
		}
	}
	if !useGPT {
		if m != nil {
			t.fromMBR(r, m)
		} else {
			t.Scheme = SchemeNone
			t.Volumes = append(t.Volumes, &Volume{Name: "disk", Scheme: SchemeNone, Type: "whole disk", Size: size, ReaderAt: io.NewSectionReader(r, 0, size)})
		}
	}
	t.scanLVM()
	return t, nil
}

func (t *Table) fromGPT(r io.ReaderAt, g *gpt.Table) {
	t.Scheme = SchemeGPT
	t.DiskGUID = g.Header.DiskGUID.String()
	t.UsedBackupGPT = g.UsedBackup
	t.Warnings = append(t.Warnings, g.Warnings...)
	for _, p := range g.Partitions {
		v := &Volume{
			Name: fmt.Sprintf("p%d", p.Index), Index: p.Index, Scheme: SchemeGPT,
			Type: gpt.TypeName(p.TypeGUID), TypeID: p.TypeGUID.String(), PartName: p.Name,
			GUID: p.UniqueGUID.String(), Offset: p.Offset, Size: p.Size, PastEnd: p.PastEnd,
			Attributes: p.Attributes,
		}
		switch v.TypeID {
		case gpt.TypeLDMMetadata, gpt.TypeLDMData:
			v.Unsupported = "Windows dynamic disk (LDM) not supported yet"
		case gpt.TypeStorageSpaces:
			v.Unsupported = "Storage Spaces not supported yet"
		}
		if v.Unsupported == "" {
			v.ReaderAt = io.NewSectionReader(r, v.Offset, v.Size)
		}
		t.Volumes = append(t.Volumes, v)
	}
	t.sortPartitions()
}

func (t *Table) fromMBR(r io.ReaderAt, m *mbr.Table) {
	t.Scheme = SchemeMBR
	t.MBRSignature = m.Signature
	t.Warnings = append(t.Warnings, m.Warnings...)
	if m.LDM {
		t.Warnings = append(t.Warnings, "volume: Windows dynamic disk (LDM): its volumes are not supported yet")
	}
	for _, p := range m.Partitions {
		if p.Extended || p.Type == mbr.TypeGPTProtect {
			continue // the container is not a volume
		}
		v := &Volume{
			Name: fmt.Sprintf("p%d", p.Index), Index: p.Index, Scheme: SchemeMBR,
			Type: mbr.TypeName(p.Type), TypeID: fmt.Sprintf("0x%02X", p.Type),
			Offset: p.Offset, Size: p.Size, Bootable: p.Bootable, PastEnd: p.PastEnd,
		}
		if p.Type == mbr.TypeLDM {
			v.Unsupported = "Windows dynamic disk (LDM) not supported yet"
		} else {
			v.ReaderAt = io.NewSectionReader(r, v.Offset, v.Size)
		}
		t.Volumes = append(t.Volumes, v)
	}
	t.sortPartitions()
}

func (t *Table) sortPartitions() {
	sort.SliceStable(t.Volumes, func(i, j int) bool { return t.Volumes[i].Offset < t.Volumes[j].Offset })
}

// scanLVM looks for LVM2 labels on every readable volume and adds the
// logical volumes of the volume groups found.
func (t *Table) scanLVM() {
	var pvs []*lvm.PhysicalVolume
	pvVol := map[*lvm.PhysicalVolume]*Volume{}
	for _, v := range t.Volumes {
		if v.ReaderAt == nil {
			continue
		}
		pv, err := lvm.Open(v.ReaderAt, v.Size)
		if err != nil {
			if !errors.Is(err, lvm.ErrNoLabel) {
				t.Warnings = append(t.Warnings, fmt.Sprintf("volume: %s: %v", v.Name, err))
			}
			continue
		}
		t.Warnings = append(t.Warnings, pv.Warnings...)
		pvs = append(pvs, pv)
		pvVol[pv] = v
	}
	if len(pvs) == 0 {
		return
	}
	t.VGs = lvm.Assemble(pvs)
	for _, pv := range pvs {
		v := pvVol[pv]
		if pv.VG != nil {
			v.VG = pv.VG.Name
		}
		if !strings.Contains(v.Type, "LVM") {
			v.Type += " (LVM PV)"
		}
		if v.Name == "disk" {
			v.Type = "LVM PV"
		}
	}
	for _, vg := range t.VGs {
		t.Warnings = append(t.Warnings, vg.Warnings...)
		for _, lv := range vg.LVs {
			if !lv.Visible {
				continue
			}
			v := &Volume{
				Name: vg.Name + "-" + lv.Name, Scheme: SchemeLVM, Type: lv.Type,
				GUID: lv.ID, Size: lv.Size, VG: vg.Name, Unsupported: lv.Unsupported,
			}
			if len(lv.Segments) > 0 {
				v.TypeID = lv.Segments[0].Type
			}
			if pv, off := lv.FirstExtent(); pv != nil && pv.Dev != nil {
				for p, pvv := range pvVol {
					if p == pv.Dev {
						v.Offset = pvv.Offset + off
					}
				}
			}
			if v.Unsupported == "" {
				v.ReaderAt = lv
			}
			t.Volumes = append(t.Volumes, v)
		}
	}
}

// Volume returns the volume called name, or nil.
func (t *Table) Volume(name string) *Volume {
	for _, v := range t.Volumes {
		if v.Name == name {
			return v
		}
	}
	return nil
}
