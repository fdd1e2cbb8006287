package fat

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// TestWalk checks the walk against the plain descent (names, infos and
// Meta of every file, a directory before its entries) and against mdir's
// recursive listing.
func TestWalk(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			img := buildVolume(t, spec.name, spec.mkfs, spec.kib, spec.extra)
			f, _ := openImage(t, img)
			drivertest.CheckWalk(t, f, ".", "deep", "deep/a/b", "readme.txt")
			// The same through the page cache, as for a FAT over maxWalkFAT.
			fp, _ := openImage(t, img)
			fp.pagedWalk = true
			drivertest.CheckWalk(t, fp, ".")
			// mdir -/ -b lists every path, directories with a trailing slash.
			out := runTool(t, "mdir", "-/", "-a", "-b", "-i", img, "::")
			var mdir []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				mdir = append(mdir, strings.TrimPrefix(l, "::/"))
			}
			slices.Sort(mdir)
			if mine := drivertest.Paths(t, f); !slices.Equal(mdir, mine) {
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
