// Package drivertest holds the checks the driver tests share: a driver's
// fast walk (fsys.WalkFS) against the plain directory-by-directory descent,
// and fsys.InfoOpener against Open (FAT and exFAT here; ext4 and XFS in
// agree.go), and the trees and fuzz bodies FAT and exFAT compare alike.
package drivertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
)

// FS is a driver with a fast walk and OpenInfo.
type FS interface {
	fsys.FS
	fsys.WalkFS
	fsys.InfoOpener
}

// Walked is one call of a walk's fn.
type Walked struct {
	Path string
	Info fs.FileInfo
}

// WalkList returns what Walk(root) passes to fn, in order.
func WalkList(t testing.TB, f FS, root string) []Walked {
	t.Helper()
	var got []Walked
	if err := f.Walk(root, func(p string, info fs.FileInfo) error {
		got = append(got, Walked{p, info})
		return nil
	}); err != nil {
		t.Fatalf("Walk(%s): %v", root, err)
	}
	return got
}

// Descent lists root with fs.WalkDir (ReadDir directory by directory).
func Descent(t testing.TB, f FS, root string) map[string]fs.FileInfo {
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

// SameInfo compares two infos of one file, Meta included.
func SameInfo(a, b fs.FileInfo) error {
	if a.Name() != b.Name() || a.IsDir() != b.IsDir() || a.Size() != b.Size() || a.Mode() != b.Mode() || !a.ModTime().Equal(b.ModTime()) {
		return fmt.Errorf("%v, against %v", fs.FormatFileInfo(a), fs.FormatFileInfo(b))
	}
	if ma, mb := fsys.MetaOf(a), fsys.MetaOf(b); !reflect.DeepEqual(ma, mb) {
		return fmt.Errorf("Meta %+v, against %+v", ma, mb)
	}
	return nil
}

// CheckWalk compares Walk from each root with the descent: the same paths
// once each, the same infos and Meta, a directory before its entries.
func CheckWalk(t *testing.T, f FS, roots ...string) {
	t.Helper()
	for _, root := range roots {
		got := WalkList(t, f, root)
		want := Descent(t, f, root)
		if len(got) != len(want) {
			t.Errorf("Walk(%s): %d paths, descent %d", root, len(got), len(want))
		}
		seen := map[string]bool{}
		for _, w := range got {
			if seen[w.Path] {
				t.Errorf("%s: listed twice", w.Path)
			}
			seen[w.Path] = true
			parent := path.Dir(w.Path)
			if w.Path != root && !seen[parent] && !(root == "." && parent == ".") {
				t.Errorf("%s: listed before its directory", w.Path)
			}
			d, ok := want[w.Path]
			if !ok {
				t.Errorf("%s: walked, not in the descent", w.Path)
				continue
			}
			if err := SameInfo(w.Info, d); err != nil {
				t.Errorf("%s: walk %v", w.Path, err)
			}
		}
	}
}

// Paths lists the walk's paths below ".", directories with a trailing
// slash, sorted: what listing tools print.
func Paths(t testing.TB, f FS) []string {
	var mine []string
	for _, w := range WalkList(t, f, ".") {
		if w.Path == "." {
			continue
		}
		p := w.Path
		if w.Info.IsDir() {
			p += "/"
		}
		mine = append(mine, p)
	}
	slices.Sort(mine)
	return mine
}

// ForeignInfo hides a driver's own info type, so that OpenInfo must go by
// the Meta alone.
type ForeignInfo struct {
	fs.FileInfo
	M fsys.Meta
}

// Sys returns the copied Meta.
func (i ForeignInfo) Sys() any { return &i.M }

// CheckOpenInfo opens every file and directory from the infos of Walk,
// Stat and a ForeignInfo of their Meta, and compares what it reads or
// lists with Open.
func CheckOpenInfo(t *testing.T, f FS) {
	t.Helper()
	for _, w := range WalkList(t, f, ".") {
		ref, err := f.Open(w.Path)
		if err != nil {
			t.Fatal(err)
		}
		var wantData []byte
		var wantNames []string
		if w.Info.IsDir() {
			wantNames = dirNames(t, ref)
		} else {
			wantData = readAll(t, ref)
		}
		ref.Close()
		st, err := f.Stat(w.Path)
		if err != nil {
			t.Fatal(err)
		}
		infos := []fs.FileInfo{w.Info, st, ForeignInfo{w.Info, *fsys.MetaOf(w.Info)}}
		for k, info := range infos {
			kind := []string{"walk", "stat", "foreign"}[k]
			h, err := f.OpenInfo(w.Path, info)
			if err != nil {
				t.Errorf("%s: OpenInfo(%s info): %v", w.Path, kind, err)
				continue
			}
			hi, _ := h.Stat()
			if hi.Name() != w.Info.Name() || hi.Size() != w.Info.Size() || hi.IsDir() != w.Info.IsDir() {
				t.Errorf("%s: OpenInfo(%s info).Stat = %v, walk %v", w.Path, kind, fs.FormatFileInfo(hi), fs.FormatFileInfo(w.Info))
			}
			if w.Info.IsDir() {
				if got := dirNames(t, h); !slices.Equal(got, wantNames) {
					t.Errorf("%s: OpenInfo(%s info) lists %q, Open %q", w.Path, kind, got, wantNames)
				}
			} else if got := readAll(t, h); !bytes.Equal(got, wantData) {
				t.Errorf("%s: OpenInfo(%s info) reads %d bytes unlike Open's %d", w.Path, kind, len(got), len(wantData))
			}
			h.Close()
		}
	}
}

// CheckStale opens info, under the name "x" that does not exist, with its
// Meta.Inode moved to each of offs; every one must fail, with an error of
// the driver (prefix "open x: pkg: ") or, where the driver fell back to a
// path look-up, fs.ErrNotExist.
func CheckStale(t *testing.T, f FS, pkg string, info fs.FileInfo, offs ...uint64) {
	t.Helper()
	for _, off := range offs {
		m := *fsys.MetaOf(info)
		m.Inode = off
		if h, err := f.OpenInfo("x", ForeignInfo{info, m}); err == nil || !strings.HasPrefix(err.Error(), "open x: "+pkg+": ") && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Inode 0x%x: %v", off, err)
			if err == nil {
				h.Close()
			}
		}
	}
}

// WalkFast walks everything and reads every file through OpenInfo; on a
// hostile volume it must end.
func WalkFast(f FS) error {
	return f.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.IsDir() {
			if h, err := f.OpenInfo(p, info); err == nil {
				io.Copy(io.Discard, h)
				h.Close()
			}
		}
		return nil
	})
}

// SHA256 is the hex SHA-256 of what r reads to its end.
func SHA256(t testing.TB, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readAll(t testing.TB, h fs.File) []byte {
	t.Helper()
	b, err := io.ReadAll(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dirNames(t testing.TB, h fs.File) []string {
	t.Helper()
	d, ok := h.(fs.ReadDirFile)
	if !ok {
		t.Fatal("directory does not implement ReadDir")
	}
	list, err := d.ReadDir(-1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
