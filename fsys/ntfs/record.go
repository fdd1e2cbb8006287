package ntfs

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// Attribute types (Linux-NTFS "$AttrDef").
const (
	attrStandardInformation = 0x10
	attrAttributeList       = 0x20
	attrFileName            = 0x30
	attrObjectID            = 0x40
	attrSecurityDescriptor  = 0x50
	attrVolumeName          = 0x60
	attrVolumeInformation   = 0x70
	attrData                = 0x80
	attrIndexRoot           = 0x90
	attrIndexAllocation     = 0xA0
	attrBitmap              = 0xB0
	attrReparsePoint        = 0xC0
	attrEAInformation       = 0xD0
	attrEA                  = 0xE0
	attrLoggedUtilityStream = 0x100
	attrEnd                 = 0xFFFFFFFF
)

// MFT record header flags.
const (
	recordInUse     = 0x0001
	recordDirectory = 0x0002
)

// Attribute header flags.
const (
	attrFlagCompressed = 0x0001
	attrFlagEncrypted  = 0x4000
	attrFlagSparse     = 0x8000
)

// Well-known MFT record numbers.
const (
	recMFT     = 0
	recMFTMirr = 1
	recVolume  = 3
	recRoot    = 5
	recBitmap  = 6
	recUpCase  = 10
	recExtend  = 11
	// firstUserRecord is the first record not reserved for metadata.
	firstUserRecord = 16
)

// fileRef is an MFT reference: record number (48 bits) and sequence.
type fileRef uint64

func (r fileRef) record() uint64 { return uint64(r) & 0xFFFFFFFFFFFF }
func (r fileRef) seq() uint16    { return uint16(r >> 48) }

// applyFixups checks and undoes the update sequence array of a multi-sector
// protected structure (MFT record or index block) in place. The stride is
// always 512 bytes.
func applyFixups(b []byte, where string) error {
	if len(b) < 512 || len(b)%512 != 0 {
		return formatErr(where, "size %d not a multiple of 512", len(b))
	}
	usaOfs := int(binary.LittleEndian.Uint16(b[4:]))
	usaCount := int(binary.LittleEndian.Uint16(b[6:]))
	if usaCount != len(b)/512+1 {
		return formatErr(where, "update sequence array has %d entries, want %d", usaCount, len(b)/512+1)
	}
	if usaOfs%2 != 0 || usaOfs < 8 || usaOfs+2*usaCount > 510 {
		return formatErr(where, "update sequence array at %d+%d overlaps the first sector's check value", usaOfs, 2*usaCount)
	}
	usn := binary.LittleEndian.Uint16(b[usaOfs:])
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if binary.LittleEndian.Uint16(b[end:]) != usn {
			return formatErr(where, "update sequence mismatch in sector %d (torn or corrupt write)", i-1)
		}
		copy(b[end:end+2], b[usaOfs+2*i:usaOfs+2*i+2])
	}
	return nil
}

// attribute is one parsed attribute header and its value (resident) or
// runlist (non-resident).
type attribute struct {
	Type        uint32
	Name        string
	Flags       uint16
	ID          uint16
	NonResident bool
	// Resident
	Value []byte
	// Non-resident
	StartVCN, LastVCN int64
	CompUnit          uint8 // log2 of the compression unit in clusters
	AllocatedSize     int64
	DataSize          int64
	InitializedSize   int64
	Runs              []run
	// from which record
	Record uint64
}

// record is a parsed MFT record.
type record struct {
	Num       uint64
	Seq       uint16
	LinkCount uint16
	Flags     uint16
	Base      fileRef
	Attrs     []attribute
}

func (r *record) inUse() bool { return r.Flags&recordInUse != 0 }

