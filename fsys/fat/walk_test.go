package fat

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/grainvm/grain/fsys"
)

type walked struct {
	path string
	info fs.FileInfo
}

func walkList(t testing.TB, f *FS, root string) []walked {
	t.Helper()
	var got []walked
	if err := f.Walk(root, func(p string, info fs.FileInfo) error {
		got = append(got, walked{p, info})
		return nil
	}); err != nil {
		t.Fatalf("Walk(%s): %v", root, err)
	}
	return got
}

func descentList(t testing.TB, f *FS, root string) map[string]fs.FileInfo {
	t.Helper()
	want := map[string]fs.FileInfo{}
	if err := fs.WalkDir(f, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		want[p] = info
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return want
}

// sameInfo compares what a walk and the plain descent say of one file,
// Meta included.
func sameInfo(a, b fs.FileInfo) error {
	if a.Name() != b.Name() || a.IsDir() != b.IsDir() || a.Size() != b.Size() || a.Mode() != b.Mode() || !a.ModTime().Equal(b.ModTime()) {
		return fmt.Errorf("walk %v, descent %v", fs.FormatFileInfo(a), fs.FormatFileInfo(b))
	}
	ma, mb := fsys.MetaOf(a), fsys.MetaOf(b)
	if !reflect.DeepEqual(ma, mb) {
		return fmt.Errorf("Meta: walk %+v, descent %+v", ma, mb)
	}
	return nil
}

// TestWalk checks the walk against the plain descent (names, infos and
// Meta of every file) and against mdir's recursive listing, and that a
// directory comes before its entries.
func TestWalk(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			img := buildVolume(t, spec.name, spec.mkfs, spec.kib, spec.extra)
			f, _ := openImage(t, img)
			for _, root := range []string{".", "deep", "deep/a/b", "readme.txt"} {
				got := walkList(t, f, root)
				want := descentList(t, f, root)
				if len(got) != len(want) {
					t.Errorf("Walk(%s): %d paths, descent %d", root, len(got), len(want))
				}
				seen := map[string]bool{}
				for _, w := range got {
					if seen[w.path] {
						t.Errorf("%s: listed twice", w.path)
					}
					seen[w.path] = true
					if w.path != root && !seen[path.Dir(w.path)] && !(root == "." && !strings.Contains(w.path, "/")) {
						t.Errorf("%s: listed before its directory", w.path)
					}
					d, ok := want[w.path]
					if !ok {
						t.Errorf("%s: walked, not in the descent", w.path)
						continue
					}
					if err := sameInfo(w.info, d); err != nil {
						t.Errorf("%s: %v", w.path, err)
					}
				}
			}
			// mdir -/ -b lists every path, directories with a trailing slash.
			out := runTool(t, "mdir", "-/", "-a", "-b", "-i", img, "::")
			var mdir []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				mdir = append(mdir, strings.TrimPrefix(l, "::/"))
			}
			var mine []string
			for _, w := range walkList(t, f, ".") {
				if w.path == "." {
					continue
				}
				p := w.path
				if w.info.IsDir() {
					p += "/"
				}
				mine = append(mine, p)
			}
			slices.Sort(mdir)
			slices.Sort(mine)
			if !slices.Equal(mdir, mine) {
				t.Errorf("walk lists %d paths, mdir %d:\n walk %q\n mdir %q", len(mine), len(mdir), mine, mdir)
			}
		})
	}
}

func TestWalkSkip(t *testing.T) {
	f, _ := openImage(t, buildVolume(t, volSpecs[4].name, volSpecs[4].mkfs, volSpecs[4].kib, volSpecs[4].extra))
	var got []string
	err := f.Walk(".", func(p string, info fs.FileInfo) error {
		got = append(got, p)
		if p == "deep" || p == "big" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		if strings.HasPrefix(p, "deep/") || strings.HasPrefix(p, "big/") {
			t.Errorf("%s: listed below a skipped directory", p)
		}
	}
	if !slices.Contains(got, "deep") || !slices.Contains(got, "docs/LOWER.txt") {
		t.Errorf("walk with skips lists %q", got)
	}
	n := 0
	if err := f.Walk(".", func(p string, info fs.FileInfo) error {
		if n++; n == 5 {
			return fs.SkipAll
		}
		return nil
	}); err != nil || n != 5 {
		t.Errorf("SkipAll: %d calls, %v", n, err)
	}
	stop := errors.New("stop")
	n = 0
	if err := f.Walk(".", func(p string, info fs.FileInfo) error {
		if n++; n == 100 {
			return stop
		}
		return nil
	}); err != stop || n != 100 {
		t.Errorf("error from fn: %d calls, %v", n, err)
	}
	if err := f.Walk(".", func(string, fs.FileInfo) error { return fs.SkipDir }); err != nil {
		t.Errorf("SkipDir at the root: %v", err)
	}
	if err := f.Walk("nonexistent", func(string, fs.FileInfo) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk of a missing root: %v", err)
	}
}

// TestAppendUTF16 checks the allocation-free decoder against utf16.Decode,
// lone and reversed surrogates included.
func TestAppendUTF16(t *testing.T) {
	cases := [][]uint16{
		{'a', 'b'}, {0xD83D, 0xDE00}, {0xD83D}, {0xDE00}, {0xDE00, 0xD83D}, {0xD83D, 'x'},
		{0xD800, 0xD800, 0xDC00}, {0x00E9, 0x540D, 0xFFFF}, {},
	}
	for _, u := range cases {
		if got, want := string(appendUTF16(nil, u)), string(utf16.Decode(u)); got != want {
			t.Errorf("%04x: %q, utf16.Decode %q", u, got, want)
		}
	}
}
