package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/extent"
)

// convertChunk is the unit of reading and writing: large enough for the
// storage to stream, small enough to skip holes at block granularity.
const convertChunk = 4 << 20

func (a *app) convertCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "convert IMAGE OUT",
		Short: "Write the whole virtual disk, chain flattened, as a raw image",
		Long: `convert writes the virtual disk as a raw image to OUT ("-" for standard
output). A regular-file OUT is written sparse: ranges that no layer holds,
and ranges that read as zeros, are skipped by seeking.`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error { return a.convert(args[0], args[1]) },
	}
}

func (a *app) convert(src, dst string) error {
	show, err := a.showProgress()
	if err != nil {
		return err
	}
	src, err = a.imagePath(src)
	if err != nil {
		return err
	}
	d, err := vdisk.Open(src, a.vdiskOptions())
	if err != nil {
		return err
	}
	defer d.Close()

	var out io.Writer = a.stdout
	var file *os.File
	if dst != "-" {
		if err := refuseSource(dst, d); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			file = f
		}
	}
	bar := newProgressBar(a.stderr, show, "convert", d.Size())
	err = writeRaw(d, out, file, bar)
	bar.done(err == nil)
	if err != nil {
		return err
	}
	if file != nil {
		return file.Close()
	}
	return nil
}

// refuseSource stops a convert that would overwrite one of its own source
// files.
func refuseSource(dst string, d *vdisk.Disk) error {
	dfi, err := os.Stat(dst)
	if err != nil {
		return nil
	}
	for _, l := range d.Layers() {
		if sfi, err := os.Stat(l.Path); err == nil && os.SameFile(sfi, dfi) {
			return fmt.Errorf("convert: %s is a source of the image: refusing to overwrite it", dst)
		}
	}
	return nil
}

type convertPiece struct {
	off int64
	buf []byte // nil: a hole
	err error
}

// writeRaw copies the flattened disk to out. With file set (a regular
// file), holes are skipped and the file is sized at the end; otherwise
// holes are written as zeros. A reader goroutine stays a few chunks ahead
// of the writer so that reading and writing overlap.
func writeRaw(d *vdisk.Disk, out io.Writer, file *os.File, bar *progressBar) error {
	size := d.Size()
	const depth = 4
	free := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, convertChunk)
	}
	pieces := make(chan convertPiece, depth)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(pieces)
		var exts []extent.Extent
		for off := int64(0); off < size; off += convertChunk {
			n := min(int64(convertChunk), size-off)
			var err error
			exts, err = d.Extents(exts[:0], off, n)
			if err != nil {
				pieces <- convertPiece{err: err}
				return
			}
			p := convertPiece{off: off}
			if hasData(exts) {
				select {
				case p.buf = <-free:
				case <-stop:
					return
				}
				p.buf = p.buf[:n]
				if _, err := d.ReadAt(p.buf, off); err != nil && err != io.EOF {
					p.err = fmt.Errorf("reading the virtual disk at %d: %w", off, err)
				}
			} else {
				p.buf = nil
			}
			select {
			case pieces <- p:
			case <-stop:
				return
			}
			if p.err != nil {
				return
			}
		}
	}()
	zeros := make([]byte, convertChunk)
	for p := range pieces {
		if p.err != nil {
			return p.err
		}
		n := min(int64(convertChunk), size-p.off)
		var err error
		switch {
		case p.buf == nil || (file != nil && bytes.Equal(p.buf, zeros[:len(p.buf)])):
			if file == nil {
				_, err = out.Write(zeros[:n])
			}
		case file != nil:
			_, err = file.WriteAt(p.buf, p.off)
		default:
			_, err = out.Write(p.buf)
		}
		if p.buf != nil {
			free <- p.buf[:cap(p.buf)]
		}
		if err != nil {
			return fmt.Errorf("convert: writing: %w", err)
		}
		bar.add(n)
	}
	if file != nil {
		if err := file.Truncate(size); err != nil {
			return fmt.Errorf("convert: sizing the output: %w", err)
		}
	}
	return nil
}

func hasData(exts []extent.Extent) bool {
	for _, e := range exts {
		if e.State == extent.Data {
			return true
		}
	}
	return false
}
