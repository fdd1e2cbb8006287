package extract_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/extract"
)

// mapSource is a Source over an fstest.MapFS, with extra walk paths a
// hostile file-system driver might give.
type mapSource struct {
	fstest.MapFS
	extra []string
}

func (m mapSource) Walk(root string, fn func(string, fs.FileInfo) error) error {
	err := fs.WalkDir(m.MapFS, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, info)
	})
	if err != nil {
		return err
	}
	for _, p := range m.extra {
		info, err := m.MapFS.Stat("evil")
		if err != nil {
			return err
		}
		if err := fn(p, info); err != nil && err != fs.SkipDir {
			return err
		}
	}
	return nil
}

// outsideUntouched fails the test if anything appeared next to dest.
func snapshotDir(t *testing.T, dir string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		seen[p] = true
		return nil
	})
	return seen
}

func TestNothingLandsOutsideDest(t *testing.T) {
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	src := mapSource{
		MapFS: fstest.MapFS{
			"v/a/file":     {Data: []byte("hello"), ModTime: mtime},
			"v/a/abs-link": {Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777},
			"v/a/up-link":  {Data: []byte("../../../../outside"), Mode: fs.ModeSymlink | 0o777},
			"v/b/file":     {Data: []byte("under b"), ModTime: mtime},
			"evil":         {Data: []byte("evil")},
		},
		extra: []string{"v/a/../../../escape", "/abs/escape", "v/a/../../../../tmp/x"},
	}
	top := t.TempDir()
	dest := filepath.Join(top, "dest")
	os.MkdirAll(dest, 0o755)
	// A link already in DEST where a folder of the copy goes: it must not
	// be written through.
	outside := filepath.Join(top, "outside-target")
	os.MkdirAll(outside, 0o755)
	os.Symlink(outside, filepath.Join(dest, "v"))
	before := snapshotDir(t, top)

	var reports []string
	_, err := extract.Copy(src, []string{"v"}, dest, &extract.Options{
		Recursive: true,
		Report:    func(p string, err error) { reports = append(reports, p+": "+err.Error()) },
	})
	if err == nil {
		t.Fatal("copy into a folder that is a link succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote through the link in DEST: %v", entries)
	}
	// Without the trap, the copy goes on; the hostile walk paths never
	// leave DEST.
	os.Remove(filepath.Join(dest, "v"))
	sum, err := extract.Copy(src, []string{"v"}, dest, &extract.Options{
		Recursive: true,
		Report:    func(p string, err error) { reports = append(reports, p+": "+err.Error()) },
	})
	if err == nil || sum.Failed != 3 {
		t.Errorf("hostile paths: summary %+v, err %v; reports %v", sum, err, reports)
	}
	after := snapshotDir(t, top)
	for p := range after {
		if !before[p] && !strings.HasPrefix(p, dest+string(filepath.Separator)) && p != dest {
			t.Errorf("created outside DEST: %s", p)
		}
	}
	// The links are links, pointing where the image says, not followed.
	if got, err := os.Readlink(filepath.Join(dest, "v/a/abs-link")); err != nil || got != "/etc/passwd" {
		t.Errorf("abs-link: %q %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "v/b/file")); err != nil || string(b) != "under b" {
		t.Errorf("v/b/file: %q %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dest, "v/a/file")); err != nil || !st.ModTime().Equal(mtime) {
		t.Errorf("mtime not kept: %v %v", st, err)
	}
	// A second copy keeps existing files unless told to overwrite.
	if _, err := extract.Copy(src, []string{"v/a/file"}, dest, &extract.Options{}); err != nil {
		t.Fatal(err)
	}
	sum, err = extract.Copy(src, []string{"v/a/file"}, dest, &extract.Options{})
	if err == nil || sum.Failed != 1 {
		t.Errorf("copy over an existing file: %+v %v", sum, err)
	}
	if _, err := extract.Copy(src, []string{"v/a/file"}, dest, &extract.Options{Overwrite: true}); err != nil {
		t.Errorf("--overwrite: %v", err)
	}
}

func TestDereferenceStaysInsideTheImage(t *testing.T) {
	src := mapSource{MapFS: fstest.MapFS{
		"v/etc/passwd": {Data: []byte("image's passwd")},
		"v/home/link":  {Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777},
		"v/home/rel":   {Data: []byte("../etc/passwd"), Mode: fs.ModeSymlink | 0o777},
		"v/home/esc":   {Data: []byte("../../../../../etc/shadow"), Mode: fs.ModeSymlink | 0o777},
		"evil":         {},
	}}
	dest := t.TempDir()
	sum, err := extract.Copy(src, []string{"v/home"}, dest, &extract.Options{Recursive: true, Dereference: true})
	if sum.Failed != 1 || err == nil {
		t.Errorf("summary %+v, err %v: want the escaping link to fail", sum, err)
	}
	for _, n := range []string{"link", "rel"} {
		if b, err := os.ReadFile(filepath.Join(dest, "home", n)); err != nil || string(b) != "image's passwd" {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
}

func TestHostName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a:b", "a%3Ab"}, {"con", "con%"}, {"LPT1.txt", "LPT1%.txt"}, {"dot.", "dot%2E"}, {"ok.txt", "ok.txt"},
		{`a\b`, "a%5Cb"},
	} {
		if got, _ := extract.HostName(c.in, "windows"); got != c.want {
			t.Errorf("HostName(%q) = %q, want %q", c.in, got, c.want)
		}
		if got, renamed := extract.HostName(c.in, "linux"); got != c.in || renamed {
			t.Errorf("HostName(%q, linux) changed it", c.in)
		}
	}
}

// TestCaseFoldedNamesAndDeepPaths: a file and a folder whose names differ
// only in case, and a tree a thousand folders deep, land inside DEST or
// fail one by one, never elsewhere.
func TestCaseFoldedNamesAndDeepPaths(t *testing.T) {
	m := fstest.MapFS{
		"v/Data/inner.txt": {Data: []byte("inside Data")},
		"v/data":           {Data: []byte("a file named data")},
		"evil":             {},
	}
	deep := "v/deep"
	for range 1000 {
		deep += "/d"
	}
	m[deep+"/bottom.txt"] = &fstest.MapFile{Data: []byte("bottom")}
	top := t.TempDir()
	dest := filepath.Join(top, "dest")
	before := snapshotDir(t, top)
	var reports []string
	_, err := extract.Copy(mapSource{MapFS: m}, []string{"v"}, dest, &extract.Options{
		Recursive: true,
		Report:    func(p string, err error) { reports = append(reports, p+": "+err.Error()) },
	})
	// On a case-sensitive host both names land; on a case-insensitive one
	// the second is reported. Either way nothing else may fail.
	if err != nil && len(reports) != 1 {
		t.Errorf("%v: %v", err, reports)
	}
	if b, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(deep), "bottom.txt")); err != nil || string(b) != "bottom" {
		t.Errorf("deep file: %q %v", b, err)
	}
	for p := range snapshotDir(t, top) {
		if !before[p] && p != dest && !strings.HasPrefix(p, dest+string(filepath.Separator)) {
			t.Errorf("created outside DEST: %s", p)
		}
	}
}
