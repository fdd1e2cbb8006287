package dirwalk_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/fsys/internal/dirwalk"
)

// A driver over an fstest.MapFS: nodes are paths, entries its ReadDir.
type node struct{ path string }

type entry struct {
	path string
	info fs.FileInfo
	err  error
}

func (e *entry) Walked() (string, fs.FileInfo, error) {
	if e.err != nil {
		return e.path, nil, e.err
	}
	return e.path, e.info, nil
}

func (e *entry) Subdir() (*node, bool) {
	return &node{e.path}, e.err == nil && e.info.IsDir()
}

type dir = dirwalk.Dir[*node, entry]

// walk walks m from root with dirwalk, failing the entries named in bad
// and the directories named there after a "/".
func walk(m fstest.MapFS, root string, bad map[string]bool, fn func(string, fs.FileInfo) error) error {
	cfg := dirwalk.Config[*node, entry]{
		Size: func(*node) int64 { return 1 << 10 },
		NewLoader: func() func(*dir) ([]entry, error) {
			return func(d *dir) ([]entry, error) {
				if bad["/"+d.Path] {
					return nil, errors.New("bad directory")
				}
				for a := d.Parent; a != nil; a = a.Parent {
					if a.Node.path == d.Node.path {
						return nil, errors.New("loop")
					}
				}
				des, err := m.ReadDir(d.Node.path)
				if err != nil {
					return nil, err
				}
				es := make([]entry, len(des))
				for i, de := range des {
					p := path.Join(d.Path, de.Name())
					es[i].path = p
					if bad[p] {
						es[i].err = &fs.PathError{Op: "lstat", Path: p, Err: errors.New("bad entry")}
						continue
					}
					es[i].info, es[i].err = de.Info()
				}
				return es, nil
			}
		},
	}
	return dirwalk.Walk(&dir{Path: root, Node: &node{root}}, fn, cfg)
}

func tree() fstest.MapFS {
	m := fstest.MapFS{}
	for i := range 30 {
		for j := range 5 {
			m[fmt.Sprintf("d%02d/e%d/f", i, j)] = &fstest.MapFile{Data: []byte("x")}
		}
		m[fmt.Sprintf("d%02d/z", i)] = &fstest.MapFile{}
	}
	m["a"] = &fstest.MapFile{}
	m["empty"] = &fstest.MapFile{Mode: fs.ModeDir}
	return m
}

// descent is what fs.WalkDir lists below root, with SkipDir on skip.
func descent(t *testing.T, m fstest.MapFS, root string, skip func(string, bool) bool) []string {
	var want []string
	err := fs.WalkDir(m, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		want = append(want, p)
		if skip(p, d.IsDir()) {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestOrder(t *testing.T) {
	m := tree()
	for _, root := range []string{".", "d07"} {
		var got []string
		if err := walk(m, root, nil, func(p string, info fs.FileInfo) error {
			if info.Name() != path.Base(p) {
				t.Errorf("%s: info names %s", p, info.Name())
			}
			got = append(got, p)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := descent(t, m, root, func(string, bool) bool { return false })
		if !slices.Equal(got, want) {
			t.Errorf("%s: walk\n%q\ndescent\n%q", root, got, want)
		}
		if !slices.IsSorted(got) {
			t.Errorf("%s: paths not sorted", root)
		}
	}
}

func TestSkip(t *testing.T) {
	m := tree()
	// SkipDir on a directory skips it; on a file, the rest of its directory.
	skip := func(p string, isDir bool) bool {
		return (isDir && strings.HasSuffix(p, "e2")) || p == "d03" || (!isDir && strings.HasPrefix(p, "d05/e1/"))
	}
	var got []string
	if err := walk(m, ".", nil, func(p string, info fs.FileInfo) error {
		got = append(got, p)
		if skip(p, info.IsDir()) {
			return fs.SkipDir
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := descent(t, m, ".", skip); !slices.Equal(got, want) {
		t.Errorf("walk\n%q\ndescent\n%q", got, want)
	}

	// SkipAll ends the walk without error.
	n := 0
	if err := walk(m, ".", nil, func(p string, info fs.FileInfo) error {
		if n++; p == "d10/e3" {
			return fs.SkipAll
		}
		return nil
	}); err != nil || n != 1+10*12+8 {
		t.Errorf("SkipAll: %d calls, %v", n, err)
	}
}

func TestErrors(t *testing.T) {
	m := tree()
	stop := errors.New("stop")
	calls := func(bad map[string]bool, fn func(string) error) ([]string, error) {
		var got []string
		start := time.Now()
		err := walk(m, ".", bad, func(p string, _ fs.FileInfo) error {
			got = append(got, p)
			if fn != nil {
				return fn(p)
			}
			return nil
		})
		if time.Since(start) > 10*time.Second {
			t.Error("slow return")
		}
		return got, err
	}

	// An unreadable directory: a "readdir" error of its path, after fn
	// saw the directory itself.
	got, err := calls(map[string]bool{"/d04/e1": true}, nil)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "readdir" || pe.Path != "d04/e1" || got[len(got)-1] != "d04/e1" {
		t.Errorf("bad directory: %v after %q", err, got[len(got)-1:])
	}
	// An unreadable entry: its own error, before fn sees it.
	got, err = calls(map[string]bool{"d06/z": true}, nil)
	if !errors.As(err, &pe) || pe.Op != "lstat" || pe.Path != "d06/z" || got[len(got)-1] != "d06/e4/f" {
		t.Errorf("bad entry: %v after %q", err, got[len(got)-1:])
	}
	// fn's own error, returned as it is, however deep.
	for _, at := range []string{"a", "d00", "d29/e4/f", "d15/e2"} {
		got, err = calls(nil, func(p string) error {
			if p == at {
				return stop
			}
			return nil
		})
		if err != stop || got[len(got)-1] != at {
			t.Errorf("fn error at %s: %v after %q", at, err, got[len(got)-1:])
		}
	}
	// A directory that contains an ancestor: the loader's loop error.
	err = dirwalk.Walk(&dir{Path: "x", Node: &node{"d01"}, Parent: &dir{Node: &node{"d01"}}},
		func(string, fs.FileInfo) error { return nil }, dirwalk.Config[*node, entry]{
			Size: func(*node) int64 { return 0 },
			NewLoader: func() func(*dir) ([]entry, error) {
				return func(d *dir) ([]entry, error) {
					for a := d.Parent; a != nil; a = a.Parent {
						if a.Node.path == d.Node.path {
							return nil, errors.New("loop")
						}
					}
					return nil, nil
				}
			},
		})
	if err == nil || !strings.Contains(err.Error(), "readdir x: loop") {
		t.Errorf("loop: %v", err)
	}
}
