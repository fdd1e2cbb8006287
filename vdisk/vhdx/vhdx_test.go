package vhdx_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/vdisk/extent"
	"github.com/grainvm/grain/vdisk/vhdx"
)

// open opens path read-only as a vhdx.Image.
func open(t testing.TB, path string, opts *vhdx.Options) (*vhdx.Image, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return vhdx.NewImage(f, st.Size(), opts)
}

func mustOpen(t testing.TB, path string, opts *vhdx.Options) *vhdx.Image {
	t.Helper()
	im, err := open(t, path, opts)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return im
}

// sha is the sha256 of a whole virtual disk, read in large pieces.
func sha(t testing.TB, r io.ReaderAt, size int64) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		if _, err := r.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// qemuRawSHA converts an image to raw with qemu-img and hashes it.
func qemuRawSHA(t testing.TB, path string) string {
	t.Helper()
	testutil.RequireTool(t, "qemu-img")
	out := filepath.Join(t.TempDir(), "q.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", path, out)
	return testutil.FileSHA256(t, out)
}

// qemuRaw converts an image to a (sparse) raw file with qemu-img.
func qemuRaw(t testing.TB, path string) string {
	t.Helper()
	testutil.RequireTool(t, "qemu-img")
	out := filepath.Join(t.TempDir(), "qemu.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", path, out)
	return out
}

// compareRaw checks that r (size bytes) holds what the raw file holds,
// reading only the raw file's data ranges (SEEK_DATA/SEEK_HOLE) and, in its
// holes, only the extents r says hold data.
func compareRaw(t testing.TB, r io.ReaderAt, size int64, raw string) {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Size() != size {
		t.Fatalf("size %d, qemu-img's raw has %d", size, st.Size())
	}
	a, b := make([]byte, 4<<20), make([]byte, 4<<20)
	zero := make([]byte, 4<<20)
	cmp := func(off, end int64, fromRaw bool) {
		for off < end {
			n := min(int64(len(a)), end-off)
			if _, err := r.ReadAt(a[:n], off); err != nil && err != io.EOF {
				t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
			}
			want := zero[:n]
			if fromRaw {
				if _, err := f.ReadAt(b[:n], off); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				want = b[:n]
			}
			if !bytes.Equal(a[:n], want) {
				i := 0
				for a[i] == want[i] {
					i++
				}
				t.Fatalf("content differs from qemu-img's at byte %d (0x%x): grain %#x, qemu %#x", off+int64(i), off+int64(i), a[i], want[i])
			}
			off += n
		}
	}
	checkHole := func(off, end int64) {
		m, ok := r.(extent.Mapper)
		if !ok {
			cmp(off, end, false)
			return
		}
		exts, err := m.Extents(nil, off, end-off)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exts {
			if e.State == extent.Data {
				cmp(e.Offset, e.End(), false)
			}
		}
	}
	for off := int64(0); off < size; {
		d, err := f.Seek(off, 3) // SEEK_DATA
		if err != nil {
			d = size
		}
		checkHole(off, d)
		if d >= size {
			break
		}
		h, err := f.Seek(d, 4) // SEEK_HOLE
		if err != nil {
			h = size
		}
		cmp(d, h, true)
		off = h
	}
}

// replayedCopy replays a dirty image's log with qemu-img check -r all on
// a copy, which is returned.
func replayedCopy(t testing.TB, path string) string {
	t.Helper()
	testutil.RequireTool(t, "qemu-img")
	cp := filepath.Join(t.TempDir(), "replayed.vhdx")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("qemu-img", "check", "-r", "all", "-f", "vhdx", cp)
	if out, err := cmd.CombinedOutput(); err != nil {
		// check exits non-zero when it repaired something; the log is
		// replayed on open all the same.
		t.Logf("qemu-img check -r all: %v\n%s", err, out)
	}
	return cp
}

func TestSamples(t *testing.T) {
	cases := []struct {
		name   string
		typ    string
		hash   bool // also compare whole-disk sha256 with qemu-img convert
		lss    int
		parent bool
	}{
		{"fixed.vhdx", "fixed", true, 512, false},
		{"dynamic.vhdx", "dynamic", true, 512, false},
		{"iotest-dynamic-1G.vhdx", "dynamic", false, 512, false},
		{"test-disk2vhd.vhdx", "dynamic", true, 512, false},
		{"xfs.vhdx", "dynamic", false, 512, false},
		{"btrfs.vhdx", "dynamic", false, 512, false},
		{"swap.vhdx", "dynamic", false, 512, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := testutil.Sample(t, c.name)
			defer testutil.Unchanged(t, path)()
			im := mustOpen(t, path, nil)
			if im.Type() != c.typ || im.LogicalSectorSize() != c.lss || im.HasParent() != c.parent {
				t.Errorf("type %s lss %d parent %v", im.Type(), im.LogicalSectorSize(), im.HasParent())
			}
			if im.Log().Dirty || im.Log().Replayed {
				t.Errorf("clean sample reported dirty: %+v", im.Log())
			}
			checkVhdiinfo(t, path, im)
			compareRaw(t, im, im.Size(), qemuRaw(t, path))
			if c.hash {
				if got, want := sha(t, im, im.Size()), qemuRawSHA(t, path); got != want {
					t.Errorf("sha256 %s, qemu-img says %s", got, want)
				}
			}
		})
	}
}

