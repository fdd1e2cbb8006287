package extract

import (
	"io"
	"math/bits"
	"sync"
)

// Archives are written by one goroutine, entry after entry, but their
// files' contents are opened and read ahead by several workers: opening
// a file costs a metadata read and parse, and a small file's content is
// one short read, so one reader in order would leave the cores idle.
//
// A feeder turns the listing's batches into one ordered stream of
// entries (folders, then each batch's files in disk order) for the
// writer, and hands the same file jobs, in the same order, to the
// workers. Each worker reads its file into pieces (at most chunk bytes)
// taken from a bounded pool and sends them on the job's own channel; the
// writer takes the jobs in order and each job's pieces in order.
//
// The pool bounds the memory read ahead. It cannot deadlock: workers on
// files after the one the writer is on (the head) may fill the pool only
// up to one chunk less than its limit, so the head's worker always finds
// room once the writer has taken the head's earlier pieces.

const (
	// readAheadBytes bounds the content read ahead of the writer.
	readAheadBytes = 32 << 20
	// readAheadFiles bounds how many files are opened ahead of the writer.
	readAheadFiles = 1024
	// readWorkers is how many files are read at once by default.
	readWorkers = 4
)

// job is one file to read ahead.
type job struct {
	it     *item
	seq    int64
	pieces chan piece
}

// entry is the writer's next step: a folder or a file.
type entry struct {
	dir *item
	job *job
}

// piece is a run of one file's content read ahead.
type piece struct {
	data    []byte
	buf     []byte // to give back to the pool
	err     error  // the read stopped here
	openErr error  // the file could not be opened: no content follows
	last    bool
	total   int64 // on a file's first piece: the bytes its reader owes
}

// pool hands out read buffers within a byte budget, favouring the file
// the writer waits for (see above). Buffers come in powers of two from
// minPiece to chunk and are reused.
type pool struct {
	mu      sync.Mutex
	cond    sync.Cond
	used    int64
	head    int64 // seq of the file the writer is on
	stopped bool
	free    [poolClasses][][]byte
	idle    int64 // bytes in free
}

const (
	minPieceShift = 12 // 4 KiB
	chunkShift    = 22 // chunk = 4 MiB
	poolClasses   = chunkShift - minPieceShift + 1
)

func newPool() *pool {
	p := &pool{head: -1}
	p.cond.L = &p.mu
	return p
}

// class is the size class holding n bytes (0 < n <= chunk).
func class(n int) int {
	if n <= 1<<minPieceShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPieceShift
}

// get returns a buffer of at least n bytes (0 < n <= chunk) for the file
// seq, waiting for room; ok is false once the pool is stopped.
func (p *pool) get(n int, seq int64) (buf []byte, ok bool) {
	c := class(n)
	size := int64(1) << (c + minPieceShift)
	p.mu.Lock()
	for {
		if p.stopped {
			p.mu.Unlock()
			return nil, false
		}
		limit := int64(readAheadBytes - chunk)
		if seq == p.head {
			limit = readAheadBytes
		}
		if p.used+size <= limit {
			break
		}
		p.cond.Wait()
	}
	p.used += size
	if k := len(p.free[c]); k > 0 {
		buf = p.free[c][k-1]
		p.free[c] = p.free[c][:k-1]
		p.idle -= size
	}
	p.mu.Unlock()
	if buf == nil {
		buf = make([]byte, size)
	}
	return buf, true
}

