package cli_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

var (
	mmlsRow = regexp.MustCompile(`^\d+:\s+\S+\s+(\d+)\s+(\d+)\s+\d+\s+`)
	flsRow  = regexp.MustCompile(`^([-a-zA-Z])/([-a-zA-Z])\s+(\*\s+)?([0-9-]+):\t(.*)$`)
)

// sleuthkitFile is one entry fls lists, and how icat reads it.
type sleuthkitFile struct {
	path, stream, addr string
	dir                bool
}

// sleuthkitTree lists a partition with fls -r -p, without deleted entries,
// file-system metadata files ($MFT…, $FAT1…) and the FAT volume label.
func sleuthkitTree(t *testing.T, raw string, sector int64) []sleuthkitFile {
	out := testutil.Run(t, "fls", "-r", "-p", "-o", strconv.FormatInt(sector, 10), raw)
	var files []sleuthkitFile
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := flsRow.FindStringSubmatch(sc.Text())
		if m == nil || m[3] != "" || m[1] == "v" || m[1] == "V" {
			continue
		}
		name := m[5]
		if strings.HasPrefix(name, "$") || strings.Contains(name, "(Volume Label Entry)") {
			continue
		}
		f := sleuthkitFile{path: name, addr: m[4], dir: m[2] == "d"}
		if i := strings.LastIndex(name, ":"); i >= 0 {
			f.path, f.stream = name[:i], name[i+1:]
		}
		files = append(files, f)
	}
	return files
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestBrowseAgreesWithSleuthkit lists every volume of the demo image with
// grain find --json and compares names, types and contents (streams too)
// with sleuthkit reading the raw disk qemu-img makes of it.
func TestBrowseAgreesWithSleuthkit(t *testing.T) {
	testutil.RequireTool(t, "qemu-img", "mmls", "fls", "icat")
	img := testutil.DemoImage(t, "")
	raw := filepath.Join(t.TempDir(), "demo.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", img, raw)
	var starts []int64
	sc := bufio.NewScanner(bytes.NewReader(testutil.Run(t, "mmls", raw)))
	for sc.Scan() {
		line := sc.Text()
		if m := mmlsRow.FindStringSubmatch(line); m != nil && !strings.Contains(line, "Meta") && !strings.Contains(line, "-------") {
			s, _ := strconv.ParseInt(m[1], 10, 64)
			starts = append(starts, s)
		}
	}
	if len(starts) != 3 {
		t.Fatalf("mmls found %d partitions, the demo image has 3", len(starts))
	}
	for i, start := range starts {
		vol := "p" + strconv.Itoa(i+1)
		if vol == "p2" {
			continue // Microsoft Reserved: no file system
		}
		want := sleuthkitTree(t, raw, start)
		got := map[string]entry{}
		for _, line := range strings.Split(strings.TrimSpace(mustGrain(t, "find", "--json", img, "/"+vol)), "\n") {
			var e entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if e.Path == "/"+vol {
				continue // find lists its starting point too, as find(1) does
			}
			got[strings.TrimPrefix(e.Path, "/"+vol+"/")] = e
		}
		var wantPaths []string
		for _, f := range want {
			if f.stream != "" {
				continue
			}
			wantPaths = append(wantPaths, f.path)
			e, ok := got[f.path]
			if !ok {
				t.Errorf("%s: grain does not list %s", vol, f.path)
				continue
			}
			if (e.Type == "dir") != f.dir {
				t.Errorf("%s/%s: grain type %s, sleuthkit dir=%v", vol, f.path, e.Type, f.dir)
			}
		}
		if len(got) != len(wantPaths) {
			var g []string
			for p := range got {
				g = append(g, p)
			}
			sort.Strings(g)
			sort.Strings(wantPaths)
			t.Errorf("%s: grain lists %d entries, sleuthkit %d:\ngrain: %v\nsleuthkit: %v", vol, len(got), len(wantPaths), g, wantPaths)
		}
		for _, f := range want {
			if f.dir {
				continue
			}
			icat := exec.Command("icat", "-o", strconv.FormatInt(start, 10), raw, f.addr)
			wantData, err := icat.Output()
			if err != nil {
				t.Fatalf("icat %s: %v", f.addr, err)
			}
			args := []string{"cat", img, "/" + vol + "/" + f.path}
			if f.stream != "" {
				args = append(args, "--stream", f.stream)
			}
			if gotData := mustGrain(t, args...); sha([]byte(gotData)) != sha(wantData) {
				t.Errorf("%s/%s:%s: grain cat differs from icat (%d vs %d bytes)", vol, f.path, f.stream, len(gotData), len(wantData))
			}
		}
	}
}

type entry struct {
	Path string `json:"path"`
	Type string `json:"type"`
	Size int64  `json:"size"`
}

func TestLsStatFindOnDemo(t *testing.T) {
	img := testutil.DemoImage(t, "")
	if out := mustGrain(t, "ls", img); out != "/p1/\n/p2/\n/p3/\n" {
		t.Errorf("ls /: %q", out)
	}
	out := mustGrain(t, "stat", "--json", img, "/p3/Users/alice/Documents/report.txt")
	var st struct {
		Nlink   uint32 `json:"nlink"`
		Streams []struct {
			Name string `json:"name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink != 2 || len(st.Streams) != 1 || st.Streams[0].Name != "Zone.Identifier" {
		t.Errorf("stat: %s", out)
	}
	if out := mustGrain(t, "find", img, "--iname", "*.TXT", "--type", "f"); out != "/p3/Users/alice/Documents/report.txt\n/p3/Users/alice/report-link.txt\n" {
		t.Errorf("find --iname: %q", out)
	}
	if out := mustGrain(t, "find", img, "/p3", "--size", "+1K"); out != "/p3/Users/alice/Pictures/holiday.jpg\n" {
		t.Errorf("find --size: %q", out)
	}
	if out := mustGrain(t, "find", img, "--newer", "2025-06-01", "--older", "2025-07-01", "--name", "hosts"); out != "/p3/Windows/System32/hosts\n" {
		t.Errorf("find --newer/--older: %q", out)
	}
	code, _, errs := grain(t, "cat", img, "/p3/Users/nobody.txt")
	if code != 1 || !strings.Contains(errs, "not exist") {
		t.Errorf("cat of a missing file: exit %d, %q", code, errs)
	}
}
