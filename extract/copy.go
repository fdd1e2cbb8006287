package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grainvm/grain/fsys"
)

// chunk is the size of one read: large, so that the storage streams.
const chunk = 4 << 20

// copyChunk is the size of one read of cp's workers, which each keep a
// buffer: smaller, as there are more of them and most files are smaller.
const copyChunk = 1 << 20

// Copy copies the source paths into the folder dest (made if missing),
// each under its own base name.
//
// The selection is listed in batches (see walkPlan) on a goroutine of its
// own while workers copy the batch before: folders are made as they are
// listed, each batch's files are copied in disk order, and hard links,
// symbolic links and folder times follow once every file is written.
func Copy(src Source, paths []string, dest string, opts *Options) (Summary, error) {
	if opts == nil {
		opts = &Options{}
	}
	var sum Summary
	if err := checkPaths(src, paths, opts); err != nil {
		return sum, err
	}
	if err := planned(src, paths, opts); err != nil {
		return sum, err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return sum, err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return sum, err
	}
	defer root.Close()
	c := &copier{src: src, root: root, opts: opts, sum: &sum, badDirs: map[string]bool{}, zeros: make([]byte, copyChunk)}
	if c.dirs, err = newOpenDirs(root); err != nil {
		return sum, err
	}
	defer c.dirs.close()
	batches, wait, stop := streamPlan(src, paths, opts, func(it *item) { c.fail(it, it.err) })
	defer stop()
	work := make(chan *item, 256)
	var wg sync.WaitGroup
	workers := opts.Workers
	if workers <= 0 {
		workers = copyWorkers
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{c: c}
			for it := range work {
				if err := c.copyFile(w, it); err != nil {
					c.fail(it, err)
				}
				it.release()
			}
		}()
	}
	for b := range batches {
		for _, d := range b.dirs {
			c.mkdir(d)
		}
		for _, f := range b.files {
			work <- f
		}
	}
	close(work)
	wg.Wait()
	p, err := wait()
	if err != nil {
		sum.Bytes = c.bytes.Load()
		return sum, err
	}
	for _, h := range p.hardlinks {
		c.hardlink(h)
	}
	for _, l := range p.links {
		c.symlink(l)
	}
	// Directory times last, deepest first (each folder is listed after
	// its parent): writing into a directory changes its time.
	for i := len(p.dirs) - 1; i >= 0; i-- {
		d := p.dirs[i]
		if d.err == nil {
			rel := hostRel(d.rel)
			if d.meta != nil && d.meta.UnixMode != 0 {
				c.root.Chmod(rel, fs.FileMode(d.meta.UnixMode&0o777))
			}
			c.setOwner(d, rel)
			c.setTimes(c.root, d, rel)
		}
	}
	sum.Bytes = c.bytes.Load()
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%d of %d entries failed: %w", sum.Failed, p.entries, ErrFailed)
	}
	return sum, nil
}

// copyWorkers is how many files are copied at once by default. Creating
// many small files is mostly the host kernel's work (inode allocation in
// ext4); on two cores, 4 workers copied the 200,000-file benchmark tree
// in 32-33 s where 8 took 34-52 s, the extra ones contending in the
// kernel.
const copyWorkers = 4

// checkPaths fails early, before anything is written, on a source path
// that does not exist or is a folder without Recursive.
func checkPaths(src Source, paths []string, opts *Options) error {
	for _, sp := range paths {
		info, err := src.Lstat(sp)
		if err != nil {
			return err
		}
		if info.IsDir() && !opts.Recursive {
			return fmt.Errorf("%s is a directory (use -r)", "/"+sp)
		}
	}
	return nil
}

func hostRel(rel string) string {
	h, _ := hostPath(rel)
	return h
}

type copier struct {
	src      Source
	root     *os.Root
	opts     *Options
	mu       sync.Mutex
	reportMu sync.Mutex
	sum      *Summary
	bytes    atomic.Int64
	// badDirs are destination folders that could not be made, or that
	// exist as something other than a real folder: nothing goes below.
	badDirs map[string]bool
	zeros   []byte // copyChunk zero bytes, only read
	dirs    *openDirs
}

// worker is one copying goroutine's own state: its read buffer.
type worker struct {
	c   *copier
	buf []byte
}

