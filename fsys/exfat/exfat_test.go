package exfat

import (
	"bufio"
	"bytes"
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

func runTool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestVolumes(t *testing.T) {
	testutil.RequireTool(t, "fls", "exfatlabel", "tune.exfat", "stat")
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			img := buildVolume(t, spec.name, spec.mkfs, spec.mib, spec.extra)
			defer testutil.Unchanged(t, img)()
			f, _ := openImage(t, img)
			if f.Type() != "exfat" {
				t.Errorf("Type = %s", f.Type())
			}
			lbl := ""
			if l := lastLine(runTool(t, "exfatlabel", img)); strings.HasPrefix(l, "label: ") {
				lbl = strings.TrimPrefix(l, "label: ")
			}
			if f.Label() != lbl {
				t.Errorf("Label = %q, exfatlabel says %q", f.Label(), lbl)
			}
			m := regexp.MustCompile(`volume serial : 0x([0-9a-f]+)`).FindSubmatch(runTool(t, "tune.exfat", "-i", img))
			if m == nil {
				t.Fatal("no serial from tune.exfat")
			}
			serial, _ := strconv.ParseUint(string(m[1]), 16, 32)
			if want := strings.ToUpper(string(m[1])); len(want) <= 8 && f.ID() != strings.ToUpper(hex4(serial>>16)+"-"+hex4(serial&0xFFFF)) {
				t.Errorf("ID = %s, tune.exfat says 0x%s", f.ID(), m[1])
			}
			mnt := mountRO(t, img)
			checkUsage(t, f, mnt)
			checkAgainstMount(t, f, mnt)
			checkAgainstFls(t, f, img)
			if w := f.Warnings(); len(w) != 0 {
				t.Errorf("warnings on a clean volume: %q", w)
			}
			if err := fstest.TestFS(f, "readme.txt", "multi.bin", "deep/a/b/c/d/e/f/g/h/leaf.txt"); err != nil {
				t.Error(err)
			}
		})
	}
}

func near(t time.Time, sec int64) bool {
	d := t.Sub(time.Unix(sec, 0))
	return d >= 0 && d < 2*time.Second
}

func hex4(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 4-len(s)) + s
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// checkUsage compares free space with what exfat-fuse reports (it counts
// the allocation bitmap).
func checkUsage(t *testing.T, f *FS, mnt string) {
	out := strings.Fields(string(runTool(t, "stat", "-f", "-c", "%S %f %b", mnt)))
	bs, _ := strconv.ParseInt(out[0], 10, 64)
	free, _ := strconv.ParseInt(out[1], 10, 64)
	blocks, _ := strconv.ParseInt(out[2], 10, 64)
	total, used, ok := f.Usage()
	// exfat-fuse's total is the whole volume, grain's the cluster heap.
	if !ok || total-used != free*bs || total > blocks*bs {
		t.Errorf("Usage = %d, %d, %v; exfat-fuse: total %d, free %d", total, used, ok, blocks*bs, free*bs)
	}
}

// checkAgainstMount compares the tree with the read-only exfat-fuse mount:
// names, sizes, contents, modification times.
func checkAgainstMount(t *testing.T, f *FS, mnt string) {
	exp := drivertest.HostTree(t, mnt)
	got, err := drivertest.Tree(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(exp) || len(got) < 20 {
		t.Errorf("%d paths, the mount has %d", len(got), len(exp))
	}
	for p, w := range exp {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: missing (the mount has it)", p)
		} else if g != w {
			t.Errorf("%s: got %+v, mount %+v", p, g, w)
		}
	}
}

// checkAgainstFls compares sizes and times with sleuthkit.
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
		// sleuthkit leaves out the 10 ms increments (up to 1.99 s).
		if !near(m.Modify, mtime) || !near(m.Access, atime) || !near(m.Birth, crtime) {
			t.Errorf("%s: times m %v a %v b %v; fls m %d a %d b %d", name, m.Modify, m.Access, m.Birth, mtime, atime, crtime)
		}
	}
	if n < 20 {
		t.Errorf("fls listed only %d files", n)
	}
}
