package ntfs

import (
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// cursor is what an open file keeps for Read, Seek and Close on top of
// its ReadAt (which keeps nothing: it is safe for concurrent use). Both
// kinds of open file (file, plainFile) embed one.
type cursor struct {
	path   string
	mu     sync.Mutex // also guards the embedding file's own state
	pos    int64
	closed bool
}

func (c *cursor) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return &fs.PathError{Op: "close", Path: c.path, Err: fs.ErrClosed}
	}
	c.closed = true
	return nil
}

// read is Read through readAt from the current position. An empty p
// reads nothing, except where readAt is to say why (a directory).
func (c *cursor) read(p []byte, readAt func([]byte, int64) (int, error), emptyOK bool) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, &fs.PathError{Op: "read", Path: c.path, Err: fs.ErrClosed}
	}
	if len(p) == 0 && emptyOK {
		return 0, nil
	}
	n, err := readAt(p, c.pos)
	c.pos += int64(n)
	if err == io.EOF && n > 0 && n == len(p) {
		err = nil
	}
	return n, err
}

// seek is Seek for content of size bytes.
func (c *cursor) seek(offset int64, whence int, size int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = c.pos + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return 0, &fs.PathError{Op: "seek", Path: c.path, Err: fmt.Errorf("invalid whence %d", whence)}
	}
	if abs < 0 {
		return 0, &fs.PathError{Op: "seek", Path: c.path, Err: fs.ErrInvalid}
	}
	c.pos = abs
	return abs, nil
}
