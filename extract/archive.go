package extract

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sync"
)

// maxStreamRecord is the largest named stream or extended attribute kept
// as a PAX record; larger streams become entries of their own, named
// "FILE%3ASTREAM" as grain cp names its side files.
const maxStreamRecord = 64 << 10

// Tar writes the selection as a PAX tar stream: nanosecond times, long
// names, symbolic and hard links, Unix modes and owners, extended
// attributes and NTFS named streams as SCHILY.xattr records (streams as
// "user.grain.stream.NAME"). The selection is listed in batches (see
// walkPlan): each batch's new folders come first, then its files in the
// order of their data on the disk; then hard links, and the folders again,
// each with its symbolic links, so that folder times hold when GNU tar or
// libarchive extracts the stream. File contents are read ahead by several
// workers (see eachFile), which also format the files' headers. The
// headers are byte for byte those of archive/tar's Writer with Format PAX;
// an entry archive/tar would refuse (an extended attribute name with "=",
// a long name with NUL) is reported and left out, the rest of the archive
// written. An *os.File w (a file or pipe) is written with gathered writes
// straight from the read buffers (Linux); any other w gets many small
// writes and is best buffered.
func Tar(w io.Writer, src Source, paths []string, opts *Options) (Summary, error) {
	o := *orEmpty(opts)
	o.Recursive = true
	var sum Summary
	if err := checkPaths(src, paths, &o); err != nil {
		return sum, err
	}
	if err := planned(src, paths, &o); err != nil {
		return sum, err
	}
	a := &archiver{src: src, opts: &o, sum: &sum}
	// To a file or pipe, the pieces read ahead are written from their own
	// buffers (see vecWriter).
	if vw := newVecWriter(w); vw != nil {
		w, a.idle = vw, vw.flush
	}
	// Headers of folders and links are made here, those of files by the
	// workers that read them (see eachFile).
	var th tarHeader
	var buf []byte
	writeHeader := func(it *item, typ byte, name, link string) error {
		a.tarHeader(it, typ, &th)
		th.name, th.link = name, link
		var err error
		if buf, err = appendTar(buf[:0], &th); err != nil {
			a.fail(it, err)
			return nil
		}
		_, err = w.Write(buf)
		return err
	}
	// Every folder first (as it is listed, before any file of its
	// batch), so that extractors create each one from its own entry
	// (libarchive restores the times of folders it created once
	// extraction ends).
	writeDir := func(d *item) error { return writeHeader(d, tar.TypeDir, d.rel+"/", "") }
	fr := framing{head: a.tarFileHeader, align: tarBlock}
	p, err := a.eachFile(paths, fr, func(d *item) error {
		if err := writeDir(d); err != nil {
			return err
		}
		sum.Dirs++
		return nil
	}, func(it *item, r *pieceReader) error {
		if _, err := r.WriteTo(w); err != nil {
			return err
		}
		sum.Files++
		for _, s := range it.bigStreams {
			if err := a.tarStream(w, it, s, &buf); err != nil {
				if errors.Is(err, errOutput) {
					return err
				}
				a.fail(it, err)
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	for _, h := range p.hardlinks {
		if h.linkTo.err != nil {
			a.fail(h, fmt.Errorf("hard link to /%s, which failed", h.linkTo.src))
			continue
		}
		if err := writeHeader(h, tar.TypeLink, h.rel, h.linkTo.rel); err != nil {
			return sum, err
		}
		sum.HardLinks++
	}
	// Then each folder again, parents first, followed by the symbolic
	// links in it: GNU tar applies a folder's time once the entries that
	// follow it leave it, and after the links it makes at the end inside
	// it; so the folders' times hold with both GNU tar and libarchive.
	linksIn := map[string][]*item{}
	for _, l := range p.links {
		linksIn[path.Dir(l.rel)] = append(linksIn[path.Dir(l.rel)], l)
	}
	writeLinks := func(ls []*item) error {
		for _, l := range ls {
			if err := writeHeader(l, tar.TypeSymlink, l.rel, l.link); err != nil {
				return err
			}
			sum.Symlinks++
		}
		return nil
	}
	for _, d := range p.dirs {
		if err := writeDir(d); err != nil {
			return sum, err
		}
		if err := writeLinks(linksIn[d.rel]); err != nil {
			return sum, err
		}
		delete(linksIn, d.rel)
	}
	for _, l := range p.links {
		if _, ok := linksIn[path.Dir(l.rel)]; ok {
			if err := writeLinks([]*item{l}); err != nil {
				return sum, err
			}
		}
	}
	// The end: two zero blocks.
	if _, err := w.Write(make([]byte, 2*tarBlock)); err != nil {
		return sum, err
	}
	if a.idle != nil {
		if err := a.idle(); err != nil {
			return sum, err
		}
	}
	return a.finish(p)
}

// Zip writes the selection as a zip file (ZIP64 where sizes need it),
// deflated, with modification times, Unix modes, and symbolic links as
// unzip and 7-Zip restore them. Hard links are stored as copies; NTFS
// named streams, with Streams, as entries "FILE%3ASTREAM".
func Zip(w io.Writer, src Source, paths []string, opts *Options) (Summary, error) {
	o := *orEmpty(opts)
	o.Recursive = true
	var sum Summary
	if err := checkPaths(src, paths, &o); err != nil {
		return sum, err
	}
	if err := planned(src, paths, &o); err != nil {
		return sum, err
	}
	a := &archiver{src: src, opts: &o, sum: &sum}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	write := func(it *item, name string, r io.Reader) error {
		fw, err := zw.CreateHeader(a.zipHeader(it, name, zip.Deflate))
		if err != nil {
			return err
		}
		_, err = io.Copy(fw, r)
		return err
	}
	p, err := a.eachFile(paths, framing{}, func(d *item) error {
		if _, err := zw.CreateHeader(a.zipHeader(d, d.rel+"/", zip.Store)); err != nil {
			return err
		}
		sum.Dirs++
		return nil
	}, func(it *item, r *pieceReader) error {
		if err := write(it, it.rel, r); err != nil {
			return err
		}
		sum.Files++
		if o.Streams && it.meta != nil {
			if ss, ok := src.(StreamSource); ok {
				for _, s := range it.meta.Streams {
					f, err := ss.OpenStream(it.src, s.Name)
					if err != nil {
						a.fail(it, err)
						continue
					}
					err = write(it, it.rel+"%3A"+s.Name, f)
					f.Close()
					if err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	// Zip has no hard links: the second name gets a copy.
	for _, h := range p.hardlinks {
		if h.linkTo.err != nil {
			a.fail(h, fmt.Errorf("hard link to /%s, which failed", h.linkTo.src))
			continue
		}
		f, err := src.Open(h.linkTo.src)
		if err != nil {
			a.fail(h, err)
			continue
		}
		err = write(h, h.rel, f)
		f.Close()
		if err != nil {
			return sum, err
		}
		sum.HardLinks++
	}
	for _, l := range p.links {
		hdr := a.zipHeader(l, l.rel, zip.Store)
		hdr.SetMode(fs.ModeSymlink | 0o777)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return sum, err
		}
		if _, err := io.WriteString(fw, l.link); err != nil {
			return sum, err
		}
		sum.Symlinks++
	}
	if err := zw.Close(); err != nil {
		return sum, err
	}
	return a.finish(p)
}

func orEmpty(o *Options) *Options {
	if o == nil {
		return &Options{}
	}
	return o
}

type archiver struct {
	src  Source
	opts *Options
	mu   sync.Mutex // Failed and Report: the listing reports from its own goroutine
	sum  *Summary
	// idle, if set, is called before the writer waits for the next entry
	// or piece (a vecWriter's flush).
	idle func() error
}

func (a *archiver) fail(it *item, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sum.Failed++
	it.err = err
	if a.opts.Report != nil {
		a.opts.Report("/"+it.src, err)
	}
}

func (a *archiver) finish(p *plan) (Summary, error) {
	if a.sum.Failed > 0 {
		return *a.sum, fmt.Errorf("%d of %d entries failed: %w", a.sum.Failed, p.entries, ErrFailed)
	}
	return *a.sum, nil
}

func unixMode(it *item, def fs.FileMode) int64 {
	if m := it.meta; m != nil && m.UnixMode != 0 {
		return int64(m.UnixMode & 0o7777)
	}
	return int64(def)
}

// tarHeader fills h with it's header as an entry of type typ, named
// it.rel.
func (a *archiver) tarHeader(it *item, typ byte, h *tarHeader) {
	def := fs.FileMode(0o644)
	if typ == tar.TypeDir {
		def = 0o755
	} else if typ == tar.TypeSymlink {
		def = 0o777
	}
	*h = tarHeader{typ: typ, name: it.rel, mode: unixMode(it, def), mtime: it.mtime, xattrs: h.xattrs[:0]}
	if m := it.meta; m != nil {
		h.atime, h.ctime = m.Access, m.Change
		if m.UnixMode != 0 {
			h.uid, h.gid = int64(m.UID), int64(m.GID)
		}
		for _, x := range m.Xattrs {
			if len(x.Value) <= maxStreamRecord {
				h.xattrs = append(h.xattrs, tarXattr{x.Name, x.Value})
			}
		}
	}
}

// tarFileHeader appends a regular file's header to buf, with its small
// named streams as records (its large ones are noted for the writer, as
// entries of their own); it runs on the worker reading the file.
func (a *archiver) tarFileHeader(it *item, buf []byte) ([]byte, error) {
	var h tarHeader
	a.tarHeader(it, tar.TypeReg, &h)
	h.size = it.size
	a.streamRecords(it, &h)
	return appendTar(buf, &h)
}

// streamRecords adds a file's small named streams to h as records and
// notes the large ones in it.bigStreams.
func (a *archiver) streamRecords(it *item, h *tarHeader) {
	if !a.opts.Streams || it.meta == nil {
		return
	}
	ss, ok := a.src.(StreamSource)
	if !ok {
		return
	}
	for _, s := range it.meta.Streams {
		if s.Size > maxStreamRecord {
			it.bigStreams = append(it.bigStreams, s.Name)
			continue
		}
		f, err := ss.OpenStream(it.src, s.Name)
		if err != nil {
			a.fail(it, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, maxStreamRecord+1))
		f.Close()
		if err != nil {
			a.fail(it, err)
			continue
		}
		h.xattrs = append(h.xattrs, tarXattr{"user.grain.stream." + s.Name, data})
	}
}

// errOutput marks errors of the output, which stop the archive.
var errOutput = errors.New("extract: writing the archive")

// tarStream writes a large named stream of it as an entry of its own.
func (a *archiver) tarStream(w io.Writer, it *item, name string, buf *[]byte) error {
	f, err := a.src.(StreamSource).OpenStream(it.src, name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var h tarHeader
	a.tarHeader(it, tar.TypeReg, &h)
	h.name, h.size, h.xattrs = it.rel+"%3A"+name, st.Size(), nil
	if *buf, err = appendTar((*buf)[:0], &h); err != nil {
		return err
	}
	if _, err := w.Write(*buf); err != nil {
		return fmt.Errorf("%w: %w", errOutput, err)
	}
	// Exactly the size declared, then the padding: zeros stand for what
	// could not be read.
	n, rerr := io.Copy(writerOnly{w}, io.LimitReader(f, h.size))
	if werr, ok := rerr.(outputError); ok {
		return fmt.Errorf("%w: %w", errOutput, werr.error)
	}
	if rerr == nil && n < h.size {
		rerr = io.ErrUnexpectedEOF
	}
	if err := writeZeros(w, h.size-n+tarPad(h.size)); err != nil {
		return fmt.Errorf("%w: %w", errOutput, err)
	}
	return rerr
}

// writerOnly marks the errors of w, to tell them from the reader's in
// io.Copy.
type writerOnly struct{ w io.Writer }

type outputError struct{ error }

func (o writerOnly) Write(b []byte) (int, error) {
	n, err := o.w.Write(b)
	if err != nil {
		err = outputError{err}
	}
	return n, err
}

func writeZeros(w io.Writer, n int64) error {
	var z [tarBlock]byte
	for n > 0 {
		k, err := w.Write(z[:min(n, tarBlock)])
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

func (a *archiver) zipHeader(it *item, name string, method uint16) *zip.FileHeader {
	hdr := &zip.FileHeader{Name: name, Method: method, Modified: it.mtime}
	mode := fs.FileMode(unixMode(it, 0o644))
	if it.dir {
		mode = fs.ModeDir | fs.FileMode(unixMode(it, 0o755))
	}
	hdr.SetMode(mode)
	return hdr
}

func (a *archiver) progress(n int64) {
	a.sum.Bytes += n
	if a.opts.Progress != nil {
		a.opts.Progress(n)
	}
}
