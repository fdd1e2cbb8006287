package extentfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/grainvm/grain/fsys"
)

type info struct{ dir bool }

func (info) Name() string        { return "x" }
func (info) Size() int64         { return 0 }
func (i info) Mode() fs.FileMode { return map[bool]fs.FileMode{true: fs.ModeDir}[i.dir] }
func (info) ModTime() time.Time  { return time.Time{} }
func (i info) IsDir() bool       { return i.dir }
func (info) Sys() any            { return nil }
func (info) String() string      { return "x" }

// volume is 0..255 repeated; the file is bytes 1000-1499 then 300-799.
func setup(valid int64) (*File, []byte) {
	vol := make([]byte, 4096)
	for i := range vol {
		vol[i] = byte(i)
	}
	ext := []fsys.Extent{{Logical: 0, Physical: 1000, Length: 500}, {Logical: 500, Physical: 300, Length: 500}}
	want := append(bytes.Clone(vol[1000:1500]), vol[300:800]...)
	if valid < int64(len(want)) {
		clear(want[valid:])
	}
	return New(bytes.NewReader(vol), "test", "x", info{}, ext, 1000, valid), want
}

func TestReadAt(t *testing.T) {
	for _, valid := range []int64{1000, 700, 0, 2000} {
		h, want := setup(valid)
		if err := iotest.TestReader(h, want); err != nil {
			t.Errorf("valid %d: %v", valid, err)
		}
		for _, off := range []int64{0, 1, 499, 500, 501, 999} {
			b := make([]byte, 300)
			n, err := h.ReadAt(b, off)
			k := min(300, 1000-int(off))
			if n != k || !bytes.Equal(b[:n], want[off:off+int64(n)]) || (k < 300) != (err == io.EOF) {
				t.Errorf("valid %d: ReadAt(%d) = %d, %v", valid, off, n, err)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	h, _ := setup(1000)
	if _, err := h.ReadAt(make([]byte, 1), -1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("negative offset: %v", err)
	}
	short := New(bytes.NewReader(make([]byte, 100)), "test", "x", info{}, []fsys.Extent{{Physical: 0, Length: 50}}, 80, 80)
	if _, err := short.ReadAt(make([]byte, 80), 0); err == nil || !strings.Contains(err.Error(), "test: no extent for offset 50") {
		t.Errorf("missing extent: %v", err)
	}
	past := New(bytes.NewReader(make([]byte, 100)), "test", "x", info{}, []fsys.Extent{{Physical: 90, Length: 50}}, 50, 50)
	if _, err := past.ReadAt(make([]byte, 50), 0); err == nil || !strings.Contains(err.Error(), "test: data at 0x5a") {
		t.Errorf("extent past the volume: %v", err)
	}
	if _, err := h.ReadDir(1); err == nil {
		t.Error("ReadDir of a file")
	}
	h.Close()
	if _, err := h.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := h.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestReadDir(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	d := NewDir("test", ".", info{dir: true}, len(names), func(i int) fs.DirEntry {
		return fs.FileInfoToDirEntry(namedInfo(names[i]))
	})
	var got []string
	for {
		list, err := d.ReadDir(2)
		for _, e := range list {
			got = append(got, e.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil || len(list) == 0 {
			t.Fatal(err)
		}
	}
	if strings.Join(got, "") != "abcde" {
		t.Errorf("ReadDir(2) pages: %q", got)
	}
	if list, err := d.ReadDir(-1); err != nil || len(list) != 0 {
		t.Errorf("ReadDir(-1) at the end: %v, %v", list, err)
	}
	if _, err := d.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("ReadAt of a directory")
	}
}

type namedInfo string

func (n namedInfo) Name() string     { return string(n) }
func (namedInfo) Size() int64        { return 0 }
func (namedInfo) Mode() fs.FileMode  { return 0 }
func (namedInfo) ModTime() time.Time { return time.Time{} }
func (namedInfo) IsDir() bool        { return false }
func (namedInfo) Sys() any           { return nil }

func TestOverlap(t *testing.T) {
	if Overlap([]fsys.Extent{{Physical: 0, Length: 10}, {Physical: 10, Length: 5}}) {
		t.Error("adjacent extents overlap")
	}
	if !Overlap([]fsys.Extent{{Physical: 20, Length: 10}, {Physical: 0, Length: 21}}) {
		t.Error("overlap not found")
	}
}

func TestReadData(t *testing.T) {
	vol := make([]byte, 4096)
	for i := range vol {
		vol[i] = byte(i)
	}
	ext := []fsys.Extent{{Logical: 0, Physical: 1000, Length: 500}, {Logical: 500, Physical: 300, Length: 500}}
	want := append(bytes.Clone(vol[1000:1500]), vol[300:800]...)
	for _, n := range []int64{0, 1, 500, 700, 1000} {
		buf := bytes.Repeat([]byte{0xEE}, 2000) // reused buffers come dirty
		got, err := ReadData(bytes.NewReader(vol), int64(len(vol)), "test", ext, n, buf)
		if err != nil || !bytes.Equal(got, want[:n]) {
			t.Errorf("n %d: %v", n, err)
		}
	}
	// Past what ext maps, zeros.
	got, err := ReadData(bytes.NewReader(vol), int64(len(vol)), "test", ext[:1], 700, bytes.Repeat([]byte{0xEE}, 700))
	if err != nil || !bytes.Equal(got[:500], want[:500]) || bytes.Count(got[500:], []byte{0}) != 200 {
		t.Errorf("short extents: %v", err)
	}
	if _, err := ReadData(bytes.NewReader(vol), 1200, "test", ext, 1000, nil); err == nil || !strings.Contains(err.Error(), "test: data at 0x3e8 beyond end of volume") {
		t.Errorf("past the volume: %v", err)
	}
	for off, p := range map[int64]int64{0: 1000, 499: 1499, 500: 300, 999: 799, 1000: -1, -1: -1} {
		if got := Physical(ext, off); got != p {
			t.Errorf("Physical(%d) = %d, want %d", off, got, p)
		}
	}
}

func TestRegion(t *testing.T) {
	vol := make([]byte, 3*regionPage+100)
	for i := range vol {
		vol[i] = byte(i * 7)
	}
	g := NewRegion(bytes.NewReader(vol), "test", 50, int64(len(vol))-50)
	for _, off := range []int64{0, 1, regionPage - 2, regionPage - 1, regionPage, 3*regionPage - 1, int64(len(vol)) - 54} {
		b := make([]byte, 4)
		if n, err := g.ReadAt(b, off); n != 4 || err != nil || !bytes.Equal(b, vol[50+off:54+off]) {
			t.Errorf("ReadAt(%d) = %d, %v, %x", off, n, err, b)
		}
	}
	if _, err := g.ReadAt(make([]byte, 4), int64(len(vol))-53); err == nil {
		t.Error("read past the region")
	}
	if _, err := g.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset")
	}
	bad := NewRegion(errReaderAt{}, "test", 0, 10)
	if _, err := bad.ReadAt(make([]byte, 1), 0); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("read error: %v", err)
	}
}

type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("boom") }

func TestChain(t *testing.T) {
	// A chain 2,3,7 of 4 KiB clusters after an extent of another chain
	// that ends where the new one starts: only extents from base merge.
	prev := []fsys.Extent{{Logical: 0, Physical: 0x1000, Length: 0x1000}}
	ext := Append(prev, 1, 0, 0x2000, 0x1000)
	ext = Append(ext, 1, 0x1000, 0x3000, 0x1000)
	ext = Append(ext, 1, 0x2000, 0x7000, 0x1000)
	want := []fsys.Extent{prev[0], {Logical: 0, Physical: 0x2000, Length: 0x2000}, {Logical: 0x2000, Physical: 0x7000, Length: 0x1000}}
	if !slices.Equal(ext, want) {
		t.Fatalf("Append: %+v, want %+v", ext, want)
	}
	if got, n, err := FinishChain("x", ext, 1, 3, 2); err != nil || n != 3 || len(got) != 3 {
		t.Errorf("FinishChain: %d extents, %d, %v", len(got), n, err)
	}
	// Cluster 3 again: a loop.
	loop := Append(ext, 1, 0x3000, 0x3000, 0x1000)
	if got, n, err := FinishChain("x", loop, 1, 4, 2); err == nil || !strings.HasPrefix(err.Error(), "x: cluster chain from 2") || n != 0 || len(got) != 1 {
		t.Errorf("FinishChain of a loop: %d extents, %d, %v", len(got), n, err)
	}
	if !Within([][]fsys.Extent{prev, want[1:]}, 0x7fff) || Within([][]fsys.Extent{prev, want[1:]}, 0x8000) || Within(nil, 0) {
		t.Error("Within")
	}
}
