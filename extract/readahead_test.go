package extract_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/extract"
)

// faultySource fails to open one file and fails reading another midway.
type faultySource struct {
	mapSource
	badOpen, badRead string
	readOK           int64 // bytes badRead gives before failing
}

var errInjected = errors.New("injected read error")

func (s faultySource) Open(name string) (fs.File, error) {
	if name == s.badOpen {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errInjected}
	}
	f, err := s.mapSource.Open(name)
	if err != nil || name != s.badRead {
		return f, err
	}
	return &failingFile{File: f, ra: f.(io.ReaderAt), ok: s.readOK}, nil
}

type failingFile struct {
	fs.File
	ra io.ReaderAt
	ok int64
}

func (f *failingFile) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) <= f.ok {
		return f.ra.ReadAt(b, off)
	}
	n, _ := f.ra.ReadAt(b[:max(0, f.ok-off)], off)
	return n, errInjected
}

// manyFiles is a tree of small files of random sizes and a few larger
// than one read piece, so that the read-ahead pool fills and pieces of
// one file follow each other.
func manyFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	m := fstest.MapFS{"evil": {}}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range 700 {
		n := r.IntN(40 << 10)
		if i%250 == 7 {
			n = 9<<20 + r.IntN(4096)
		}
		if i%100 == 3 {
			n = 0
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		m[fmt.Sprintf("v/d%d/f%03d", i%13, i)] = &fstest.MapFile{Data: b, ModTime: mtime, Mode: 0o644}
	}
	m["v/bad-open"] = &fstest.MapFile{Data: []byte("never read"), ModTime: mtime}
	m["v/bad-read"] = &fstest.MapFile{Data: bytes.Repeat([]byte("r"), 20000), ModTime: mtime}
	return m
}

// TestTarReadAheadAgainstSource: the parallel, ordered read-ahead writes
// every file's content as the source has it, in a tar stream Go's reader
// takes, reports a file it cannot open (left out) and one whose read
// fails midway (declared size kept, the rest zeros), for several worker
// counts.
func TestTarReadAheadAgainstSource(t *testing.T) {
	m := manyFiles(t)
	src := faultySource{mapSource: mapSource{MapFS: m}, badOpen: "v/bad-open", badRead: "v/bad-read", readOK: 5000}
	for _, workers := range []int{1, 3, 8} {
		var out bytes.Buffer
		var reports []string
		sum, err := extract.Tar(&out, src, []string{"v"}, &extract.Options{
			Workers: workers,
			Report:  func(p string, err error) { reports = append(reports, p) },
		})
		if !errors.Is(err, extract.ErrFailed) || sum.Failed != 2 || len(reports) != 2 {
			t.Fatalf("workers %d: %+v, %v, reports %v", workers, sum, err, reports)
		}
		got := map[string][]byte{}
		tr := tar.NewReader(&out)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("workers %d: %v", workers, err)
			}
			if hdr.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				got[hdr.Name] = b
			}
		}
		for name, f := range m {
			rel := name
			switch {
			case name == "evil" || f.Mode.IsDir():
				continue
			case name == "v/bad-open":
				if _, ok := got[rel]; ok {
					t.Errorf("workers %d: unopenable file written", workers)
				}
				continue
			case name == "v/bad-read":
				want := append(bytes.Repeat([]byte("r"), 5000), make([]byte, 15000)...)
				if !bytes.Equal(got[rel], want) {
					t.Errorf("workers %d: failed read not padded with zeros to its size", workers)
				}
				continue
			}
			if !bytes.Equal(got[rel], f.Data) {
				t.Errorf("workers %d: %s: %d bytes, want %d (content differs)", workers, rel, len(got[rel]), len(f.Data))
			}
		}
		if sum.Files != len(got) || sum.Files != len(m)-2 {
			t.Errorf("workers %d: %d files counted, %d written, %d in the source", workers, sum.Files, len(got), len(m)-2)
		}
	}
}

func TestZipReadAheadAgainstSource(t *testing.T) {
	m := manyFiles(t)
	delete(m, "v/bad-open")
	delete(m, "v/bad-read")
	var out bytes.Buffer
	if _, err := extract.Zip(&out, mapSource{MapFS: m}, []string{"v"}, &extract.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		files++
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, m[f.Name].Data) {
			t.Errorf("%s: content differs (%v)", f.Name, err)
		}
	}
	if files != len(m)-1 {
		t.Errorf("%d files in the zip, want %d", files, len(m)-1)
	}
}

// shortWriter fails after n bytes, as a closed pipe does.
type shortWriter struct{ n int }

func (w *shortWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("broken pipe")
	}
	w.n -= len(b)
	return len(b), nil
}

// TestTarStopsOnOutputError: an output that fails midway stops the
// listing and the readers and returns the error, without hanging.
func TestTarStopsOnOutputError(t *testing.T) {
	src := mapSource{MapFS: manyFiles(t)}
	done := make(chan error, 1)
	go func() {
		_, err := extract.Tar(&shortWriter{n: 1 << 20}, src, []string{"v"}, &extract.Options{Workers: 4})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, extract.ErrFailed) {
			t.Errorf("got %v, want the output's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tar did not stop after its output failed")
	}
}

// TestTarToFileAndPipe: written to a file or a pipe (gathered writes
// from the read buffers, on Linux), the stream is byte for byte the one
// written to any other writer, read failures and all; a pipe closed
// early stops the archive with the write's error.
func TestTarToFileAndPipe(t *testing.T) {
	m := manyFiles(t)
	src := faultySource{mapSource: mapSource{MapFS: m}, badOpen: "v/bad-open", badRead: "v/bad-read", readOK: 5000}
	for _, workers := range []int{1, 3} {
		opts := &extract.Options{Workers: workers}
		var want bytes.Buffer
		wantSum, _ := extract.Tar(&want, src, []string{"v"}, opts)

		f, err := os.CreateTemp(t.TempDir(), "out.tar")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := extract.Tar(f, src, []string{"v"}, opts)
		if !errors.Is(err, extract.ErrFailed) || sum != wantSum {
			t.Errorf("workers %d: to a file: %+v, %v; to a buffer %+v", workers, sum, err, wantSum)
		}
		f.Close()
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("workers %d: %d bytes written to a file, %d to a buffer, not the same", workers, len(got), want.Len())
		}

		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(pr)
			read <- b
		}()
		sum, err = extract.Tar(pw, src, []string{"v"}, opts)
		pw.Close()
		got = <-read
		pr.Close()
		if !errors.Is(err, extract.ErrFailed) || sum != wantSum || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("workers %d: to a pipe: %+v, %v, %d bytes; to a buffer %+v, %d bytes", workers, sum, err, len(got), wantSum, want.Len())
		}
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	go func() {
		io.CopyN(io.Discard, pr, 1<<20)
		pr.Close()
	}()
	done := make(chan error, 1)
	go func() {
		_, err := extract.Tar(pw, mapSource{MapFS: m}, []string{"v"}, &extract.Options{Workers: 4})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, extract.ErrFailed) {
			t.Errorf("pipe closed early: got %v, want the write's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tar did not stop after its pipe was closed")
	}
}
