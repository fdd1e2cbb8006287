package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grainvm/grain/fsys"
)

// chunk is the size of one read: large, so that the storage streams.
const chunk = 4 << 20

// Copy copies the source paths into the folder dest (made if missing),
// each under its own base name.
func Copy(src Source, paths []string, dest string, opts *Options) (Summary, error) {
	if opts == nil {
		opts = &Options{}
	}
	var sum Summary
	p, err := makePlan(src, paths, opts)
	if err != nil {
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
	c := &copier{src: src, root: root, opts: opts, sum: &sum, badDirs: map[string]bool{}}
	for _, it := range p.failed {
		c.fail(it, it.err)
	}
	for _, d := range p.dirs {
		c.mkdir(d)
	}
	c.copyFiles(p.files)
	for _, h := range p.hardlinks {
		c.hardlink(h)
	}
	for _, l := range p.links {
		c.symlink(l)
	}
	// Directory times last, deepest first: writing into a directory
	// changes its time.
	for i := len(p.dirs) - 1; i >= 0; i-- {
		d := p.dirs[i]
		if d.err == nil {
			rel := hostRel(d.rel)
			if d.meta != nil && d.meta.UnixMode != 0 {
				c.root.Chmod(rel, fs.FileMode(d.meta.UnixMode&0o777))
			}
			c.setOwner(d, rel)
			c.setTimes(d, rel)
		}
	}
	sum.Bytes = c.bytes.Load()
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%d of %d entries failed: %w", sum.Failed, len(p.dirs)+len(p.files)+len(p.links)+len(p.hardlinks)+len(p.failed), ErrFailed)
	}
	return sum, nil
}

func hostRel(rel string) string {
	h, _ := hostPath(rel)
	return h
}

type copier struct {
	src   Source
	root  *os.Root
	opts  *Options
	mu    sync.Mutex
	sum   *Summary
	bytes atomic.Int64
	// badDirs are destination folders that could not be made, or that
	// exist as something other than a real folder: nothing goes below.
	badDirs map[string]bool
}

func (c *copier) fail(it *item, err error) {
	c.mu.Lock()
	c.sum.Failed++
	c.mu.Unlock()
	it.err = err
	if c.opts.Report != nil {
		c.opts.Report("/"+it.src, err)
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
		if c.opts.Report != nil {
			c.opts.Report("/"+it.src, fmt.Errorf("written as %s: the name is not valid on this system", rel))
		}
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

func (c *copier) copyFiles(files []*item) {
	workers := c.opts.Workers
	if workers <= 0 {
		workers = 4
	}
	work := make(chan *item)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, chunk)
			zeros := make([]byte, chunk)
			for it := range work {
				if err := c.copyFile(it, buf, zeros); err != nil {
					c.fail(it, err)
				}
				close(it.done)
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
}

// create makes a new file, refusing to replace one unless Overwrite (and
// never writing through an existing link: it is removed first).
func (c *copier) create(rel string, perm fs.FileMode) (*os.File, error) {
	f, err := c.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) && c.opts.Overwrite {
		if fi, lerr := c.root.Lstat(rel); lerr == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s exists in the destination as a folder", rel)
		}
		if rerr := c.root.Remove(rel); rerr != nil {
			return nil, rerr
		}
		f, err = c.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s exists in the destination (use --overwrite)", rel)
	}
	return f, err
}

func filePerm(it *item) fs.FileMode {
	if m := it.meta; m != nil && m.UnixMode != 0 {
		return fs.FileMode(m.UnixMode & 0o777)
	}
	return 0o644
}

func (c *copier) copyFile(it *item, buf, zeros []byte) error {
	rel, ok := c.target(it)
	if !ok {
		return it.err
	}
	in, err := c.src.Open(it.src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := c.create(rel, filePerm(it))
	if err != nil {
		return err
	}
	if err := copySparse(out, in, it.info.Size(), buf, zeros, c.progress); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", "/"+it.src, err)
	}
	if c.opts.Streams {
		if err := c.copyStreams(it, out, rel); err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sum.Files++
	c.mu.Unlock()
	c.setOwner(it, rel)
	c.setTimes(it, rel)
	return nil
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
	var off int64
	for off < size {
		n := int(min(int64(len(buf)), size-off))
		var err error
		if ra != nil {
			n, err = ra.ReadAt(buf[:n], off)
		} else {
			n, err = io.ReadFull(in, buf[:n])
		}
		if n > 0 {
			if err := writeNonZero(out, buf[:n], zeros, off); err != nil {
				return err
			}
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
	return out.Truncate(size)
}

// holeUnit is the granularity at which runs of zeros become holes: the
// usual file-system block, so holes in the source stay holes.
const holeUnit = 4096

// writeNonZero writes b at off, leaving out runs of zero blocks (they
// stay holes, as the file is sized at the end).
func writeNonZero(out *os.File, b, zeros []byte, off int64) error {
	if bytes.Equal(b, zeros[:len(b)]) {
		return nil
	}
	start := -1
	for i := 0; i < len(b); i += holeUnit {
		j := min(i+holeUnit, len(b))
		zero := bytes.Equal(b[i:j], zeros[:j-i])
		switch {
		case !zero && start < 0:
			start = i
		case zero && start >= 0:
			if _, err := out.WriteAt(b[start:i], off+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		_, err := out.WriteAt(b[start:], off+int64(start))
		return err
	}
	return nil
}

func (c *copier) setTimes(it *item, rel string) {
	var atime time.Time
	if c.opts.Atime {
		if m := it.meta; m != nil {
			atime = m.Access
		}
	}
	c.root.Chtimes(rel, atime, it.info.ModTime())
}

func (c *copier) setOwner(it *item, rel string) {
	if !c.opts.Owners || it.meta == nil || it.meta.UnixMode == 0 {
		return
	}
	c.root.Lchown(rel, int(it.meta.UID), int(it.meta.GID))
}

func (c *copier) hardlink(h *item) {
	first := h.linkTo
	<-first.done
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
	sf, err := c.create(side, 0o644)
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
