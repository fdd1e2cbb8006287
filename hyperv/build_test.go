package hyperv

import (
	"encoding/binary"
	"unicode/utf16"
)

// buildVMCX writes a configuration tree as a small HyperVStorage file:
// both headers, one object table at 0x2000 and one key table (index 1)
// right after it, every checksum right. Tests use it for compact fuzz seeds
// and for inputs the sample lacks (values in file objects, deep nesting).
// bigStrings puts strings of at least that many bytes in file objects (0:
// never).
func buildVMCX(root *node, bigStrings int) []byte {
	le := binary.LittleEndian
	table := make([]byte, keyTableHdrSize)
	var files [][]byte // file object contents, placed after the key table
	type fileRef struct{ at, idx int }
	var refs []fileRef
	var emit func(n *node, parent int)
	emit = func(n *node, parent int) {
		var val []byte
		var typ uint16
		switch n.kind {
		case kindNode:
			typ, val = uint16(keyNode), make([]byte, 12)
		case kindInt:
			typ, val = uint16(keyInt), le.AppendUint64(nil, uint64(n.num))
		case kindBool:
			typ = uint16(keyBool)
			if n.flag {
				val = le.AppendUint32(nil, 1)
			} else {
				val = le.AppendUint32(nil, 0)
			}
		default:
			typ = uint16(keyString)
			var s []byte
			for _, u := range utf16.Encode([]rune(n.str + "\x00")) {
				s = le.AppendUint16(s, u)
			}
			if bigStrings > 0 && len(s) >= bigStrings {
				typ |= keyFlagFileObjectPointer << 8
				val = le.AppendUint32(nil, uint32(len(s)))
				val = le.AppendUint64(val, 0) // offset patched below
				files = append(files, s)
			} else {
				val = append(le.AppendUint32(nil, uint32(len(s))), s...)
			}
		}
		at := len(table)
		e := make([]byte, keyEntryHdrSize)
		le.PutUint16(e[0:], typ)
		if parent >= 0 {
			le.PutUint16(e[6:], 1)
			le.PutUint32(e[8:], uint32(parent))
		}
		e[20] = byte(len(n.name) + 1)
		e = append(e, n.name...)
		e = append(e, 0)
		if typ>>8 != 0 {
			refs = append(refs, fileRef{at + len(e) + 4, len(files) - 1})
		}
		e = append(e, val...)
		le.PutUint32(e[2:], uint32(len(e)))
		table = append(table, e...)
		for _, c := range n.children {
			emit(c, at)
		}
	}
	for _, c := range root.children {
		emit(c, -1)
	}
	le.PutUint16(table[0:], keyTableSignature)
	le.PutUint16(table[2:], 1)
	le.PutUint16(table[4:], 1)
	le.PutUint32(table[6:], crcZeroed(table[:keyTableHdrSize], 6))

	nobj := 1 + len(files)
	tableAt := objectTableOffset + objectTableHdrSize + nobj*objectEntrySize
	fileAt := tableAt + len(table)
	out := make([]byte, tableAt)
	objects := []objectTableEntry{{Type: objKeyTable, Offset: uint64(tableAt), Size: uint32(len(table)), Allocated: 1}}
	pos := fileAt
	var fileData []byte
	for i, f := range files {
		objects = append(objects, objectTableEntry{Type: objFile, Offset: uint64(pos), Size: uint32(len(f)), Allocated: 1})
		for _, r := range refs {
			if r.idx == i {
				le.PutUint64(table[r.at:], uint64(pos))
			}
		}
		fileData = append(fileData, f...)
		pos += len(f)
	}
	out = append(out, table...)
	out = append(out, fileData...)

	for i, hdrAt := range []int{firstHeaderOffset, secondHeaderOffset} {
		h := out[hdrAt : hdrAt+storageHeaderSize]
		le.PutUint32(h[0:], storageSignature)
		le.PutUint16(h[8:], uint16(2-i))
		le.PutUint32(h[10:], supportedVersion)
		le.PutUint32(h[22:], 0x1000)
		le.PutUint32(h[42:], 0x1000)
		le.PutUint32(h[4:], crcZeroed(h, 4))
	}
	ot := out[objectTableOffset:]
	le.PutUint32(ot[0:], objectTableSignature)
	le.PutUint32(ot[4:], uint32(nobj))
	for i, o := range objects {
		e := ot[objectTableHdrSize+i*objectEntrySize:]
		e[0] = byte(o.Type)
		le.PutUint64(e[5:], o.Offset)
		le.PutUint32(e[13:], o.Size)
		e[17] = o.Allocated
		le.PutUint32(e[1:], crcZeroed(e[:objectEntrySize], 1))
	}
	return out
}

// compactFuzz and expandFuzz convert between a HyperVStorage file and the
// fuzz input form: the first header, then everything from the object table
// on (the zeros between are not worth mutating).
func compactFuzz(b []byte) []byte {
	return append(append([]byte(nil), b[:storageHeaderSize]...), b[objectTableOffset:]...)
}

func expandFuzz(in []byte) []byte {
	if len(in) < storageHeaderSize {
		return in
	}
	out := make([]byte, objectTableOffset, objectTableOffset+len(in)-storageHeaderSize)
	copy(out, in[:storageHeaderSize])
	return append(out, in[storageHeaderSize:]...)
}
