package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// maxAttrListSize bounds an $ATTRIBUTE_LIST read into memory.
const maxAttrListSize = 4 << 20

// attrListEntry is one entry of $ATTRIBUTE_LIST.
type attrListEntry struct {
	Type     uint32
	Name     string
	StartVCN int64
	Ref      fileRef
	ID       uint16
}

func parseAttrList(b []byte, where string) ([]attrListEntry, error) {
	var out []attrListEntry
	for ofs := 0; ofs+0x1A <= len(b); {
		l := int(binary.LittleEndian.Uint16(b[ofs+4:]))
		if l < 0x1A || ofs+l > len(b) {
			if binary.LittleEndian.Uint32(b[ofs:]) == 0 {
				break
			}
			return nil, formatErr(where, "entry at %d: length %d invalid", ofs, l)
		}
		e := attrListEntry{
			Type:     binary.LittleEndian.Uint32(b[ofs:]),
			StartVCN: int64(binary.LittleEndian.Uint64(b[ofs+8:])),
			Ref:      fileRef(binary.LittleEndian.Uint64(b[ofs+0x10:])),
			ID:       binary.LittleEndian.Uint16(b[ofs+0x18:]),
		}
		nl, no := int(b[ofs+6]), int(b[ofs+7])
		if nl > 0 {
			if no+2*nl > l {
				return nil, formatErr(where, "entry at %d: name beyond entry", ofs)
			}
			e.Name = decodeUTF16(b[ofs+no : ofs+no+2*nl])
		}
		out = append(out, e)
		ofs += l
	}
	return out, nil
}

// inode is a file: its base MFT record and the attributes of all its
// records.
type inode struct {
	num   uint64
	seq   uint16
	flags uint16
	attrs []*attribute
	v     *FS
}

func (ino *inode) isDir() bool { return ino.flags&recordDirectory != 0 }

// inode loads file num: its base record and, through $ATTRIBUTE_LIST, its
// extension records.
func (v *FS) inode(num uint64) (*inode, error) {
	rec, err := v.record(num)
	if err != nil {
		return nil, err
	}
	return v.inodeOf(rec, num)
}

// inodeOf is inode for the base record rec, already read.
func (v *FS) inodeOf(rec *record, num uint64) (*inode, error) {
	where := recordWhere(num)
	if !rec.inUse() {
		return nil, formatErr(where, "not in use (deleted)")
	}
	if rec.Base != 0 {
		return nil, formatErr(where, "is an extension record of record %d", rec.Base.record())
	}
	ino := &inode{num: num, seq: rec.Seq, flags: rec.Flags, v: v}
	var list *attribute
	for i := range rec.Attrs {
		a := &rec.Attrs[i]
		ino.attrs = append(ino.attrs, a)
		if a.Type == attrAttributeList {
			list = a
		}
	}
	if list == nil {
		return ino, nil
	}
	ls, err := v.newStream(where+" $ATTRIBUTE_LIST", []*attribute{list})
	if err != nil {
		return nil, err
	}
	lb, err := ls.readAll(maxAttrListSize)
	if err != nil {
		return nil, err
	}
	entries, err := parseAttrList(lb, where+" $ATTRIBUTE_LIST")
	if err != nil {
		return nil, err
	}
	seen := map[uint64]bool{num: true}
	for _, e := range entries {
		rn := e.Ref.record()
		if seen[rn] {
			continue
		}
		seen[rn] = true
		ext, err := v.record(rn)
		if err != nil {
			return nil, fmt.Errorf("%s: attribute list: %w", where, err)
		}
		if !ext.inUse() || ext.Base.record() != num {
			return nil, formatErr(where, "attribute list names record %d, which is not one of its extension records", rn)
		}
		for i := range ext.Attrs {
			ino.attrs = append(ino.attrs, &ext.Attrs[i])
		}
	}
	return ino, nil
}

// pieces returns the attributes of a type and name, in record order.
func (ino *inode) pieces(typ uint32, name string) []*attribute {
	var out []*attribute
	for _, a := range ino.attrs {
		if a.Type == typ && a.Name == name {
			out = append(out, a)
		}
	}
	return out
}

// stream returns the content of the attribute type and name.
func (ino *inode) stream(typ uint32, name string) (*stream, error) {
	p := ino.pieces(typ, name)
	where := recordWhere(ino.num) + " attribute 0x" + strconv.FormatUint(uint64(typ), 16)
	if name != "" {
		where += " " + strconv.Quote(name)
	}
	if len(p) == 0 {
		return nil, formatErr(where, "missing")
	}
	return ino.v.newStream(where, p)
}

// value returns a small attribute's content (resident or not).
func (ino *inode) value(typ uint32, name string, max int64) ([]byte, bool) {
	p := ino.pieces(typ, name)
	if len(p) == 0 {
		return nil, false
	}
	if !p[0].NonResident {
		return p[0].Value, true
	}
	s, err := ino.v.newStream("", p)
	if err != nil {
		return nil, false
	}
	b, err := s.readAll(max)
	if err != nil && err != io.EOF {
		return nil, false
	}
	return b, true
}

// fileNames returns the $FILE_NAME attributes.
func (ino *inode) fileNames() []fileName {
	var out []fileName
	for _, a := range ino.attrs {
		if a.Type == attrFileName && !a.NonResident {
			if fn, ok := parseFileName(a.Value); ok {
				out = append(out, fn)
			}
		}
	}
	return out
}