// parseRecord checks the fixups (in place) and parses the attributes of the
// MFT record num held in b. clusters is the volume's cluster count, used to
// check runlists.
func parseRecord(b []byte, num uint64, clusters int64) (*record, error) {
	where := recordWhere(num)
	if len(b) < 48 {
		return nil, formatErr(where, "record too short")
	}
	if string(b[0:4]) != "FILE" {
		if string(b[0:4]) == "BAAD" {
			return nil, formatErr(where, "marked BAAD (failed multi-sector transfer)")
		}
		return nil, formatErr(where, "signature %q is not FILE", b[0:4])
	}
	if err := applyFixups(b, where); err != nil {
		return nil, err
	}
	r := &record{
		Num:       num,
		Seq:       binary.LittleEndian.Uint16(b[0x10:]),
		LinkCount: binary.LittleEndian.Uint16(b[0x12:]),
		Flags:     binary.LittleEndian.Uint16(b[0x16:]),
		Base:      fileRef(binary.LittleEndian.Uint64(b[0x20:])),
	}
	attrOfs := int(binary.LittleEndian.Uint16(b[0x14:]))
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	if used > len(b) || used < 0 {
		return nil, formatErr(where, "bytes in use %d beyond record size %d", used, len(b))
	}
	if attrOfs < 0x2A || attrOfs > used-4 || attrOfs%8 != 0 && attrOfs%2 != 0 {
		if used == 0 && r.Flags&recordInUse == 0 {
			return r, nil
		}
		return nil, formatErr(where, "first attribute offset %d invalid (bytes in use %d)", attrOfs, used)
	}
	ofs := attrOfs
	for n := 0; ; n++ {
		if ofs+4 > used {
			return nil, formatErr(where, "attributes run past bytes in use without end marker")
		}
		typ := binary.LittleEndian.Uint32(b[ofs:])
		if typ == attrEnd {
			break
		}
		if ofs+16 > used {
			return nil, formatErr(where, "attribute at offset %d truncated", ofs)
		}
		alen := int(binary.LittleEndian.Uint32(b[ofs+4:]))
		if alen < 16 || alen%8 != 0 || ofs+alen > used {
			return nil, formatErr(where, "attribute 0x%x at offset %d: length %d invalid", typ, ofs, alen)
		}
		a, err := parseAttribute(b[ofs:ofs+alen], clusters)
		if err != nil {
			return nil, formatErr(where, "attribute 0x%x at offset %d: %v", typ, ofs, err)
		}
		a.Record = num
		r.Attrs = append(r.Attrs, a)
		ofs += alen
	}
	return r, nil
}

// parseAttribute decodes one attribute record (header and body).
func parseAttribute(b []byte, clusters int64) (attribute, error) {
	var a attribute
	a.Type = binary.LittleEndian.Uint32(b[0:])
	a.NonResident = b[8] != 0
	nameLen := int(b[9])
	nameOfs := int(binary.LittleEndian.Uint16(b[0x0A:]))
	a.Flags = binary.LittleEndian.Uint16(b[0x0C:])
	a.ID = binary.LittleEndian.Uint16(b[0x0E:])
	if nameLen > 0 {
		if nameOfs+2*nameLen > len(b) {
			return a, fmt.Errorf("name at %d+%d beyond attribute length %d", nameOfs, 2*nameLen, len(b))
		}
		a.Name = decodeUTF16(b[nameOfs : nameOfs+2*nameLen])
	}
	if !a.NonResident {
		if len(b) < 0x18 {
			return a, fmt.Errorf("resident header truncated")
		}
		vlen := int(binary.LittleEndian.Uint32(b[0x10:]))
		vofs := int(binary.LittleEndian.Uint16(b[0x14:]))
		if vofs > len(b) || vlen > len(b)-vofs {
			return a, fmt.Errorf("resident value at %d+%d beyond attribute length %d", vofs, vlen, len(b))
		}
		a.Value = b[vofs : vofs+vlen]
		a.DataSize = int64(vlen)
		a.InitializedSize = int64(vlen)
		a.AllocatedSize = int64(vlen)
		return a, nil
	}
	if len(b) < 0x40 {
		return a, fmt.Errorf("non-resident header truncated")
	}
	a.StartVCN = int64(binary.LittleEndian.Uint64(b[0x10:]))
	a.LastVCN = int64(binary.LittleEndian.Uint64(b[0x18:]))
	runOfs := int(binary.LittleEndian.Uint16(b[0x20:]))
	cu := binary.LittleEndian.Uint16(b[0x22:])
	if cu > 16 {
		return a, fmt.Errorf("compression unit 2^%d clusters too large", cu)
	}
	a.CompUnit = uint8(cu)
	a.AllocatedSize = int64(binary.LittleEndian.Uint64(b[0x28:]))
	a.DataSize = int64(binary.LittleEndian.Uint64(b[0x30:]))
	a.InitializedSize = int64(binary.LittleEndian.Uint64(b[0x38:]))
	if a.StartVCN < 0 || a.LastVCN < a.StartVCN-1 || a.LastVCN >= 1<<48 {
		return a, fmt.Errorf("VCN range [%d, %d] invalid", a.StartVCN, a.LastVCN)
	}
	if a.StartVCN == 0 && (a.DataSize < 0 || a.AllocatedSize < 0 || a.InitializedSize < 0 || a.InitializedSize > a.DataSize) {
		if a.InitializedSize > a.DataSize && a.DataSize >= 0 {
			a.InitializedSize = a.DataSize
		} else {
			return a, fmt.Errorf("sizes allocated %d, data %d, initialized %d invalid", a.AllocatedSize, a.DataSize, a.InitializedSize)
		}
	}
	if runOfs < 0x40 || runOfs > len(b) {
		return a, fmt.Errorf("runlist offset %d beyond attribute length %d", runOfs, len(b))
	}
	runs, err := decodeRunlist(b[runOfs:], a.StartVCN, a.LastVCN, clusters)
	if err != nil {
		return a, err
	}
	a.Runs = runs
	return a, nil
}

