package lvm

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// PhysicalVolume is a device carrying an LVM2 label, with the newest
// metadata found in its metadata areas.
type PhysicalVolume struct {
	Label    *Label
	R        io.ReaderAt // the whole device
	Size     int64
	Meta     *Section // the parsed newest metadata text (nil if the PV has none)
	VG       *Section // the volume group section of Meta
	Seqno    int64
	Warnings []string
}

// Open reads the label of a device and its newest metadata. It returns
// ErrNoLabel (errors.Is) when the device is no physical volume. Damaged
// metadata areas are skipped with a warning; a PV without readable
// metadata can still serve a volume group described by another PV.
func Open(r io.ReaderAt, size int64) (*PhysicalVolume, error) {
	l, err := ReadLabel(r, size)
	if err != nil {
		return nil, err
	}
	pv := &PhysicalVolume{Label: l, R: r, Size: size}
	for i, a := range l.MetadataAreas {
		text, err := ReadMetadata(r, size, a)
		if err != nil {
			pv.Warnings = append(pv.Warnings, fmt.Sprintf("lvm: PV %s: metadata area %d: %v", l.PVUUID, i+1, err))
			continue
		}
		root, err := ParseText(text)
		if err != nil {
			pv.Warnings = append(pv.Warnings, fmt.Sprintf("lvm: PV %s: metadata area %d: %v", l.PVUUID, i+1, err))
			continue
		}
		vg := vgSection(root)
		if vg == nil {
			pv.Warnings = append(pv.Warnings, fmt.Sprintf("lvm: PV %s: metadata area %d: no volume group in the metadata", l.PVUUID, i+1))
			continue
		}
		seq, _ := vg.Int("seqno")
		if pv.VG == nil || seq > pv.Seqno {
			pv.Meta, pv.VG, pv.Seqno = root, vg, seq
		}
	}
	return pv, nil
}

// vgSection is the one top-level section that describes a volume group.
func vgSection(root *Section) *Section {
	for _, s := range root.Sections {
		if _, ok := s.Values["seqno"]; ok && s.Section("physical_volumes") != nil {
			return s
		}
	}
	return nil
}

// VolumeGroup is a volume group as its newest metadata describes it.
type VolumeGroup struct {
	Name       string
	ID         string
	Seqno      int64
	ExtentSize int64 // bytes
	PVs        []*PVInfo
	LVs        []*LogicalVolume
	Warnings   []string
}

// PVInfo is a physical volume as the VG metadata names it.
type PVInfo struct {
	Name    string // "pv0"
	ID      string // the PV UUID
	Device  string // the device path at the last change (a hint only)
	PEStart int64  // bytes from the start of the PV to its first extent
	PECount int64
	DevSize int64           // bytes
	Missing bool            // flagged MISSING, or no device with this UUID was given
	Dev     *PhysicalVolume // the device, nil if missing
}

// Segment is one segment of a logical volume.
type Segment struct {
	StartExtent int64 // in the LV
	ExtentCount int64
	Type        string // "striped" for linear and striped segments
	StripeSize  int64  // bytes, for more than one stripe
	Stripes     []Stripe
}

// Stripe is one area of a segment: extents on a physical volume.
type Stripe struct {
	PV          *PVInfo
	StartExtent int64 // first physical extent on the PV
}

// LogicalVolume is a logical volume. For linear and striped LVs it is an
// io.ReaderAt over the LV's bytes.
type LogicalVolume struct {
	VG          *VolumeGroup
	Name        string
	ID          string
	Status      []string
	Visible     bool
	Type        string // "linear LV", "striped LV", "thin pool", …
	Extents     int64
	Size        int64 // bytes
	Segments    []Segment
	Unsupported string // why it cannot be read; "" if it can
	starts      []int64
}

// ErrUnsupported is returned by ReadAt on an LV that cannot be read.
var ErrUnsupported = errors.New("lvm: logical volume not supported")