// checkVhdiinfo compares metadata with libvhdi's vhdiinfo.
func checkVhdiinfo(t testing.TB, path string, im *vhdx.Image) {
	t.Helper()
	testutil.RequireTool(t, "vhdiinfo")
	out := string(testutil.Run(t, "vhdiinfo", path))
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\s*:\s*(.*)$`).FindStringSubmatch(out)
		if m == nil {
			return ""
		}
		return strings.TrimSpace(m[1])
	}
	if want := fmt.Sprintf("(%d bytes)", im.Size()); !strings.Contains(field("Media size"), want) {
		t.Errorf("vhdiinfo media size %q, grain %d", field("Media size"), im.Size())
	}
	if got := field("Bytes per sector"); got != fmt.Sprintf("%d bytes", im.LogicalSectorSize()) {
		t.Errorf("vhdiinfo bytes per sector %q, grain %d", got, im.LogicalSectorSize())
	}
	if got := field("Identifier"); got != im.DataWriteGUID() {
		t.Errorf("vhdiinfo identifier %q, grain DataWriteGuid %s", got, im.DataWriteGUID())
	}
	typ := map[string]string{"fixed": "Fixed", "dynamic": "Dynamic", "differencing": "Differential"}[im.Type()]
	if got := field("Disk type"); got != typ && !(im.Type() == "dynamic" && got == "Fixed") {
		t.Errorf("vhdiinfo disk type %q, grain %s", got, im.Type())
	}
	if im.HasParent() {
		l, _ := im.ParentLinkages()
		if got := field("Parent identifier"); got != l {
			t.Errorf("vhdiinfo parent identifier %q, grain %s", got, l)
		}
	}
}

func TestDifferencingSample(t *testing.T) {
	path := testutil.Sample(t, "differencing.avhdx")
	defer testutil.Unchanged(t, path)()
	im := mustOpen(t, path, nil)
	if !im.HasParent() || im.Type() != "differencing" {
		t.Fatalf("HasParent %v type %s", im.HasParent(), im.Type())
	}
	loc := im.ParentLocator()
	for _, k := range []string{"parent_linkage", "relative_path", "volume_path", "absolute_win32_path"} {
		if loc[k] == "" {
			t.Errorf("parent locator lacks %s: %v", k, loc)
		}
	}
	if !strings.HasSuffix(loc["relative_path"], `Generation 1_49C4BAF3-4B25-4406-8C4B-D39E65C32385.avhdx`) {
		t.Errorf("relative_path %q", loc["relative_path"])
	}
	checkVhdiinfo(t, path, im)
	exts, err := im.Extents(nil, 0, im.Size())
	if err != nil {
		t.Fatal(err)
	}
	checkCover(t, exts, 0, im.Size())
	var data, absent int64
	for _, e := range exts {
		switch e.State {
		case extent.Data:
			data += e.Length
		case extent.Absent:
			absent += e.Length
		}
	}
	if data == 0 || absent == 0 {
		t.Errorf("child holds %d data bytes and %d absent bytes", data, absent)
	}
}

// checkCover checks that exts cover [off, off+n) exactly, in order.
func checkCover(t testing.TB, exts []extent.Extent, off, n int64) {
	t.Helper()
	pos := off
	for i, e := range exts {
		if e.Offset != pos || e.Length <= 0 {
			t.Fatalf("extent %d %+v: want offset %d", i, e, pos)
		}
		pos = e.End()
	}
	if pos != off+n {
		t.Fatalf("extents end at %d, want %d", pos, off+n)
	}
}

func TestDirtyLogSamples(t *testing.T) {
	for _, name := range []string{"iotest-dirtylog-10G-4M.vhdx", "vhdx-log-replay.vhdx"} {
		t.Run(name, func(t *testing.T) {
			path := testutil.Sample(t, name)
			defer testutil.Unchanged(t, path)()
			im := mustOpen(t, path, nil)
			st := im.Log()
			if !st.Dirty || !st.Replayed || st.Entries == 0 || st.Bytes == 0 {
				t.Errorf("log state %+v", st)
			}
			replayed := replayedCopy(t, path)
			compareRaw(t, im, im.Size(), qemuRaw(t, replayed))
			// Without replay the content differs (the README's facts).
			raw := mustOpen(t, path, &vhdx.Options{IgnoreLog: true})
			if !raw.Log().Ignored || raw.Log().Replayed || len(raw.Warnings()) == 0 {
				t.Errorf("IgnoreLog state %+v warnings %q", raw.Log(), raw.Warnings())
			}
			if !differs(t, raw, im) {
				t.Errorf("content without replay equals content with replay")
			}
		})
	}
}

// qemuImage builds a VHDX with qemu-img and qemu-io.
func qemuImage(t testing.TB, name, subformat string, size, blockSize string, writes ...string) string {
	t.Helper()
	testutil.RequireTool(t, "qemu-img", "qemu-io")
	var io strings.Builder
	for _, w := range writes {
		fmt.Fprintf(&io, "qemu-io -f vhdx -c 'write -P %s' $OUT/img.vhdx\n", w)
	}
	dir := testutil.Build(t, name, fmt.Sprintf(`
qemu-img create -q -f vhdx -o subformat=%s,block_size=%s,log_size=1M $OUT/img.vhdx %s
%s`, subformat, blockSize, size, io.String()))
	return filepath.Join(dir, "img.vhdx")
}

func TestQemuImages(t *testing.T) {
	cases := []struct {
		name, sub, size, bs string
		writes              []string
	}{
		{"dyn-1m", "dynamic", "24M", "1M", []string{"0xa5 0 1M", "0x5a 3584k 1536k", "0x11 20M 512"}},
		{"dyn-8m", "dynamic", "40M", "8M", []string{"0x01 7M 2M", "0x02 33M 7M"}},
		{"dyn-32m", "dynamic", "100M", "32M", []string{"0x33 0 4k", "0x44 63M 2M", "0x55 96M 4M"}},
		{"dyn-256m", "dynamic", "300M", "256M", []string{"0x77 255M 2M", "0x78 299M 1M"}},
		{"fixed-8m", "fixed", "20M", "8M", []string{"0x99 1M 9M"}},
		{"fixed-1m", "fixed", "5M", "1M", []string{"0x42 0 5M"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := qemuImage(t, "vhdx-qemu-"+c.name, c.sub, c.size, c.bs, c.writes...)
			defer testutil.Unchanged(t, path)()
			im := mustOpen(t, path, nil)
			if c.name == "fixed-1m" && !im.Fixed() {
				t.Errorf("qemu fixed image: Type %s", im.Type())
			}
			checkVhdiinfo(t, path, im)
			got := sha(t, im, im.Size())
			if want := qemuRawSHA(t, path); got != want {
				t.Errorf("sha256 %s, qemu-img %s", got, want)
			}
			if want := vhdimountSHA(t, path); want != "" && got != want {
				t.Errorf("sha256 %s, vhdimount %s", got, want)
			}
			checkReads(t, im)
		})
	}
}

// checkReads compares unaligned ReadAt pieces with one whole read.
func checkReads(t testing.TB, im *vhdx.Image) {
	t.Helper()
	n := min(im.Size(), 48<<20)
	whole := make([]byte, n)
	if _, err := im.ReadAt(whole, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{1, 1000}, {1<<20 - 7, 3 << 20}, {n - 513, 513}, {12345, 4 << 20}} {
		if r[0]+r[1] > n {
			continue
		}
		p := make([]byte, r[1])
		if _, err := im.ReadAt(p, r[0]); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", r[0], r[1], err)
		}
		if !bytes.Equal(p, whole[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d, %d) differs from the whole read", r[0], r[1])
		}
	}
	tail := make([]byte, 1024)
	if n, err := im.ReadAt(tail, im.Size()-512); n != 512 || err != io.EOF {
		t.Errorf("read across the end: %d, %v", n, err)
	}
}

// vhdimountSHA mounts the image (and its parent, in the same folder) with
// libvhdi's vhdimount and hashes the disk it shows. It returns "" where
// FUSE is unavailable outside CI.
func vhdimountSHA(t testing.TB, path string) string {
	t.Helper()
	testutil.RequireTool(t, "vhdimount", "fusermount")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testutil.Unavailable(t, "no /dev/fuse")
		return ""
	}
	mnt := t.TempDir()
	cmd := exec.Command("vhdimount", path, mnt)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vhdimount %s: %v\n%s", path, err, out)
	}
	defer exec.Command("fusermount", "-u", mnt).Run()
	// vhdimount shows one file per layer, the parent first: vhdi1, vhdi2…
	var disk string
	for i := 0; i < 50 && disk == ""; i++ {
		if m, _ := filepath.Glob(filepath.Join(mnt, "vhdi*")); len(m) > 0 {
			sort.Strings(m)
			disk = m[len(m)-1]
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return testutil.FileSHA256(t, disk)
}

// differs reports whether two disks of one size differ, reading only where
// either holds data.
func differs(t testing.TB, x, y *vhdx.Image) bool {
	t.Helper()
	if x.Size() != y.Size() {
		return true
	}
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, im := range []*vhdx.Image{x, y} {
		exts, err := im.Extents(nil, 0, im.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exts {
			if e.State != extent.Data {
				continue
			}
			for o := e.Offset; o < e.End(); o += int64(len(a)) {
				n := min(int64(len(a)), e.End()-o)
				x.ReadAt(a[:n], o)
				y.ReadAt(b[:n], o)
				if !bytes.Equal(a[:n], b[:n]) {
					return true
				}
			}
		}
	}
	return false
}
