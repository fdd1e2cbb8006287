package drivertest

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/fsys"
)

// The walk checks the ext4 and XFS tests share (their walk is
// fsys/internal/dirwalk): Walk against the descent in order, with
// SkipDir, on intact and damaged volumes.

// Walker is a volume with a fast walk.
type Walker interface {
	fs.FS
	fsys.WalkFS
}

// DescendSkip lists root the slow way, as guest.Image does for drivers
// without a WalkFS: fs.WalkDir and each entry's Info, in order; skip says
// which directories to skip (nil: none).
func DescendSkip(f fs.FS, root string, skip func(string) bool) ([]Walked, error) {
	var out []Walked
	err := fs.WalkDir(f, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Walked{p, info})
		if skip != nil && skip(p) && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	return out, err
}

// WalkSkip lists root with Walk, in order, failing if a directory does not
// come before its entries; skip says which directories to skip. With sys
// set, fn asks each info for its Sys (a walk may then build Meta ahead).
func WalkSkip(f fsys.WalkFS, root string, skip func(string) bool, sys bool) ([]Walked, error) {
	var out []Walked
	seen := map[string]bool{}
	err := f.Walk(root, func(p string, info fs.FileInfo) error {
		if p != root {
			parent := p[:max(0, strings.LastIndexByte(p, '/'))]
			if parent == "" {
				parent = "."
			}
			if !seen[parent] {
				return fmt.Errorf("%s listed before its directory %s", p, parent)
			}
		}
		seen[p] = true
		if sys {
			info.Sys()
		}
		out = append(out, Walked{p, info})
		if skip != nil && skip(p) && info.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
	return out, err
}

// SameListing reports how two listings differ: paths (in order), names,
// modes, sizes, times and Meta.
func SameListing(t testing.TB, what string, got, want []Walked) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: walk lists %d names, descent %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Path != w.Path {
			t.Errorf("%s: #%d: walk %s, descent %s", what, i, g.Path, w.Path)
			return
		}
		gi, wi := g.Info, w.Info
		if gi.Name() != wi.Name() || gi.Mode() != wi.Mode() || gi.Size() != wi.Size() || !gi.ModTime().Equal(wi.ModTime()) || gi.IsDir() != wi.IsDir() {
			t.Errorf("%s: %s: walk %v, descent %v", what, g.Path, gi, wi)
		}
		if gm, wm := fsys.MetaOf(gi), fsys.MetaOf(wi); !reflect.DeepEqual(gm, wm) {
			t.Errorf("%s: %s: Meta\n walk    %+v\n descent %+v", what, g.Path, gm, wm)
		}
	}
}

// Agree checks that Walk and the descent list the same below root, or
// both fail, once for each of sys (see WalkSkip; none: once without). It
// returns how many names the walk gave.
func Agree(t testing.TB, f Walker, root string, skip func(string) bool, sys ...bool) int {
	t.Helper()
	if len(sys) == 0 {
		sys = []bool{false}
	}
	want, werr := DescendSkip(f, root, skip)
	var got []Walked
	for _, s := range sys {
		var gerr error
		got, gerr = WalkSkip(f, root, skip, s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("walk %s: error %v, descent %v", root, gerr, werr)
		}
		if werr == nil {
			SameListing(t, root, got, want)
		} else {
			t.Logf("walk %s: %v; descent: %v", root, gerr, werr)
		}
	}
	return len(got)
}

// MetaOnly is a FileInfo that carries only a Meta (or none), as one from
// another layer (guest) or a copy would.
type MetaOnly struct{ M *fsys.Meta }

func (i MetaOnly) Name() string       { return "" }
func (i MetaOnly) Size() int64        { return 0 }
func (i MetaOnly) Mode() fs.FileMode  { return 0 }
func (i MetaOnly) ModTime() time.Time { return time.Time{} }
func (i MetaOnly) IsDir() bool        { return false }

// Sys returns the Meta, or nil.
func (i MetaOnly) Sys() any {
	if i.M == nil {
		return nil
	}
	return i.M
}

// DirWalker is a volume with a walk that lists names and types first.
type DirWalker interface {
	fs.FS
	fsys.DirWalkFS
}

// listedEntry is one entry a WalkDir or a descent gave, with the outcome
// of its Info.
type listedEntry struct {
	path string
	name string
	typ  fs.FileMode
	dir  bool
	info fs.FileInfo
	err  error
}

// AgreeDir checks WalkDir against fs.WalkDir over the same volume: the
// same paths in the same order, the same names and types, and each
// entry's Info the same (or failing for both); or both walks failing.
// infoEvery says which entries' Info fn asks for during the walk, every
// nth (0: none, so the walk may leave inodes unread; 1: all, so it reads
// them ahead); the others' are asked for after the walk. It returns how
// many entries WalkDir gave.
func AgreeDir(t testing.TB, f DirWalker, root string, skip func(string) bool, infoEvery int) int {
	t.Helper()
	list := func(walk func(func(string, fs.DirEntry) error) error) ([]listedEntry, []fs.DirEntry, error) {
		var out []listedEntry
		var des []fs.DirEntry
		err := walk(func(p string, d fs.DirEntry) error {
			e := listedEntry{path: p, name: d.Name(), typ: d.Type(), dir: d.IsDir()}
			if infoEvery > 0 && len(out)%infoEvery == 0 {
				e.info, e.err = d.Info()
			}
			out = append(out, e)
			des = append(des, d)
			if skip != nil && skip(p) && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		})
		for i := range out {
			if out[i].info == nil && out[i].err == nil {
				out[i].info, out[i].err = des[i].Info()
			}
		}
		return out, des, err
	}
	want, _, werr := list(func(fn func(string, fs.DirEntry) error) error {
		return fs.WalkDir(f, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return fn(p, d)
		})
	})
	got, _, gerr := list(func(fn func(string, fs.DirEntry) error) error { return f.WalkDir(root, fn) })
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("WalkDir %s: error %v, descent %v", root, gerr, werr)
	}
	if werr != nil {
		t.Logf("WalkDir %s: %v; descent: %v", root, gerr, werr)
		return len(got)
	}
	if len(got) != len(want) {
		t.Errorf("WalkDir %s: %d entries, descent %d", root, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.path != w.path || g.name != w.name || g.typ != w.typ || g.dir != w.dir {
			t.Errorf("WalkDir %s: #%d: %s %q %v %v, descent %s %q %v %v", root, i, g.path, g.name, g.typ, g.dir, w.path, w.name, w.typ, w.dir)
			return len(got)
		}
		if (g.err == nil) != (w.err == nil) {
			t.Errorf("WalkDir %s: %s: Info error %v, descent %v", root, g.path, g.err, w.err)
			continue
		}
		if g.err == nil {
			SameListing(t, "WalkDir "+root, []Walked{{g.path, g.info}}, []Walked{{w.path, w.info}})
		}
	}
	return len(got)
}
