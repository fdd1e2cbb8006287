package hyperv

import (
	"encoding/binary"
	"errors"
)

// ErrFormat is wrapped by every error that says a configuration file is not
// (or no longer) a valid Hyper-V configuration.
var ErrFormat = errors.New("hyperv: invalid format")

// The container Hyper-V calls HyperVStorage (VmDataStore.dll), as described
// by public reverse-engineering work (fox-it dissect.hypervisor,
// descriptor/c_hyperv.py). All integers are little-endian and the structures
// are packed.
const (
	storageSignature     = 0x01282014 // HyperVStorageHeader.signature
	firstHeaderOffset    = 0x0000
	secondHeaderOffset   = 0x1000
	storageHeaderSize    = 46 // 0x2e bytes, the span its checksum covers
	supportedVersion     = 0x400
	objectTableOffset    = 0x2000
	objectTableSignature = 0x01110001
	objectTableHdrSize   = 8
	objectEntrySize      = 18
	keyTableSignature    = 0x0002
	keyTableHdrSize      = 10
	keyEntryHdrSize      = 21
	fileObjectPtrSize    = 12
)

// HyperVStorageHeader is one of the two file headers (at 0x0000 and
// 0x1000); the one with the larger sequence number is current.
type storageHeader struct {
	Signature       uint32 // 0x01282014
	Checksum        uint32
	SequenceNumber  uint16
	Version         uint32 // 0x400 in every file seen
	Unknown2        uint64
	Alignment       uint32
	ReplayLogOffset uint64
	ReplayLogSize   uint64
	HeaderSize      uint32
}

func parseStorageHeader(b []byte) storageHeader {
	le := binary.LittleEndian
	return storageHeader{
		Signature:       le.Uint32(b[0:]),
		Checksum:        le.Uint32(b[4:]),
		SequenceNumber:  le.Uint16(b[8:]),
		Version:         le.Uint32(b[10:]),
		Unknown2:        le.Uint64(b[14:]),
		Alignment:       le.Uint32(b[22:]),
		ReplayLogOffset: le.Uint64(b[26:]),
		ReplayLogSize:   le.Uint64(b[34:]),
		HeaderSize:      le.Uint32(b[42:]),
	}
}

// ObjectEntryType is the kind of an object table entry.
type objectEntryType uint8

const (
	objUnknown0    objectEntryType = 0
	objObjectTable objectEntryType = 1
	objKeyTable    objectEntryType = 2
	objFile        objectEntryType = 3
	objFree        objectEntryType = 4
	objReplayLog   objectEntryType = 6
)

// HyperVStorageObjectTableEntry describes one block of the file.
type objectTableEntry struct {
	Type      objectEntryType
	Checksum  uint32
	Offset    uint64
	Size      uint32
	Allocated uint8
}

func parseObjectTableEntry(b []byte) objectTableEntry {
	le := binary.LittleEndian
	return objectTableEntry{
		Type:      objectEntryType(b[0]),
		Checksum:  le.Uint32(b[1:]),
		Offset:    le.Uint64(b[5:]),
		Size:      le.Uint32(b[13:]),
		Allocated: b[17],
	}
}

// KeyDataType is the low byte of a key table entry's type field.
type keyDataType uint8

const (
	keyFree    keyDataType = 1
	keyUnknown keyDataType = 2
	keyInt     keyDataType = 3
	keyUInt    keyDataType = 4
	keyDouble  keyDataType = 5
	keyString  keyDataType = 6
	keyArray   keyDataType = 7
	keyBool    keyDataType = 8
	keyNode    keyDataType = 9
)

// keyFlagFileObjectPointer (high byte of the type field) says the value is
// held in a file object: a uint32 size and a uint64 absolute file offset.
const keyFlagFileObjectPointer = 0x01

// HyperVStorageKeyTable is the 10-byte header of a key table.
type keyTableHeader struct {
	Signature      uint16 // 0x0002
	Index          uint16
	SequenceNumber uint16
	Checksum       uint32
}

func parseKeyTableHeader(b []byte) keyTableHeader {
	le := binary.LittleEndian
	return keyTableHeader{
		Signature:      le.Uint16(b[0:]),
		Index:          le.Uint16(b[2:]),
		SequenceNumber: le.Uint16(b[4:]),
		Checksum:       le.Uint32(b[6:]),
	}
}

// HyperVStorageKeyTableEntryHeader starts every entry of a key table; the
// key name (NUL-terminated UTF-8) follows it, then the value at DataOffset.
type keyEntryHeader struct {
	Type              uint16 // low byte keyDataType, high byte flags
	Size              uint32 // of the whole entry, header included
	ParentTableIdx    uint16 // 0: a root key
	ParentOffset      uint32 // of the parent entry in the parent table
	Checksum          uint32
	InsertionSequence uint32
	DataOffset        uint8 // from the end of this header to the value
}

func parseKeyEntryHeader(b []byte) keyEntryHeader {
	le := binary.LittleEndian
	return keyEntryHeader{
		Type:              le.Uint16(b[0:]),
		Size:              le.Uint32(b[2:]),
		ParentTableIdx:    le.Uint16(b[6:]),
		ParentOffset:      le.Uint32(b[8:]),
		Checksum:          le.Uint32(b[12:]),
		InsertionSequence: le.Uint32(b[16:]),
		DataOffset:        b[20],
	}
}
