// Package extent describes how a disk image maps virtual-disk bytes to its
// own file: the vocabulary shared by the disk format packages (vhd, vhdx, raw)
// and by vdisk, which stacks images into differencing chains.
//
// A format package answers one question, for any range of the virtual disk:
// which parts this image stores (and where in its file), which parts it
// declares to be zeros, and which parts it leaves to its parent. Everything
// else (chains, change detection, sparse conversion) is built on that answer.
package extent

import "fmt"

// State says who defines the content of a run of virtual-disk bytes.
type State uint8

const (
	// Data: the image stores the bytes, at FileOffset in its file.
	Data State = iota
	// Zero: the image declares the bytes to be zeros (a VHDX ZERO or
	// UNMAPPED block, for example). The parent is not consulted.
	Zero
	// Absent: the image does not define the bytes. A differencing image
	// takes them from its parent; an image without a parent reads zeros.
	Absent
)

func (s State) String() string {
	switch s {
	case Data:
		return "data"
	case Zero:
		return "zero"
	case Absent:
		return "absent"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Extent is a run of virtual-disk bytes with one state.
type Extent struct {
	Offset     int64 // first byte, in the virtual disk
	Length     int64 // bytes
	State      State
	FileOffset int64 // for Data: where the run starts in the image file
}

// End is the offset just past the extent.
func (e Extent) End() int64 { return e.Offset + e.Length }

// Mapper is implemented by every disk format's image type.
type Mapper interface {
	// Size is the virtual disk size in bytes.
	Size() int64
	// Extents appends to dst the extents that cover [off, off+n) exactly,
	// in order, adjacent runs of one state merged where cheap, and returns
	// the extended slice. off and n must lie within [0, Size()].
	Extents(dst []Extent, off, n int64) ([]Extent, error)
	// ReadFileAt reads the image's own file (after any in-memory
	// corrections such as a replayed VHDX log) at a FileOffset that
	// Extents returned.
	ReadFileAt(p []byte, off int64) (int, error)
}
