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

// convertWorkers read chunks in parallel: a chain's layers, sparse blocks
// and page-cache copies keep more than one core busy.
const convertWorkers = 4

// writeRaw copies the flattened disk to out. With file set (a regular
// file), holes are skipped and the file is sized at the end; otherwise
// holes are written as zeros. Workers read chunks ahead in parallel; the
// writer takes them in order, so a stream gets the disk in sequence.
func writeRaw(d *vdisk.Disk, out io.Writer, file *os.File, bar *progressBar) error {
	size := d.Size()
	depth := 2 * convertWorkers
	free := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, convertChunk)
	}
	type job struct {
		off    int64
		buf    []byte
		result chan convertPiece
	}
	jobs := make(chan job, depth)
	order := make(chan chan convertPiece, depth)
	stop := make(chan struct{})
	defer close(stop)
	// The dispatcher hands each chunk's result slot to a worker and, in
	// disk order, to the writer.
	go func() {
		defer close(jobs)
		defer close(order)
		for off := int64(0); off < size; off += convertChunk {
			// Buffers are taken here, in disk order, so the chunk the
			// writer waits for always has one.
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			result := make(chan convertPiece, 1)
			select {
			case order <- result:
			case <-stop:
				return
			}
			select {
			case jobs <- job{off, buf, result}:
			case <-stop:
				return
			}
		}
	}()
	for range convertWorkers {
		go func() {
			var exts []extent.Extent
			for j := range jobs {
				p := convertPiece{off: j.off}
				n := min(int64(convertChunk), size-p.off)
				var err error
				exts, err = d.Extents(exts[:0], p.off, n)
				switch {
				case err != nil:
					p.err = err
				case hasData(exts):
					p.buf = j.buf[:n]
					if _, err := d.ReadAt(p.buf, p.off); err != nil && err != io.EOF {
						p.err = fmt.Errorf("reading the virtual disk at %d: %w", p.off, err)
					}
				}
				if p.buf == nil {
					free <- j.buf // a hole needs no buffer
				}
				j.result <- p
			}
		}()
	}
	zeros := make([]byte, convertChunk)
	for result := range order {
		p := <-result
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
