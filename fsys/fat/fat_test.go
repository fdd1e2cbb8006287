package fat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
	"github.com/grainvm/grain/internal/testutil"
)

// runTool runs an oracle with TZ=UTC, so that FAT local times read as UTC
// as grain presents them.
func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestVolumes(t *testing.T) {
	testutil.RequireTool(t, "mdir", "mcopy", "fls", "istat", "mlabel")
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			img := buildVolume(t, spec.name, spec.mkfs, spec.kib, spec.extra)
			defer testutil.Unchanged(t, img)()
			f, fh := openImage(t, img)
			if f.Type() != spec.kind {
				t.Errorf("Type = %s, want %s", f.Type(), spec.kind)
			}
			checkHeader(t, f, img)
			checkAgainstMcopy(t, f, img)
			checkAgainstFls(t, f, img)
			checkFragmented(t, f, fh, img)
			if w := f.Warnings(); len(w) != 0 {
				t.Errorf("warnings on a clean volume: %q", w)
			}
			if err := fstest.TestFS(f, "readme.txt", "multi.bin", "deep/a/b/c/d/e/f/g/h/leaf.txt"); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkHeader compares label, serial and free space with mdir and mlabel.
func checkHeader(t *testing.T, f *FS, img string) {
	out := string(runTool(t, "mdir", "-a", "-i", img, "::"))
	m := regexp.MustCompile(`Volume Serial Number is (\S+)`).FindStringSubmatch(out)
	if m == nil || f.ID() != m[1] {
		t.Errorf("ID = %q, mdir says %q", f.ID(), m)
	}
	lbl := string(runTool(t, "mlabel", "-s", "-i", img, "::"))
	wantLabel := ""
	if m := regexp.MustCompile(`Volume label is (.*)`).FindStringSubmatch(lbl); m != nil {
		wantLabel = strings.TrimRight(m[1], " \n")
	}
	if f.Label() != wantLabel {
		t.Errorf("Label = %q, mlabel says %q", f.Label(), wantLabel)
	}
	m = regexp.MustCompile(`([\d ]+) bytes free`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no free space in mdir output:\n%s", out)
	}
	free, _ := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(m[1]), " ", ""), 10, 64)
	total, used, ok := f.Usage()
	if !ok || total-used != free {
		t.Errorf("Usage = %d, %d, %v: free %d, mdir says %d", total, used, ok, total-used, free)
	}
}

// checkAgainstMcopy extracts the volume with mcopy and compares names,
// sizes, contents and modification times.
func checkAgainstMcopy(t *testing.T, f *FS, img string) {
	dir := t.TempDir()
	runTool(t, "mcopy", "-s", "-m", "-n", "-i", img, "::/*", dir)
	exp := drivertest.HostTree(t, dir)
	got, err := drivertest.Tree(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(exp) {
		t.Errorf("%d paths, mcopy extracted %d", len(got), len(exp))
	}
	for p, w := range exp {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing (mcopy has it)", p)
			continue
		}
		if g.Dir != w.Dir || g.Size != w.Size || g.Sum != w.Sum {
			t.Errorf("%s: got %+v, mcopy %+v", p, g, w)
		}
		if !w.Dir && g.MTime != w.MTime {
			t.Errorf("%s: mtime %v, mcopy %v", p, time.Unix(g.MTime, 0).UTC(), time.Unix(w.MTime, 0).UTC())
		}
	}
	for p := range got {
		if _, ok := exp[p]; !ok {
			t.Errorf("%s: listed, mcopy did not extract it", p)
		}
	}
}

// checkAgainstFls compares paths, sizes and the three times with
// sleuthkit's body-file listing.
func checkAgainstFls(t *testing.T, f *FS, img string) {
	out := runTool(t, "fls", "-r", "-p", "-m", "/", img)
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		fl := strings.Split(sc.Text(), "|")
		if len(fl) < 11 {
			continue
		}
		name := strings.TrimPrefix(fl[1], "/")
		if strings.HasPrefix(name, "$") || strings.Contains(name, "(deleted") || strings.Contains(name, "(Volume Label Entry)") {
			continue
		}
		n++
		info, err := f.Stat(name)
		if err != nil {
			t.Errorf("fls lists %s: %v", name, err)
			continue
		}
		m := fsys.MetaOf(info)
		size, _ := strconv.ParseInt(fl[6], 10, 64)
		atime, _ := strconv.ParseInt(fl[7], 10, 64)
		mtime, _ := strconv.ParseInt(fl[8], 10, 64)
		crtime, _ := strconv.ParseInt(fl[10], 10, 64)
		if !info.IsDir() && info.Size() != size {
			t.Errorf("%s: size %d, fls %d", name, info.Size(), size)
		}
		if m.Modify.Unix() != mtime || m.Access.Unix() != atime || m.Birth.Unix() != crtime {
			t.Errorf("%s: times m %v a %v b %v; fls m %d a %d b %d", name, m.Modify, m.Access, m.Birth, mtime, atime, crtime)
		}
	}
	if n < 10 {
		t.Errorf("fls listed only %d files", n)
	}
}

// checkFragmented compares the extents of a fragmented file with istat's
// sector list, and reads it through ReadAt at odd offsets.
func checkFragmented(t *testing.T, f *FS, fh *os.File, img string) {
	info, err := f.Stat("frag/fragmented.bin")
	if err != nil {
		t.Fatal(err)
	}
	m := fsys.MetaOf(info)
	if len(m.Extents) < 2 && f.Type() != "fat32" { // mtools allocates after FSInfo's next-free hint on FAT32
		t.Errorf("fragmented.bin has %d extents, want several", len(m.Extents))
	}
	// Find sleuthkit's address of the file through fls.
	out := string(runTool(t, "fls", "-p", "-r", img))
	mm := regexp.MustCompile(`r/r (\d+):\tfrag/fragmented.bin\n`).FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("fls does not list frag/fragmented.bin")
	}
	ist := string(runTool(t, "istat", img, mm[1]))
	var sectors []int64
	if i := strings.Index(ist, "Sectors:"); i >= 0 {
		for _, w := range strings.Fields(ist[i+len("Sectors:"):]) {
			s, err := strconv.ParseInt(w, 10, 64)
			if err == nil && s != 0 {
				sectors = append(sectors, s)
			}
		}
	}
	var mine []int64
	ss := f.g.sectorSize
	for _, x := range m.Extents {
		for o := int64(0); o < x.Length; o += ss { // istat lists the sectors the size covers
			mine = append(mine, (x.Physical+o)/ss)
		}
	}
	if fmt.Sprint(mine) != fmt.Sprint(sectors) {
		t.Errorf("sectors differ:\n grain %v\nistat %v", mine, sectors)
	}
	// Reads at odd offsets agree with a plain read.
	h, err := f.Open("frag/fragmented.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	all, err := io.ReadAll(h)
	if err != nil {
		t.Fatal(err)
	}
	ra := h.(io.ReaderAt)
	for _, off := range []int64{0, 1, 511, 4095, 20001, int64(len(all)) - 3} {
		b := make([]byte, 7000)
		n, err := ra.ReadAt(b, off)
		if n != min(len(b), len(all)-int(off)) || !bytes.Equal(b[:n], all[off:off+int64(n)]) {
			t.Errorf("ReadAt(%d) = %d, %v: wrong data", off, n, err)
		}
	}
}
