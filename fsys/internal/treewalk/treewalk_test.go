package treewalk

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// info is a minimal FileInfo.
type info struct {
	name string
	dir  bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return 0 }
func (i info) Mode() fs.FileMode  { return map[bool]fs.FileMode{true: fs.ModeDir}[i.dir] }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }

// tree: directory key -> entries "name" (file) or "name/key" (directory).
type tree map[uint64][]string

func (tr tree) read(_ *struct{}, dir string, d uint64) ([]Entry[uint64], error) {
	list, ok := tr[d]
	if !ok {
		return nil, fmt.Errorf("test: no directory %d", d)
	}
	var out []Entry[uint64]
	for _, s := range list {
		name, key, isDir := strings.Cut(s, "/")
		e := Entry[uint64]{Path: Join(dir, name), Info: info{name, isDir}, IsDir: isDir}
		if isDir {
			fmt.Sscan(key, &e.Key)
			e.Sub = e.Key
		}
		out = append(out, e)
	}
	return out, nil
}

func walk(tr tree, fn func(string, fs.FileInfo) error) ([]string, error) {
	var got []string
	err := Walk("test", ".", uint64(1), 1, tr.read, func(p string, i fs.FileInfo) error {
		got = append(got, p)
		if fn != nil {
			return fn(p, i)
		}
		return nil
	})
	return got, err
}

var sample = tree{
	1: {"a/2", "f1", "b/3", "f2"},
	2: {"c/4", "g1", "g2"},
	3: {"h1"},
	4: {"i1", "e/5"},
	5: {},
}

func TestWalkOrder(t *testing.T) {
	got, err := walk(sample, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "f1", "b", "f2", "a/c", "a/g1", "a/g2", "b/h1", "a/c/i1", "a/c/e"}
	if !slices.Equal(got, want) {
		t.Errorf("walk %q, want %q", got, want)
	}
	seen := map[string]bool{".": true}
	for _, p := range got {
		if !seen[path.Dir(p)] {
			t.Errorf("%s before its directory", p)
		}
		seen[p] = true
	}
}

func TestWalkSkips(t *testing.T) {
	got, err := walk(sample, func(p string, _ fs.FileInfo) error {
		switch p {
		case "a": // a directory: its entries are skipped
			return fs.SkipDir
		case "a/c/i1", "f2": // a file: the rest of its directory is skipped
			return fs.SkipDir
		}
		return nil
	})
	if want := []string{"a", "f1", "b", "f2", "b/h1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("walk %q, %v; want %q", got, err, want)
	}
	got, err = walk(sample, func(p string, _ fs.FileInfo) error {
		if p == "f2" {
			return fs.SkipAll
		}
		return nil
	})
	if want := []string{"a", "f1", "b", "f2"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("SkipAll: walk %q, %v", got, err)
	}
	stop := errors.New("stop")
	if _, err := walk(sample, func(p string, _ fs.FileInfo) error {
		if p == "a/g1" {
			return stop
		}
		return nil
	}); err != stop {
		t.Errorf("error from fn: %v", err)
	}
}

func TestWalkErrors(t *testing.T) {
	loop := tree{1: {"a/2"}, 2: {"b/3"}, 3: {"back/2"}}
	if _, err := walk(loop, nil); err == nil || !strings.Contains(err.Error(), `readdir a/b/back: test: directory data (cluster 2) already listed as "a"`) {
		t.Errorf("loop: %v", err)
	}
	self := tree{1: {"root/1"}}
	if _, err := walk(self, nil); err == nil || !strings.Contains(err.Error(), "already listed") {
		t.Errorf("root inside itself: %v", err)
	}
	missing := tree{1: {"a/2", "b/3"}, 2: {}}
	if _, err := walk(missing, nil); err == nil || !strings.HasPrefix(err.Error(), "readdir b: test: no directory 3") {
		t.Errorf("read error: %v", err)
	}
	// Key 0: no data of its own, never taken for a loop.
	empty := tree{1: {"a/0", "b/0"}, 0: {}}
	if got, err := walk(empty, nil); err != nil || len(got) != 2 {
		t.Errorf("empty directories: %q, %v", got, err)
	}
}

// TestWalkWide runs a tree wider and deeper than the read-ahead window.
func TestWalkWide(t *testing.T) {
	tr := tree{}
	n := uint64(2)
	for d := uint64(1); d < 200; d++ {
		for k := 0; k < 3; k++ {
			tr[d] = append(tr[d], fmt.Sprintf("d%d/%d", k, n), fmt.Sprintf("f%d", k))
			tr[n] = nil
			n++
		}
	}
	got, err := walk(tr, nil)
	if err != nil || len(got) != 2*3*199 {
		t.Errorf("%d paths, %v", len(got), err)
	}
}

// TestWalkOneProc runs a wide tree with one P: the walking goroutine reads
// most directories itself while the channel to the background reader
// fills.
func TestWalkOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	tr := tree{}
	n := uint64(2)
	for d := uint64(1); d < 300; d++ {
		for k := 0; k < 2; k++ {
			tr[d] = append(tr[d], fmt.Sprintf("d%d/%d", k, n))
			tr[n] = nil
			n++
		}
	}
	got, err := walk(tr, nil)
	if err != nil || len(got) != 2*299 {
		t.Errorf("%d paths, %v", len(got), err)
	}
}