// openDirs keeps the destination's folders open as roots of their own,
// shared by the workers, so that creating a file and setting its times
// each take one system call on its base name instead of one per folder
// of its path. Files in disk order hop between folders (a batch of the
// benchmark tree touches about 165 of them, switching at nearly every
// file), so the cache holds many.
type openDirs struct {
	top  *openDir // the destination
	mu   sync.Mutex
	open map[string]*openDir
}

type openDir struct {
	root *os.Root
	dir  *os.File // the folder itself, where files are made by name (Linux)
	fd   int
	refs int
}

func newOpenDirs(top *os.Root) (*openDirs, error) {
	f, fd, err := openDirFile(top)
	if err != nil {
		return nil, err
	}
	return &openDirs{top: &openDir{root: top, dir: f, fd: fd}, open: map[string]*openDir{}}, nil
}

func (o *openDir) close() {
	if o.dir != nil {
		o.dir.Close()
	}
	o.root.Close()
}

// maxOpenDirs bounds the folders kept open (two descriptors each on
// Linux, well under the usual limit of 1024); idle ones are closed when
// it is reached.
const maxOpenDirs = 256

// get returns the folder rel of the destination; put gives it back.
func (d *openDirs) get(rel string) (*openDir, error) {
	if rel == "" || rel == "." {
		return d.top, nil
	}
	d.mu.Lock()
	if o, ok := d.open[rel]; ok {
		o.refs++
		d.mu.Unlock()
		return o, nil
	}
	d.mu.Unlock()
	r, err := d.top.root.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	f, fd, err := openDirFile(r)
	if err != nil {
		r.Close()
		return nil, err
	}
	o := &openDir{root: r, dir: f, fd: fd, refs: 1}
	d.mu.Lock()
	defer d.mu.Unlock()
	if x, ok := d.open[rel]; ok { // another worker opened it meanwhile
		o.close()
		x.refs++
		return x, nil
	}
	if len(d.open) >= maxOpenDirs {
		for k, x := range d.open {
			if x.refs == 0 {
				x.close()
				delete(d.open, k)
			}
		}
	}
	d.open[rel] = o
	return o, nil
}

func (d *openDirs) put(o *openDir) {
	if o == d.top {
		return
	}
	d.mu.Lock()
	o.refs--
	d.mu.Unlock()
}

func (d *openDirs) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, o := range d.open {
		o.close()
		delete(d.open, k)
	}
	if d.top.dir != nil {
		d.top.dir.Close()
	}
}

func (c *copier) fail(it *item, err error) {
	c.mu.Lock()
	c.sum.Failed++
	c.mu.Unlock()
	it.err = err
	c.report("/"+it.src, err)
}

// report calls Options.Report, one call at a time.
func (c *copier) report(p string, err error) {
	if c.opts.Report != nil {
		c.reportMu.Lock()
		defer c.reportMu.Unlock()
		c.opts.Report(p, err)
	}
}

// underBadDir reports whether a destination path lies in a folder that
// was refused.
func (c *copier) underBadDir(rel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if c.badDirs[d] {
			return true
		}
	}
	return false
}

func (c *copier) target(it *item) (string, bool) {
	rel, renamed := hostPath(it.rel)
	if renamed {
		c.mu.Lock()
		c.sum.Renamed++
		c.mu.Unlock()
		c.report("/"+it.src, fmt.Errorf("written as %s: the name is not valid on this system", rel))
	}
	if c.underBadDir(rel) {
		c.fail(it, fmt.Errorf("not copied: a folder above it could not be made"))
		return "", false
	}
	return rel, true
}

func (c *copier) mkdir(d *item) {
	rel, ok := c.target(d)
	if !ok {
		c.markBad(rel)
		return
	}
	err := c.root.Mkdir(rel, 0o755)
	if errors.Is(err, fs.ErrExist) {
		// Only a real folder will do: never write through a link.
		fi, lerr := c.root.Lstat(rel)
		if lerr == nil && fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			err = nil
		} else {
			err = fmt.Errorf("%s exists in the destination and is not a folder", rel)
		}
	}
	if err != nil {
		c.markBad(rel)
		c.fail(d, err)
		return
	}
	c.mu.Lock()
	c.sum.Dirs++
	c.mu.Unlock()
}

func (c *copier) markBad(rel string) {
	c.mu.Lock()
	c.badDirs[rel] = true
	c.mu.Unlock()
}