// segment types grain does not read, with what to call them.
var unsupportedTypes = map[string]string{
	"thin-pool":  "thin pool",
	"thin":       "thin LV",
	"snapshot":   "snapshot",
	"mirror":     "mirror LV",
	"raid0":      "RAID0 LV",
	"raid0_meta": "RAID0 LV",
	"raid1":      "RAID1 LV",
	"raid4":      "RAID4 LV",
	"raid5":      "RAID5 LV",
	"raid5_la":   "RAID5 LV",
	"raid5_ls":   "RAID5 LV",
	"raid5_ra":   "RAID5 LV",
	"raid5_rs":   "RAID5 LV",
	"raid5_n":    "RAID5 LV",
	"raid6":      "RAID6 LV",
	"raid10":     "RAID10 LV",
	"cache":      "cache LV",
	"cache-pool": "cache pool",
	"writecache": "writecache LV",
	"vdo":        "VDO LV",
	"vdo-pool":   "VDO pool",
	"integrity":  "integrity LV",
	"error":      "error LV",
	"zero":       "zero LV",
}

// Assemble builds the volume groups described by the given physical
// volumes: each VG from its newest metadata (highest seqno) among its PVs,
// each PV matched by UUID.
func Assemble(pvs []*PhysicalVolume) []*VolumeGroup {
	byUUID := map[string]*PhysicalVolume{}
	for _, pv := range pvs {
		if _, dup := byUUID[pv.Label.PVUUID]; !dup {
			byUUID[pv.Label.PVUUID] = pv
		}
	}
	type best struct {
		pv    *PhysicalVolume
		order int
	}
	newest := map[string]best{}
	var order []string
	for _, pv := range pvs {
		if pv.VG == nil {
			continue
		}
		id, _ := pv.VG.String("id")
		key := id + "\x00" + pv.VG.Name
		b, ok := newest[key]
		if !ok {
			order = append(order, key)
			newest[key] = best{pv, len(order)}
			continue
		}
		if pv.Seqno > b.pv.Seqno {
			newest[key] = best{pv, b.order}
		}
	}
	var vgs []*VolumeGroup
	for _, key := range order {
		b := newest[key]
		vgs = append(vgs, buildVG(b.pv.VG, b.pv.Seqno, byUUID, pvs))
	}
	return vgs
}

func buildVG(s *Section, seqno int64, byUUID map[string]*PhysicalVolume, all []*PhysicalVolume) *VolumeGroup {
	vg := &VolumeGroup{Name: s.Name, Seqno: seqno}
	vg.ID, _ = s.String("id")
	warn := func(format string, args ...any) {
		vg.Warnings = append(vg.Warnings, fmt.Sprintf("lvm: VG %s: ", vg.Name)+fmt.Sprintf(format, args...))
	}
	for _, pv := range all {
		if pv.VG != nil && pv.VG.Name == s.Name && pv.Seqno < seqno {
			warn("PV %s holds older metadata (seqno %d < %d)", pv.Label.PVUUID, pv.Seqno, seqno)
		}
	}
	es, ok := s.Int("extent_size")
	if !ok || es <= 0 || es > 1<<32 {
		warn("extent size %d sectors invalid: no logical volume can be read", es)
		es = 0
	}
	vg.ExtentSize = es * SectorSize
	pvByName := map[string]*PVInfo{}
	for _, ps := range s.Section("physical_volumes").Sections {
		p := &PVInfo{Name: ps.Name}
		p.ID, _ = ps.String("id")
		p.Device, _ = ps.String("device")
		pe, _ := ps.Int("pe_start")
		p.PEStart = pe * SectorSize
		p.PECount, _ = ps.Int("pe_count")
		ds, _ := ps.Int("dev_size")
		p.DevSize = ds * SectorSize
		for _, f := range ps.Strings("flags") {
			if f == "MISSING" {
				p.Missing = true
			}
		}
		if dev := byUUID[p.ID]; dev != nil && !p.Missing {
			p.Dev = dev
		} else {
			p.Missing = true
		}
		if pe < 0 || pe > 1<<40 || p.PECount < 0 {
			warn("PV %s: pe_start %d / pe_count %d invalid", p.Name, pe, p.PECount)
			p.Missing, p.Dev = true, nil
		}
		vg.PVs = append(vg.PVs, p)
		pvByName[p.Name] = p
	}
	lvs := s.Section("logical_volumes")
	byName := map[string]*LogicalVolume{}
	if lvs != nil {
		for _, ls := range lvs.Sections {
			lv := buildLV(vg, ls, pvByName)
			vg.LVs = append(vg.LVs, lv)
			byName[lv.Name] = lv
		}
	}
	// Old-style snapshots: the COW store is a plain LV whose bytes are no
	// file system.
	if lvs != nil {
		for _, ls := range lvs.Sections {
			for _, seg := range ls.Sections {
				if t, _ := seg.String("type"); t == "snapshot" {
					cow, _ := seg.String("cow_store")
					origin, _ := seg.String("origin")
					if c := byName[cow]; c != nil {
						c.Type = "snapshot LV"
						c.Unsupported = fmt.Sprintf("snapshot of %s (copy-on-write store) not supported yet", origin)
					}
				}
			}
		}
	}
	return vg
}

