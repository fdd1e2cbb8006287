package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"

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
and runs of zeros of 64 KiB or more, are left as holes. On Linux a
regular-file OUT is written with direct I/O where its file system allows
(the output does not pass through the page cache, nor push other data out
of it), and data lying as it is in an image file is written from a mapping
of that file, without a copy.`,
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
// and page-cache copies keep more than one core busy, and a file output
// keeps several writes in flight.
const convertWorkers = 4

// writeRaw copies the flattened disk to out. With file set (a regular
// file), see writeFile; otherwise the disk is streamed in order, holes
// written as zeros.
func writeRaw(d *vdisk.Disk, out io.Writer, file *os.File, bar *progressBar) error {
	if file != nil {
		direct := openDirect(file)
		if direct != nil {
			defer direct.Close()
		}
		return writeFile(d, file, direct, bar)
	}
	return writeStream(d, out, bar)
}

// writeStream writes the disk to out in order. Workers read chunks ahead in
// parallel; the writer takes them in disk order.
func writeStream(d *vdisk.Disk, out io.Writer, bar *progressBar) error {
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
		if p.buf == nil {
			_, err = out.Write(zeros[:n])
		} else {
			_, err = out.Write(p.buf)
			free <- p.buf[:cap(p.buf)]
		}
		if err != nil {
			return fmt.Errorf("convert: writing: %w", err)
		}
		bar.add(n)
	}
	return nil
}

// Sparse output: a file is written in pages of outPage bytes, and a run of
// zero pages at least minHole long is left a hole (skipped, not written).
// Shorter zero runs inside data are written with it: one write instead of
// many small ones.
const (
	outPage = 4096
	minHole = 64 << 10
)

// writeFile writes the disk to the regular file f, sized first to the
// disk's size so that every range not written is a hole: ranges no layer
// holds are never read, and zero runs read from data are not written.
// Workers each read a chunk and write it at its offset, so several reads
// and writes are in flight at once. Where direct is set (f reopened with
// O_DIRECT), page-aligned runs go through it: the data goes to the device
// without a second copy into the page cache, which halves the memory
// traffic of a convert and does not flood the cache with the output. A
// direct write the file system refuses turns direct I/O off for the rest
// of the run and is redone through f.
func writeFile(d *vdisk.Disk, f, direct *os.File, bar *progressBar) error {
	size := d.Size()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("convert: sizing the output: %w", err)
	}
	var (
		next      atomic.Int64 // offset of the next chunk to take
		failed    atomic.Bool
		useDirect atomic.Bool
	)
	useDirect.Store(direct != nil)
	// Memory merely sector-aligned (a mapping of a VHD block, which starts
	// past its sector bitmap) is tried too: most devices accept it. Once
	// refused, only page-aligned memory goes direct.
	var sectorMemoryRefused atomic.Bool
	write := func(b []byte, off int64) error {
		if useDirect.Load() && off%outPage == 0 && len(b)%outPage == 0 {
			addr := uintptr(unsafe.Pointer(&b[0]))
			pageAligned := addr%outPage == 0
			if pageAligned || (addr%512 == 0 && !sectorMemoryRefused.Load()) {
				_, err := direct.WriteAt(b, off)
				if err == nil {
					return nil
				}
				if !errors.Is(err, syscall.EINVAL) {
					return err
				}
				if pageAligned {
					useDirect.Store(false)
				} else {
					sectorMemoryRefused.Store(true)
				}
			}
		}
		_, err := f.WriteAt(b, off)
		return err
	}
	work := func() error {
		buf := alignedBuffer(convertChunk, outPage)
		var srcs []vdisk.Source
		for !failed.Load() {
			off := next.Add(convertChunk) - convertChunk
			if off >= size {
				return nil
			}
			n := min(int64(convertChunk), size-off)
			var err error
			if srcs, err = d.Sources(srcs[:0], off, n); err != nil {
				return err
			}
			copied, err := copyVerbatim(srcs, write)
			if err != nil {
				return err
			}
			if !copied && hasDataSource(srcs) {
				p := buf[:n]
				if _, err := d.ReadAt(p, off); err != nil && err != io.EOF {
					return fmt.Errorf("reading the virtual disk at %d: %w", off, err)
				}
				if err := writeRuns(p, off, write); err != nil {
					return fmt.Errorf("convert: writing: %w", err)
				}
			}
			bar.add(n)
		}
		return nil
	}
	errs := make(chan error, convertWorkers)
	for range convertWorkers {
		go func() {
			err := work()
			if err != nil {
				failed.Store(true)
			}
			errs <- err
		}()
	}
	var first error
	for range convertWorkers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// maxMapped bounds the pieces of one chunk copied from mappings: a chunk
// split finer (sector bitmaps of a differencing layer) is read whole
// instead, one read rather than a mapping per piece.
const maxMapped = 16

// copyVerbatim copies a chunk whose data all lies verbatim in layer files
// from mappings of those files, so that its bytes are not first copied
// into a buffer: the pages of the source's page cache go to write as they
// are (to the device, with direct I/O). Zero runs are left out as by
// writeRuns. It reports false, having written nothing, where some data of
// the chunk must be read through the disk (or mapping is not available):
// the caller then reads the chunk.
func copyVerbatim(srcs []vdisk.Source, write func([]byte, int64) error) (bool, error) {
	pieces := 0
	for _, s := range srcs {
		if s.State != extent.Data {
			continue
		}
		if s.File == nil {
			return false, nil
		}
		pieces++
	}
	if pieces == 0 || pieces > maxMapped {
		return pieces == 0, nil
	}
	for _, s := range srcs {
		if s.State != extent.Data {
			continue
		}
		b, unmap, err := mapFile(s.File, s.FileOffset, s.Length)
		if err != nil {
			// No mapping here: the chunk is read instead (rewriting
			// the pieces written so far with the same bytes).
			return false, nil
		}
		err = writeMapped(b, s.Offset, write)
		unmap()
		if err != nil {
			return true, fmt.Errorf("convert: copying %s at %d: %w", s.File.Name(), s.FileOffset, err)
		}
	}
	return true, nil
}

// writeMapped is writeRuns over a file mapping: a fault on it (the file
// shrank under us) is an error, not a crash.
func writeMapped(b []byte, off int64, write func([]byte, int64) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			re, ok := r.(runtime.Error)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("the file changed while it was read (%v)", re)
		}
	}()
	return writeRuns(b, off, write)
}

// writeRuns writes p (the disk at off, off page-aligned) through write,
// leaving out runs of zero pages at least minHole long.
func writeRuns(p []byte, off int64, write func([]byte, int64) error) error {
	start := -1 // first byte of the data run being gathered
	zeroFrom := -1
	for i := 0; i < len(p); i += outPage {
		page := p[i:min(i+outPage, len(p))]
		if !isZero(page) {
			if start < 0 {
				start = i
			}
			zeroFrom = -1
			continue
		}
		if zeroFrom < 0 {
			zeroFrom = i
		}
		if start >= 0 && i+len(page)-zeroFrom >= minHole {
			if err := write(p[start:zeroFrom], off+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		end := len(p)
		if zeroFrom >= 0 {
			end = zeroFrom
		}
		return write(p[start:end], off+int64(start))
	}
	return nil
}

var zeroPage [outPage]byte

func isZero(b []byte) bool { return bytes.Equal(b, zeroPage[:len(b)]) }

// alignedBuffer returns n bytes starting at a multiple of align, as direct
// I/O needs.
func alignedBuffer(n, align int) []byte {
	b := make([]byte, n+align)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % uintptr(align)); r != 0 {
		skip = align - r
	}
	return b[skip : skip+n : skip+n]
}

func hasDataSource(srcs []vdisk.Source) bool {
	for _, s := range srcs {
		if s.State == extent.Data {
			return true
		}
	}
	return false
}

func hasData(exts []extent.Extent) bool {
	for _, e := range exts {
		if e.State == extent.Data {
			return true
		}
	}
	return false
}
