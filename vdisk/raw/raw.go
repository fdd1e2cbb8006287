// Package raw reads a raw disk image: a file whose bytes are the virtual
// disk, byte for byte. It exists so that raw images stack and convert like
// every other format through vdisk.
package raw

import (
	"errors"
	"fmt"
	"io"

	"github.com/grainvm/grain/vdisk/extent"
)

// Image is a raw disk image.
type Image struct {
	r    io.ReaderAt
	size int64
}

// NewImage reads a raw image of size bytes from r.
func NewImage(r io.ReaderAt, size int64) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("raw: negative size %d", size)
	}
	return &Image{r: r, size: size}, nil
}

// Size is the virtual disk size: the file size.
func (img *Image) Size() int64 { return img.size }

// Extents reports the whole range as data held at the same offset.
func (img *Image) Extents(dst []extent.Extent, off, n int64) ([]extent.Extent, error) {
	if off < 0 || n < 0 || off+n > img.size {
		return dst, fmt.Errorf("raw: range [%d, %d) outside the disk of %d bytes", off, off+n, img.size)
	}
	if n == 0 {
		return dst, nil
	}
	return append(dst, extent.Extent{Offset: off, Length: n, State: extent.Data, FileOffset: off}), nil
}

// ReadFileAt reads the file.
func (img *Image) ReadFileAt(p []byte, off int64) (int, error) { return img.r.ReadAt(p, off) }

// ReadAt reads the virtual disk.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("raw: negative offset")
	}
	if off >= img.size {
		return 0, io.EOF
	}
	if rest := img.size - off; int64(len(p)) > rest {
		n, err := img.r.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return img.r.ReadAt(p, off)
}