// create makes a new file name in dir, refusing to replace one unless
// Overwrite (and never writing through an existing link: it is removed
// first).
func (c *copier) create(dir *os.Root, name string, perm fs.FileMode) (*os.File, error) {
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) && c.opts.Overwrite {
		if fi, lerr := dir.Lstat(name); lerr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s exists in the destination as a folder", name)
		}
		if rerr := dir.Remove(name); rerr != nil {
			return nil, rerr
		}
		f, err = dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s exists in the destination (use --overwrite)", name)
	}
	return f, err
}

func filePerm(it *item) fs.FileMode {
	if m := it.meta; m != nil && m.UnixMode != 0 {
		return fs.FileMode(m.UnixMode & 0o777)
	}
	return 0o644
}

// openFile opens a listed file's content: from the walk's FileInfo where
// the source can (no path look-up), else by its path.
func openFile(src Source, it *item) (fs.File, error) {
	if o, ok := src.(fsys.InfoOpener); ok && it.info != nil {
		return o.OpenInfo(it.src, it.info)
	}
	return src.Open(it.src)
}

func (c *copier) copyFile(w *worker, it *item) error {
	rel, ok := c.target(it)
	if !ok {
		return it.err
	}
	in, err := openFile(c.src, it)
	if err != nil {
		return err
	}
	defer in.Close()
	dirRel, base := path.Split(rel)
	od, err := c.dirs.get(strings.TrimSuffix(dirRel, "/"))
	if err != nil {
		return err
	}
	defer c.dirs.put(od)
	out, err := c.createIn(od, base, rel, filePerm(it))
	if err != nil {
		return err
	}
	if w.buf == nil {
		w.buf = make([]byte, copyChunk)
	}
	if err := copySparse(out, in, it.size, w.buf, c.zeros, c.progress); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", "/"+it.src, err)
	}
	if c.opts.Streams {
		if err := c.copyStreams(it, out, rel); err != nil {
			out.Close()
			return err
		}
	}
	if c.opts.Owners && it.meta != nil && it.meta.UnixMode != 0 {
		out.Chown(int(it.meta.UID), int(it.meta.GID))
	}
	if err := out.Close(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sum.Files++
	c.mu.Unlock()
	var atime time.Time
	if c.opts.Atime && it.meta != nil {
		atime = it.meta.Access
	}
	chtimesIn(od, base, atime, it.mtime)
	return nil
}

// createIn makes the new file name in the folder d (rel is its path, for
// errors), refusing to replace one unless Overwrite (and never writing
// through an existing link: it is removed first).
func (c *copier) createIn(d *openDir, name, rel string, perm fs.FileMode) (*os.File, error) {
	f, err := createIn(d, name, perm)
	if errors.Is(err, fs.ErrExist) && c.opts.Overwrite {
		if fi, lerr := d.root.Lstat(name); lerr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s exists in the destination as a folder", rel)
		}
		if rerr := d.root.Remove(name); rerr != nil {
			return nil, rerr
		}
		f, err = createIn(d, name, perm)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s exists in the destination (use --overwrite)", rel)
	}
	return f, err
}

func (c *copier) progress(n int64) {
	c.bytes.Add(n)
	if c.opts.Progress != nil {
		c.opts.Progress(n)
	}
}