// put gives a buffer back.
func (p *pool) put(buf []byte) {
	size := int64(cap(buf))
	p.mu.Lock()
	p.used -= size
	if p.idle+size <= readAheadBytes {
		c := class(int(size))
		p.free[c] = append(p.free[c], buf[:size])
		p.idle += size
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// advance tells the pool which file the writer is on.
func (p *pool) advance(seq int64) {
	p.mu.Lock()
	p.head = seq
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// framing is what an archive puts around each file's content: bytes
// before it (a tar header), made on the worker that reads the file, and
// zero padding after it to a multiple of align.
type framing struct {
	// head appends the file's leading bytes to buf (a buffer the worker
	// reuses); an error leaves the file out, reported like one that
	// cannot be opened.
	head  func(it *item, buf []byte) ([]byte, error)
	align int64
}

// eachFile lists the selection and hands every folder to dir and every
// regular file to file, as a reader of its framed content (fr.head's
// bytes, the content, padding), in the order of the listing's batches
// (folders as listed, files in disk order), reading ahead on several
// workers. A file that cannot be opened is reported and skipped; one
// whose read fails midway has had its header written already, so the
// rest of its declared size reads as zeros and the file is reported as
// failed. An error from dir or file (the output) stops everything.
func (a *archiver) eachFile(paths []string, fr framing, dir func(*item) error, file func(*item, *pieceReader) error) (*plan, error) {
	batches, wait, stopPlan := streamPlan(a.src, paths, a.opts, func(it *item) { a.fail(it, it.err) })
	pl := newPool()
	quit := make(chan struct{})
	order := make(chan entry, readAheadFiles)
	work := make(chan *job, readAheadFiles)
	// Jobs the writer is done with, for the feeder to reuse.
	free := make(chan *job, readAheadFiles)
	var wg sync.WaitGroup
	stop := func() {
		close(quit)
		pl.stop()
		stopPlan()
		wg.Wait()
	}
	// The feeder.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		var seq int64
		for {
			var b *batch
			select {
			case b = <-batches:
			case <-quit:
				return
			}
			if b == nil {
				return
			}
			for _, d := range b.dirs {
				select {
				case order <- entry{dir: d}:
				case <-quit:
					return
				}
			}
			for _, it := range b.files {
				var j *job
				select {
				case j = <-free:
				default:
					j = &job{pieces: make(chan piece, 2)}
				}
				j.it, j.seq = it, seq
				seq++
				select {
				case order <- entry{job: j}:
				case <-quit:
					return
				}
				select {
				case work <- j:
				case <-quit:
					return
				}
			}
		}
	}()
	workers := a.opts.Workers
	if workers <= 0 {
		workers = readWorkers
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []byte
			for j := range work {
				var ok bool
				if scratch, ok = a.read(j, pl, fr, scratch, quit); !ok {
					return
				}
			}
		}()
	}
	var r pieceReader
	for {
		e, ok := receive(order, a.idle)
		if !ok {
			break
		}
		if e.dir != nil {
			if err := dir(e.dir); err != nil {
				stop()
				return nil, err
			}
			continue
		}
		j := e.job
		pl.advance(j.seq)
		first, _ := receive(j.pieces, a.idle)
		it := j.it
		if first.openErr != nil {
			a.fail(it, first.openErr)
			it.release()
			recycle(free, j)
			continue
		}
		// One reader for all files (its zeros kept).
		r = pieceReader{cur: first, pieces: j.pieces, pool: pl, left: first.total, idle: a.idle, zero: r.zero}
		if err := file(it, &r); err != nil {
			r.release()
			stop()
			return nil, err
		}
		r.drain()
		// The worker sent its last piece: the job is free.
		recycle(free, j)
		if r.err != nil {
			a.fail(it, r.err)
		}
		a.progress(it.size)
		it.release()
	}
	stop()
	return wait()
}

// recycle hands a finished job back to the feeder (dropping it if the
// free list is full).
func recycle(free chan<- *job, j *job) {
	j.it = nil
	select {
	case free <- j:
	default:
	}
}

// receive takes the next value from c, calling idle first (when set)
// if it has to wait.
func receive[T any](c <-chan T, idle func() error) (T, bool) {
	if idle != nil {
		select {
		case v, ok := <-c:
			return v, ok
		default:
			idle() // its error comes back from the next write
		}
	}
	v, ok := <-c
	return v, ok
}

// read opens one job's file and reads its framed content into pieces;
// false once stopped. scratch is the worker's buffer for fr.head.
func (a *archiver) read(j *job, pl *pool, fr framing, scratch []byte, quit <-chan struct{}) ([]byte, bool) {
	send := func(p piece) bool {
		select {
		case j.pieces <- p:
			return true
		case <-quit:
			if p.buf != nil {
				pl.put(p.buf)
			}
			return false
		}
	}
	f, err := openFile(a.src, j.it)
	if err != nil {
		return scratch, send(piece{openErr: err, last: true})
	}
	defer f.Close()
	var head []byte
	if fr.head != nil {
		if scratch, err = fr.head(j.it, scratch[:0]); err != nil {
			return scratch, send(piece{openErr: err, last: true})
		}
		head = scratch
	}
	ra, _ := f.(io.ReaderAt)
	size := j.it.size
	var pad int64
	if fr.align > 1 {
		pad = -size & (fr.align - 1)
	}
	// The framed content is head, then size bytes of the file, then pad
	// zeros: total bytes, cut into pieces of at most chunk bytes.
	h := int64(len(head))
	total := h + size + pad
	for off := int64(0); ; {
		n := min(chunk, total-off)
		var buf []byte
		var rerr error
		got := int64(0)
		if n > 0 {
			var ok bool
			if buf, ok = pl.get(int(n), j.seq); !ok {
				return scratch, false
			}
			b := buf[:n]
			if off < h {
				got = int64(copy(b, head[off:]))
			}
			// The file's bytes in this piece: [lo, hi) of the content.
			lo, hi := max(off+got, h)-h, min(off+n, h+size)-h
			if lo < hi {
				dst := b[got : got+hi-lo]
				var k int
				if ra != nil {
					k, rerr = ra.ReadAt(dst, lo)
				} else {
					k, rerr = io.ReadFull(f, dst)
				}
				if rerr == io.EOF && lo+int64(k) == size {
					rerr = nil
				}
				if rerr == nil && k < len(dst) {
					rerr = io.ErrUnexpectedEOF
				}
				got += int64(k)
			}
			if rerr == nil && got < n {
				clear(b[got:]) // the padding (pool buffers are reused)
				got = n
			}
		}
		p := piece{data: buf[:got], buf: buf, err: rerr, last: rerr != nil || off+got >= total}
		if off == 0 {
			p.total = total
		}
		off += got
		if !send(p) {
			return scratch, false
		}
		if p.last {
			return scratch, true
		}
	}
}

// pieceReader reads one file's pieces; after a failed read it gives zeros
// up to the size already declared (and the padding).
type pieceReader struct {
	cur    piece
	pieces <-chan piece
	pool   *pool
	idle   func() error // called before waiting for a piece
	left   int64        // bytes still owed to the reader
	zeros  bool         // the read failed: the rest is zeros
	zero   []byte
	err    error
}

// more readies the next bytes; false at the end.
func (r *pieceReader) more() bool {
	for {
		if r.left == 0 {
			return false
		}
		if r.zeros || len(r.cur.data) > 0 {
			return true
		}
		if r.cur.err != nil && r.err == nil {
			r.err = r.cur.err
		}
		if r.cur.last || r.err != nil {
			r.release()
			r.zeros = true
			continue
		}
		r.release()
		r.cur, _ = receive(r.pieces, r.idle)
	}
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if !r.more() {
		return 0, io.EOF
	}
	if r.zeros {
		n := int(min(int64(len(p)), r.left))
		clear(p[:n])
		r.left -= int64(n)
		return n, nil
	}
	n := copy(p, r.cur.data)
	r.cur.data = r.cur.data[n:]
	r.left -= int64(n)
	return n, nil
}

// WriteTo writes the pieces straight from the read buffers; a vecWriter
// takes the buffers themselves, to give back once written.
func (r *pieceReader) WriteTo(w io.Writer) (int64, error) {
	vw, _ := w.(*vecWriter)
	var total int64
	for r.more() {
		if vw != nil && !r.zeros {
			b, buf := r.cur.data, r.cur.buf
			r.cur.data, r.cur.buf = nil, nil
			r.left -= int64(len(b))
			if err := vw.take(b, buf, r.pool); err != nil {
				return total, err
			}
			total += int64(len(b))
			continue
		}
		b := r.cur.data
		if r.zeros {
			if r.zero == nil {
				r.zero = make([]byte, 64<<10)
			}
			b = r.zero[:min(int64(len(r.zero)), r.left)]
		}
		n, err := w.Write(b)
		total += int64(n)
		r.left -= int64(n)
		if !r.zeros {
			r.cur.data = r.cur.data[n:]
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// release gives the current piece's buffer back.
func (r *pieceReader) release() {
	if r.cur.buf != nil {
		r.pool.put(r.cur.buf)
		r.cur.buf = nil
	}
}

// drain takes the rest of the file's pieces off its channel.
func (r *pieceReader) drain() {
	for {
		last := r.cur.last
		if r.cur.err != nil && r.err == nil {
			r.err = r.cur.err
		}
		r.release()
		if last {
			return
		}
		r.cur = <-r.pieces
	}
}
