// Package vdisk opens virtual disk images (VHD, VHDX, raw) and whole
// differencing chains, read-only, as one flat virtual disk.
//
// Open takes the path of any image of a chain, usually the newest .avhdx or
// .avhd, detects its format from its content, follows the parent locators
// down to the base, checks each link, and returns a Disk: an io.ReaderAt
// over the flattened virtual disk, safe for concurrent use. Each layer of
// the chain stays visible (Layers), with the ranges of the virtual disk it
// holds (Layer.Extents): what changed in a checkpoint is what its layer
// holds, which makes incremental backups and diffs cheap.
//
// Sources refines that answer for copiers: for each data run, the layer that
// holds it and, where its bytes lie in that layer's file as they are, the
// file itself, so that they can be copied without passing through ReadAt.
//
// The per-format packages (vdisk/vhd, vdisk/vhdx, vdisk/raw) read one file
// each over any io.ReaderAt; New stacks images that did not come from files.
package vdisk

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/grainvm/grain/vdisk/extent"
)

// ErrParentNotFound is returned (wrapped) when no candidate path of a
// differencing image's parent exists.
var ErrParentNotFound = errors.New("parent not found")

// ErrLinkage is returned (wrapped) when a parent's identity does not match
// what its child recorded.
var ErrLinkage = errors.New("parent linkage mismatch")

// MaxChainDepth bounds the number of images in a chain. Hyper-V keeps at
// most 50 checkpoints per VM; this leaves room and stops runaway chains.
const MaxChainDepth = 128

// Options control how Open finds and checks parents.
type Options struct {
	// ParentDirs are folders searched, in order, for a parent by its file
	// name after the locations the child itself records.
	ParentDirs []string
	// IgnoreLinkage accepts a parent whose identity does not match the
	// child's record of it.
	IgnoreLinkage bool
	// IgnoreLog reads VHDX files without replaying a dirty log.
	IgnoreLog bool
}

// Layer is one image file of a chain.
type Layer struct {
	Path     string // as opened; "" for images given to New
	Format   string // "vhd", "vhdx", "raw"
	Type     string // "fixed", "dynamic", "differencing"
	Size     int64  // virtual disk size
	FileSize int64

	LogicalSectorSize  int
	PhysicalSectorSize int
	BlockSize          int64 // 0 where the format has no blocks

	// ID is the identity children record for this image: the VHDX
	// DataWriteGuid, the VHD unique ID (lower-case GUID form).
	ID string
	// IDs lists every identifier of the image as name and value (VHDX
	// FileWriteGuid, DataWriteGuid, Page83Data; VHD UniqueId…).
	IDs []NamedValue

	// For a differencing image: what it records of its parent, how the
	// parent was found, and whether its identity matched.
	ParentLinkage   string       // the parent ID the child expects
	ParentLocators  []NamedValue // stored locator entries (kind, value)
	ParentPath      string       // the file used as parent
	ParentFoundBy   string       // "absolute path", "relative path", "file name beside the child", "parent dir DIR", …
	ParentTried     []string     // the paths tried, in order
	ParentLinkageOK bool

	// Log describes a VHDX log: "clean", "replayed: …", "ignored: …"; ""
	// for other formats.
	Log string

	Warnings []string

	// Image is the format package's own image (*vhd.Image, *vhdx.Image,
	// *raw.Image) for format-specific detail.
	Image extent.Mapper

	differencing bool
	parent       parentRef
	closer       io.Closer
	file         *os.File // the image file, where it is a regular file
}

// NamedValue is a named, printable fact about an image.
type NamedValue struct {
	Name, Value string
}

// Extents appends the ranges of [off, off+n) this layer itself defines
// (Data or Zero) and those it leaves to its parent (Absent).
func (l *Layer) Extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	return l.Image.Extents(dst, off, n)
}

// LinkageMatches reports whether parent carries the identity this
// differencing layer records for its parent.
func (l *Layer) LinkageMatches(parent *Layer) bool { return l.parent.matches(parent) }

// Differencing reports whether the image has a parent.
func (l *Layer) Differencing() bool { return l.differencing }

// Disk is a flattened virtual disk: the top image of a chain over all its
// parents.
type Disk struct {
	layers []*Layer
	c      *chain
}

// New stacks images into a Disk: images[0] on top, each next one its
// parent. It checks nothing about their linkage; use it for images that do
// not come from files, or that were found by other means.
func New(images ...extent.Mapper) (*Disk, error) {
	if len(images) == 0 {
		return nil, errors.New("vdisk: no images")
	}
	layers := make([]*Layer, len(images))
	for i, m := range images {
		l := describe(m)
		layers[i] = l
	}
	return newDisk(layers), nil
}

func newDisk(layers []*Layer) *Disk {
	ms := make([]extent.Mapper, len(layers))
	for i, l := range layers {
		ms[i] = l.Image
	}
	return &Disk{layers: layers, c: newChain(ms)}
}

// ReadAt reads the flattened virtual disk. It is safe for concurrent use.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) { return d.c.ReadAt(p, off) }

// Size is the virtual disk size in bytes (that of the top image).
func (d *Disk) Size() int64 { return d.c.size }

// SectorSize is the logical sector size of the top image.
func (d *Disk) SectorSize() int {
	if s := d.layers[0].LogicalSectorSize; s > 0 {
		return s
	}
	return 512
}

// PhysicalSectorSize is the physical sector size of the top image.
func (d *Disk) PhysicalSectorSize() int {
	if s := d.layers[0].PhysicalSectorSize; s > 0 {
		return s
	}
	return d.SectorSize()
}

// Layers returns the chain, the opened image first and the base last.
func (d *Disk) Layers() []*Layer { return d.layers }

// Extents maps [off, off+n) of the flattened disk: Data where some layer
// stores bytes, Zero where a layer declares zeros, Absent where no layer
// holds anything (reads as zeros). FileOffset is not meaningful here: use
// Layer.Extents for one layer's own mapping. Converters skip what is not
// Data.
func (d *Disk) Extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	if off < 0 || n < 0 || off+n > d.Size() {
		return dst, fmt.Errorf("vdisk: range [%d, %d) outside the disk of %d bytes", off, off+n, d.Size())
	}
	return d.c.extents(dst, off, n)
}

// Close closes the files Open opened.
func (d *Disk) Close() error {
	var first error
	for _, l := range d.layers {
		if l.closer != nil {
			if err := l.closer.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}