// decodeUTF16 turns little-endian UTF-16 bytes into a string; unpaired
// surrogates become U+FFFD.
func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func utf16Units(b []byte) []uint16 {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return u
}

// ntfsTime converts a Windows FILETIME (100 ns since 1601) to time.Time.
func ntfsTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns
	t := int64(v) - epochDiff
	if int64(v) < 0 {
		return time.Time{}
	}
	return time.Unix(t/10000000, (t%10000000)*100).UTC()
}

// standardInformation is $STANDARD_INFORMATION.
type standardInformation struct {
	Creation, Modification, MFTChange, Access uint64
	FileAttributes                            uint32
	OwnerID, SecurityID                       uint32
	USN                                       uint64
	hasV3                                     bool
}

func parseStandardInformation(v []byte) (standardInformation, bool) {
	var si standardInformation
	if len(v) < 0x24 {
		return si, false
	}
	si.Creation = binary.LittleEndian.Uint64(v[0:])
	si.Modification = binary.LittleEndian.Uint64(v[8:])
	si.MFTChange = binary.LittleEndian.Uint64(v[0x10:])
	si.Access = binary.LittleEndian.Uint64(v[0x18:])
	si.FileAttributes = binary.LittleEndian.Uint32(v[0x20:])
	if len(v) >= 0x48 {
		si.hasV3 = true
		si.OwnerID = binary.LittleEndian.Uint32(v[0x30:])
		si.SecurityID = binary.LittleEndian.Uint32(v[0x34:])
		si.USN = binary.LittleEndian.Uint64(v[0x40:])
	}
	return si, true
}

// File name namespaces.
const (
	nsPOSIX    = 0
	nsWin32    = 1
	nsDOS      = 2
	nsWin32DOS = 3
)

// fileName is $FILE_NAME (also the key of $I30 index entries).
type fileName struct {
	Parent                                    fileRef
	Creation, Modification, MFTChange, Access uint64
	AllocatedSize, DataSize                   int64
	Flags                                     uint32
	Reparse                                   uint32
	Namespace                                 uint8
	Name                                      string
	units                                     []uint16
}

func parseFileName(v []byte) (fileName, bool) {
	var fn fileName
	if len(v) < 0x42 {
		return fn, false
	}
	fn.Parent = fileRef(binary.LittleEndian.Uint64(v[0:]))
	fn.Creation = binary.LittleEndian.Uint64(v[8:])
	fn.Modification = binary.LittleEndian.Uint64(v[0x10:])
	fn.MFTChange = binary.LittleEndian.Uint64(v[0x18:])
	fn.Access = binary.LittleEndian.Uint64(v[0x20:])
	fn.AllocatedSize = int64(binary.LittleEndian.Uint64(v[0x28:]))
	fn.DataSize = int64(binary.LittleEndian.Uint64(v[0x30:]))
	fn.Flags = binary.LittleEndian.Uint32(v[0x38:])
	fn.Reparse = binary.LittleEndian.Uint32(v[0x3C:])
	n := int(v[0x40])
	fn.Namespace = v[0x41]
	if 0x42+2*n > len(v) {
		return fn, false
	}
	fn.units = utf16Units(v[0x42 : 0x42+2*n])
	fn.Name = string(utf16.Decode(fn.units))
	return fn, true
}