// copySparse copies size bytes, skipping runs of zeros by seeking, so that
// holes stay holes, then sizes the file.
func copySparse(out *os.File, in fs.File, size int64, buf, zeros []byte, progress func(int64)) error {
	ra, _ := in.(io.ReaderAt)
	var off, end int64 // end: where the data written so far ends
	for off < size {
		n := int(min(int64(len(buf)), size-off))
		var err error
		if ra != nil {
			n, err = ra.ReadAt(buf[:n], off)
		} else {
			n, err = io.ReadFull(in, buf[:n])
		}
		if n > 0 {
			e, err := writeNonZero(out, buf[:n], zeros, off)
			if err != nil {
				return err
			}
			end = max(end, e)
			off += int64(n)
			progress(int64(n))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != size {
		return fmt.Errorf("read %d of %d bytes", off, size)
	}
	if end == size {
		return nil // a new file, written up to its size
	}
	return out.Truncate(size)
}

// holeUnit is the granularity at which runs of zeros become holes: the
// usual file-system block, so holes in the source stay holes.
const holeUnit = 4096

// writeNonZero writes b at off, leaving out runs of zero blocks (they
// stay holes, as the file is sized at the end). It returns where the
// last write ended (0 if none).
func writeNonZero(out *os.File, b, zeros []byte, off int64) (int64, error) {
	if bytes.Equal(b, zeros[:len(b)]) {
		return 0, nil
	}
	start := -1
	var end int64
	for i := 0; i < len(b); i += holeUnit {
		j := min(i+holeUnit, len(b))
		zero := bytes.Equal(b[i:j], zeros[:j-i])
		switch {
		case !zero && start < 0:
			start = i
		case zero && start >= 0:
			if _, err := out.WriteAt(b[start:i], off+int64(start)); err != nil {
				return 0, err
			}
			end = off + int64(i)
			start = -1
		}
	}
	if start >= 0 {
		if _, err := out.WriteAt(b[start:], off+int64(start)); err != nil {
			return 0, err
		}
		end = off + int64(len(b))
	}
	return end, nil
}

// setTimes sets the times of name in dir (a zero access time is left as
// it is).
func (c *copier) setTimes(dir *os.Root, it *item, name string) {
	var atime time.Time
	if c.opts.Atime {
		if m := it.meta; m != nil {
			atime = m.Access
		}
	}
	dir.Chtimes(name, atime, it.mtime)
}

func (c *copier) setOwner(it *item, rel string) {
	if !c.opts.Owners || it.meta == nil || it.meta.UnixMode == 0 {
		return
	}
	c.root.Lchown(rel, int(it.meta.UID), int(it.meta.GID))
}

func (c *copier) hardlink(h *item) {
	first := h.linkTo
	rel, ok := c.target(h)
	if !ok {
		return
	}
	if first.err != nil {
		c.fail(h, fmt.Errorf("hard link to /%s, which failed", first.src))
		return
	}
	err := c.root.Link(hostRel(first.rel), rel)
	if errors.Is(err, fs.ErrExist) && c.opts.Overwrite {
		if err = c.root.Remove(rel); err == nil {
			err = c.root.Link(hostRel(first.rel), rel)
		}
	}
	if err != nil {
		c.fail(h, err)
		return
	}
	c.mu.Lock()
	c.sum.HardLinks++
	c.mu.Unlock()
}

func (c *copier) symlink(l *item) {
	rel, ok := c.target(l)
	if !ok {
		return
	}
	err := c.root.Symlink(l.link, rel)
	if errors.Is(err, fs.ErrExist) && c.opts.Overwrite {
		if fi, lerr := c.root.Lstat(rel); lerr == nil && !fi.IsDir() {
			if err = c.root.Remove(rel); err == nil {
				err = c.root.Symlink(l.link, rel)
			}
		}
	}
	if err != nil {
		c.fail(l, err)
		return
	}
	c.mu.Lock()
	c.sum.Symlinks++
	c.mu.Unlock()
}

// copyStreams writes each named data stream of a file beside its content
// (see writeStream for where).
func (c *copier) copyStreams(it *item, out *os.File, rel string) error {
	ss, ok := c.src.(StreamSource)
	if !ok || it.meta == nil {
		return nil
	}
	for _, s := range it.meta.Streams {
		if err := c.copyStream(ss, it, s, out, rel); err != nil {
			return fmt.Errorf("/%s:%s: %w", it.src, s.Name, err)
		}
	}
	return nil
}

func (c *copier) copyStream(ss StreamSource, it *item, s fsys.Stream, out *os.File, rel string) error {
	f, err := ss.OpenStream(it.src, s.Name)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStreamInMemory+1))
	if err != nil {
		return err
	}
	if len(data) <= maxStreamInMemory {
		if err := writeStreamAttr(out, s.Name, data); err == nil {
			return nil
		}
	}
	// Too large for an extended attribute, or none possible here: a side
	// file "NAME:STREAM" (on Windows, that is the stream itself).
	side := rel + "%3A" + s.Name
	if streamSideFileIsNative {
		side = rel + ":" + s.Name
	}
	sf, err := c.create(c.root, side, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		sf.Close()
		return err
	}
	if _, err := io.Copy(sf, f); err != nil {
		sf.Close()
		return err
	}
	return sf.Close()
}

// maxStreamInMemory is the largest stream stored as an extended attribute
// (ext4 and most Linux file systems hold values up to a block).
const maxStreamInMemory = 4000