func buildLV(vg *VolumeGroup, s *Section, pvs map[string]*PVInfo) *LogicalVolume {
	lv := &LogicalVolume{VG: vg, Name: s.Name}
	lv.ID, _ = s.String("id")
	lv.Status = s.Strings("status")
	for _, st := range lv.Status {
		if st == "VISIBLE" {
			lv.Visible = true
		}
	}
	fail := func(format string, args ...any) {
		if lv.Unsupported == "" {
			lv.Unsupported = fmt.Sprintf(format, args...)
		}
	}
	maxStripes := 1
	for _, ss := range s.Sections {
		if !strings.HasPrefix(ss.Name, "segment") {
			continue
		}
		var seg Segment
		seg.StartExtent, _ = ss.Int("start_extent")
		seg.ExtentCount, _ = ss.Int("extent_count")
		seg.Type, _ = ss.String("type")
		if seg.StartExtent < 0 || seg.ExtentCount <= 0 || seg.StartExtent > 1<<40 || seg.ExtentCount > 1<<40 {
			fail("%s: extents %d+%d invalid", ss.Name, seg.StartExtent, seg.ExtentCount)
			continue
		}
		lv.Segments = append(lv.Segments, seg)
		if seg.Type != "striped" {
			name, ok := unsupportedTypes[seg.Type]
			if !ok {
				name = fmt.Sprintf("segment type %q", seg.Type)
			}
			if lv.Type == "" {
				lv.Type = name
			}
			fail("%s not supported yet", name)
			continue
		}
		n, _ := ss.Int("stripe_count")
		list, _ := ss.List("stripes")
		if n < 1 || int64(len(list)) != 2*n {
			fail("%s: %d stripes listed for stripe_count %d", ss.Name, len(list)/2, n)
			continue
		}
		if seg.ExtentCount%n != 0 {
			fail("%s: %d extents do not divide into %d stripes", ss.Name, seg.ExtentCount, n)
			continue
		}
		if n > 1 {
			sz, _ := ss.Int("stripe_size")
			seg.StripeSize = sz * SectorSize
			if sz <= 0 || sz > 1<<32 || vg.ExtentSize > 0 && vg.ExtentSize%seg.StripeSize != 0 {
				fail("%s: stripe size %d sectors invalid", ss.Name, sz)
				continue
			}
			if int(n) > maxStripes {
				maxStripes = int(n)
			}
		}
		per := seg.ExtentCount / n
		for i := int64(0); i < n; i++ {
			name, pe := list[2*i], list[2*i+1]
			if name.Kind != KindString || pe.Kind != KindInt || pe.Int < 0 || pe.Int > 1<<40 {
				fail("%s: stripe %d malformed", ss.Name, i)
				break
			}
			pv := pvs[name.Str]
			if pv == nil {
				fail("%s: stripe %d on unknown PV %q", ss.Name, i, name.Str)
				break
			}
			if pv.Missing {
				fail("missing PV %s (%s)", pv.Name, pv.ID)
				break
			}
			if pe.Int+per > pv.PECount {
				fail("%s: extents %d–%d beyond the %d extents of PV %s", ss.Name, pe.Int, pe.Int+per-1, pv.PECount, pv.Name)
				break
			}
			if vg.ExtentSize > 0 && (pv.PEStart > pv.Dev.Size || pe.Int+per > (pv.Dev.Size-pv.PEStart)/vg.ExtentSize) {
				fail("%s: extents %d–%d beyond the end of PV %s (%d bytes)", ss.Name, pe.Int, pe.Int+per-1, pv.Name, pv.Dev.Size)
				break
			}
			seg.Stripes = append(seg.Stripes, Stripe{PV: pv, StartExtent: pe.Int})
		}
		lv.Segments[len(lv.Segments)-1] = seg
	}
	sort.Slice(lv.Segments, func(i, j int) bool { return lv.Segments[i].StartExtent < lv.Segments[j].StartExtent })
	var next int64
	for _, seg := range lv.Segments {
		if seg.StartExtent != next {
			fail("segments leave extents %d–%d unmapped or overlap", next, seg.StartExtent-1)
		}
		next = seg.StartExtent + seg.ExtentCount
		lv.starts = append(lv.starts, seg.StartExtent)
	}
	lv.Extents = next
	if vg.ExtentSize == 0 {
		fail("VG extent size invalid")
	} else if next > (1<<62)/vg.ExtentSize {
		fail("%d extents too large", next)
	} else {
		lv.Size = next * vg.ExtentSize
	}
	if len(lv.Segments) == 0 {
		fail("no segments")
	}
	if lv.Type == "" {
		if maxStripes > 1 {
			lv.Type = "striped LV"
		} else {
			lv.Type = "linear LV"
		}
	}
	return lv
}

