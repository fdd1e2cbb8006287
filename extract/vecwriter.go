package extract

import "io"

// vecWriter writes a tar stream to a file or pipe with gathered writes
// (writev), so that the read-ahead pieces go out from their own buffers
// instead of being copied into an output buffer first (for a stream of
// gigabytes, that copy was the writer's largest cost). Pieces wait, up
// to vecBytes or vecMax of them, and go back to their pool once written.
// Small writes (headers of folders and links, the end) are copied into a
// staging buffer. The archive flushes it before it waits for a piece
// (archiver.idle), so that it never holds pool buffers while the pool's
// readers wait for room.
type vecWriter struct {
	writev func(iov [][]byte) (int, error)
	iov    [][]byte
	held   []heldBuf
	n      int    // bytes waiting
	stage  []byte // never grows past stageSize: iov points into it
	tail   int    // start in stage of the last iov, when it is the stage's tail; else -1
	err    error
}

type heldBuf struct {
	buf  []byte
	pool *pool
}

const (
	vecBytes  = 1 << 20 // bytes waiting that start a write
	vecMax    = 1024    // pieces waiting that start a write (Linux's IOV_MAX)
	stageSize = 64 << 10
)

func newVecWriterFunc(writev func([][]byte) (int, error)) *vecWriter {
	return &vecWriter{writev: writev, stage: make([]byte, 0, stageSize), tail: -1}
}

// Write queues a copy of b (b is the caller's to reuse), or writes it at
// once when it is large.
func (v *vecWriter) Write(b []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(b) > stageSize/4 {
		v.iov = append(v.iov, b)
		v.n += len(b)
		v.tail = -1
		if err := v.flush(); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if len(v.stage)+len(b) > cap(v.stage) {
		if err := v.flush(); err != nil {
			return 0, err
		}
	}
	s := len(v.stage)
	v.stage = append(v.stage, b...)
	if v.tail >= 0 {
		v.iov[len(v.iov)-1] = v.stage[v.tail:]
	} else {
		v.iov = append(v.iov, v.stage[s:])
		v.tail = s
	}
	v.n += len(b)
	return len(b), v.maybeFlush()
}

// take queues data, which lies in buf, a buffer of pl given back once
// data is written.
func (v *vecWriter) take(data, buf []byte, pl *pool) error {
	if v.err != nil || len(data) == 0 {
		if buf != nil {
			pl.put(buf)
		}
		return v.err
	}
	v.iov = append(v.iov, data)
	v.n += len(data)
	v.tail = -1
	if buf != nil {
		v.held = append(v.held, heldBuf{buf, pl})
	}
	return v.maybeFlush()
}

func (v *vecWriter) maybeFlush() error {
	if v.n >= vecBytes || len(v.iov) >= vecMax {
		return v.flush()
	}
	return nil
}

// flush writes what waits and gives the buffers back.
func (v *vecWriter) flush() error {
	iov := v.iov
	for len(iov) > 0 && v.err == nil {
		n, err := v.writev(iov)
		for n > 0 {
			if n >= len(iov[0]) {
				n -= len(iov[0])
				iov = iov[1:]
			} else {
				iov[0] = iov[0][n:]
				n = 0
			}
		}
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
		if err != nil {
			v.err = err
		}
	}
	for _, h := range v.held {
		h.pool.put(h.buf)
	}
	clear(v.iov)
	clear(v.held)
	v.iov, v.held, v.stage, v.n, v.tail = v.iov[:0], v.held[:0], v.stage[:0], 0, -1
	return v.err
}

var _ io.Writer = (*vecWriter)(nil)
