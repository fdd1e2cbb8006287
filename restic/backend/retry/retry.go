// Package retry wraps a restic.Backend so that transient failures (network
// errors, HTTP 5xx and 429, a dropped connection) are retried with bounded
// exponential backoff, while permanent ones (a missing file, refused
// credentials, HTTP 4xx, a bad file name) fail at once.
//
// Backends say an error is permanent by returning an error whose chain
// holds a value with a `Permanent() bool` method that reports true (see
// Permanent), or by wrapping fs.ErrNotExist, fs.ErrExist or
// fs.ErrPermission. Context cancellation is never retried.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"time"

	"github.com/grainvm/grain/restic"
)

// Policy bounds the retries.
type Policy struct {
	// MaxTries is the number of attempts including the first (default 10).
	MaxTries int
	// Initial is the wait after the first failure (default 500 ms); each
	// further wait doubles, up to Max (default 10 s). Waits are jittered by
	// up to ±20 %. With the defaults ten tries span about a minute.
	Initial, Max time.Duration
	// Notify, when set, is called before each wait (for logging).
	Notify func(op string, try int, err error, wait time.Duration)
}

// DefaultPolicy is the policy used when Wrap gets a zero Policy.
func DefaultPolicy() Policy {
	return Policy{MaxTries: 10, Initial: 500 * time.Millisecond, Max: 10 * time.Second}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.MaxTries <= 0 {
		p.MaxTries = d.MaxTries
	}
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	return p
}

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err so that the wrapper does not retry it. It returns nil
// for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err must not be retried.
func IsPermanent(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Backend is a restic.Backend whose calls are retried.
type Backend struct {
	be     restic.Backend
	policy Policy
}

// Wrap returns be with retries. A zero Policy means DefaultPolicy.
func Wrap(be restic.Backend, p Policy) *Backend {
	return &Backend{be: be, policy: p.withDefaults()}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() restic.Backend { return b.be }

// Close closes the wrapped backend when it has a Close method.
func (b *Backend) Close() error {
	if c, ok := b.be.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// do runs fn until it succeeds, fails permanently, the tries run out or ctx
// ends.
func (b *Backend) do(ctx context.Context, op string, fn func() error) error {
	wait := b.policy.Initial
	var err error
	for try := 1; ; try++ {
		if cerr := ctx.Err(); cerr != nil {
			if err != nil {
				return fmt.Errorf("retry: %s: %w (after %d tries, last error: %v)", op, cerr, try-1, err)
			}
			return cerr
		}
		err = fn()
		if err == nil || IsPermanent(err) {
			return err
		}
		if try >= b.policy.MaxTries {
			return fmt.Errorf("retry: %s: giving up after %d tries: %w", op, try, err)
		}
		d := jitter(wait)
		if b.policy.Notify != nil {
			b.policy.Notify(op, try, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait *= 2
		if wait > b.policy.Max {
			wait = b.policy.Max
		}
	}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	// ±20 %
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	return time.Duration(int64(d) - span/2 + rand.Int64N(span+1))
}

// Save retries the whole upload.
func (b *Backend) Save(ctx context.Context, h restic.Handle, data []byte) error {
	return b.do(ctx, "save "+h.String(), func() error { return b.be.Save(ctx, h, data) })
}

// Stat retries.
func (b *Backend) Stat(ctx context.Context, h restic.Handle) (restic.FileInfo, error) {
	var fi restic.FileInfo
	err := b.do(ctx, "stat "+h.String(), func() error {
		var err error
		fi, err = b.be.Stat(ctx, h)
		return err
	})
	return fi, err
}

// Remove retries; a file already gone after a failed try counts as removed.
func (b *Backend) Remove(ctx context.Context, h restic.Handle) error {
	tried := false
	return b.do(ctx, "remove "+h.String(), func() error {
		err := b.be.Remove(ctx, h)
		if tried && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		tried = true
		return err
	})
}

// List retries the listing, skipping names already passed to fn so that fn
// sees each file once.
func (b *Backend) List(ctx context.Context, t restic.FileType, fn func(restic.FileInfo) error) error {
	seen := make(map[string]bool)
	var fnErr error
	err := b.do(ctx, "list "+t.String(), func() error {
		return b.be.List(ctx, t, func(fi restic.FileInfo) error {
			if seen[fi.Name] {
				return nil
			}
			seen[fi.Name] = true
			if err := fn(fi); err != nil {
				fnErr = err
				return Permanent(err)
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Load retries opening the file, and when reading fails part way it opens
// the rest of the range again (within the same retry budget).
func (b *Backend) Load(ctx context.Context, h restic.Handle, offset int64, length int) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("retry: load %v: invalid range offset %d length %d", h, offset, length)
	}
	var rc io.ReadCloser
	err := b.do(ctx, "load "+h.String(), func() error {
		var err error
		rc, err = b.be.Load(ctx, h, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumeReader{b: b, ctx: ctx, h: h, rc: rc, off: offset, left: length, whole: length == 0}, nil
}

// resumeReader reopens the range after a transient read error.
type resumeReader struct {
	b     *Backend
	ctx   context.Context
	h     restic.Handle
	rc    io.ReadCloser
	off   int64 // next offset to read
	left  int   // bytes still wanted (when !whole)
	whole bool  // read to the end of the file
	tries int
}

func (r *resumeReader) Read(p []byte) (int, error) {
	if r.rc == nil {
		return 0, fmt.Errorf("retry: load %v: read after close", r.h)
	}
	if !r.whole {
		if r.left == 0 {
			return 0, io.EOF
		}
		if len(p) > r.left {
			p = p[:r.left]
		}
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	if !r.whole {
		r.left -= n
	}
	if n > 0 {
		r.tries = 0 // progress: count failures in a row only
	}
	if err == nil || err == io.EOF || IsPermanent(err) {
		if err == io.EOF && !r.whole && r.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		return n, err
	}
	r.tries++
	if r.tries >= r.b.policy.MaxTries {
		return n, fmt.Errorf("retry: load %v: giving up after %d read errors: %w", r.h, r.tries, err)
	}
	r.rc.Close()
	r.rc = nil
	var rc io.ReadCloser
	rerr := r.b.do(r.ctx, "reload "+r.h.String(), func() error {
		var err error
		rc, err = r.b.be.Load(r.ctx, r.h, r.off, r.left)
		return err
	})
	if rerr != nil {
		return n, fmt.Errorf("retry: load %v at offset %d: %v; reopening: %w", r.h, r.off, err, rerr)
	}
	r.rc = rc
	return n, nil
}

func (r *resumeReader) Close() error {
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}

// Do runs fn under policy p (zero: DefaultPolicy) until it succeeds, fails
// permanently, the tries run out or ctx ends. op names the operation in
// the error.
func Do(ctx context.Context, p Policy, op string, fn func() error) error {
	b := &Backend{policy: p.withDefaults()}
	return b.do(ctx, op, fn)
}