// FirstExtent returns the PV and the byte offset on it of the LV's first
// extent (for listing where an LV starts); pv is nil when unknown.
func (lv *LogicalVolume) FirstExtent() (pv *PVInfo, off int64) {
	if len(lv.Segments) == 0 || len(lv.Segments[0].Stripes) == 0 {
		return nil, 0
	}
	st := lv.Segments[0].Stripes[0]
	return st.PV, st.PV.PEStart + st.StartExtent*lv.VG.ExtentSize
}

// ReadAt reads the LV's bytes, mapping each logical extent to its PV.
func (lv *LogicalVolume) ReadAt(p []byte, off int64) (int, error) {
	if lv.Unsupported != "" {
		return 0, fmt.Errorf("%w: %s/%s: %s", ErrUnsupported, lv.VG.Name, lv.Name, lv.Unsupported)
	}
	if off < 0 {
		return 0, fmt.Errorf("lvm: %s/%s: negative offset", lv.VG.Name, lv.Name)
	}
	n := 0
	es := lv.VG.ExtentSize
	for len(p) > 0 {
		if off >= lv.Size {
			return n, io.EOF
		}
		ext := off / es
		i := sort.Search(len(lv.starts), func(i int) bool { return lv.starts[i] > ext }) - 1
		seg := &lv.Segments[i]
		segOff := off - seg.StartExtent*es
		segEnd := seg.ExtentCount * es
		var st Stripe
		var pvOff, run int64
		if len(seg.Stripes) == 1 {
			st = seg.Stripes[0]
			pvOff = segOff
			run = segEnd - segOff
		} else {
			chunk := seg.StripeSize
			ci := segOff / chunk
			s := int64(len(seg.Stripes))
			st = seg.Stripes[ci%s]
			pvOff = (ci/s)*chunk + segOff%chunk
			run = chunk - segOff%chunk
		}
		if run > int64(len(p)) {
			run = int64(len(p))
		}
		at := st.PV.PEStart + st.StartExtent*es + pvOff
		m, err := st.PV.Dev.R.ReadAt(p[:run], at)
		n += m
		if m < int(run) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("lvm: %s/%s: reading PV %s at %d: %w", lv.VG.Name, lv.Name, st.PV.Name, at, err)
		}
		p = p[run:]
		off += run
	}
	return n, nil
}

// String describes the LV ("vg/lv").
func (lv *LogicalVolume) String() string {
	return lv.VG.Name + "/" + lv.Name + " (" + strconv.FormatInt(lv.Size, 10) + " bytes)"
}
