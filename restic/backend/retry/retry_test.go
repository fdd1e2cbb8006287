package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/retry"
)

var fast = retry.Policy{MaxTries: 5, Initial: time.Millisecond, Max: 4 * time.Millisecond}

// flaky is a backend over one file whose calls fail a set number of times
// and whose readers break after a few bytes.
type flaky struct {
	data      []byte
	failCalls int // calls that fail before one succeeds
	breakRead int // readers fail after this many bytes (0: never)
	calls     int
	err       error
}

func (f *flaky) fail() error {
	f.calls++
	if f.failCalls > 0 {
		f.failCalls--
		return f.err
	}
	return nil
}

func (f *flaky) Save(ctx context.Context, h restic.Handle, data []byte) error { return f.fail() }
func (f *flaky) Stat(ctx context.Context, h restic.Handle) (restic.FileInfo, error) {
	return restic.FileInfo{Name: h.Name, Size: int64(len(f.data))}, f.fail()
}
func (f *flaky) Remove(ctx context.Context, h restic.Handle) error { return f.fail() }
func (f *flaky) List(ctx context.Context, t restic.FileType, fn func(restic.FileInfo) error) error {
	for i := 0; i < 3; i++ {
		if err := fn(restic.FileInfo{Name: fmt.Sprint(i), Size: 1}); err != nil {
			return err
		}
		if i == 1 {
			if err := f.fail(); err != nil {
				return err
			}
		}
	}
	return nil
}

type breakingReader struct {
	r    io.Reader
	left int
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

func (f *flaky) Load(ctx context.Context, h restic.Handle, off int64, length int) (io.ReadCloser, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	d := f.data[off:]
	if length > 0 {
		d = d[:length]
	}
	var r io.Reader = bytes.NewReader(d)
	if f.breakRead > 0 {
		r = &breakingReader{r, f.breakRead}
	}
	return io.NopCloser(r), nil
}

func TestTransientRetried(t *testing.T) {
	f := &flaky{failCalls: 3, err: errors.New("503 Service Unavailable")}
	b := retry.Wrap(f, fast)
	if err := b.Save(context.Background(), restic.Handle{Type: restic.LockFile, Name: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if f.calls != 4 {
		t.Fatalf("%d calls", f.calls)
	}
}

func TestPermanentNotRetried(t *testing.T) {
	for _, perm := range []error{fs.ErrNotExist, fmt.Errorf("x: %w", fs.ErrPermission), retry.Permanent(errors.New("401")), context.Canceled} {
		f := &flaky{failCalls: 100, err: perm}
		b := retry.Wrap(f, fast)
		_, err := b.Stat(context.Background(), restic.Handle{Type: restic.KeyFile, Name: "k"})
		if !errors.Is(err, perm) && err.Error() != perm.Error() {
			t.Fatalf("%v: err = %v", perm, err)
		}
		if f.calls != 1 {
			t.Fatalf("%v: %d calls", perm, f.calls)
		}
	}
}

func TestGiveUp(t *testing.T) {
	f := &flaky{failCalls: 100, err: errors.New("EOF")}
	b := retry.Wrap(f, fast)
	err := b.Remove(context.Background(), restic.Handle{Type: restic.LockFile, Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "giving up after 5 tries") || f.calls != 5 {
		t.Fatalf("err = %v after %d calls", err, f.calls)
	}
}

func TestCancel(t *testing.T) {
	f := &flaky{failCalls: 100, err: errors.New("EOF")}
	b := retry.Wrap(f, retry.Policy{MaxTries: 10, Initial: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := b.Save(ctx, restic.Handle{Type: restic.LockFile, Name: "x"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || f.calls != 1 {
		t.Fatalf("err = %v after %d calls", err, f.calls)
	}
}

// TestResume: a reader that breaks every 1000 bytes is reopened at the
// right offset until the range is read.
func TestResume(t *testing.T) {
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, r := range [][2]int{{0, 0}, {123, 4567}, {9000, 0}} {
		f := &flaky{data: data, breakRead: 1000, err: errors.New("x")}
		b := retry.Wrap(f, fast) // 5 tries: failures in a row count, not all
		rc, err := b.Load(context.Background(), restic.Handle{Type: restic.PackFile, Name: "ab"}, int64(r[0]), r[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		want := data[r[0]:]
		if r[1] > 0 {
			want = want[:r[1]]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v: %d bytes, %v", r, len(got), err)
		}
	}
}

// TestListOnce: a listing retried after a failure part way does not hand
// the same file to fn twice.
func TestListOnce(t *testing.T) {
	f := &flaky{failCalls: 2, err: errors.New("EOF")}
	b := retry.Wrap(f, fast)
	var names []string
	if err := b.List(context.Background(), restic.SnapshotFile, func(fi restic.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "0,1,2" {
		t.Fatalf("names %v", names)
	}
	stop := errors.New("stop")
	if err := b.List(context.Background(), restic.SnapshotFile, func(restic.FileInfo) error { return stop }); err != stop {
		t.Fatalf("err = %v", err)
	}
}
