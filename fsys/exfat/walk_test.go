package exfat

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/internal/drivertest"
)

// TestWalk checks the walk against the plain descent (names, infos and
// Meta of every file, a directory before its entries) and its paths
// against the read-only exfat-fuse mount.
func TestWalk(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			img := buildVolume(t, spec.name, spec.mkfs, spec.mib, spec.extra)
			f, _ := openImage(t, img)
			drivertest.CheckWalk(t, f, ".", "deep", "deep/a/b", "readme.txt")
			// The same through the page cache, as for a FAT over maxWalkFAT.
			fp, _ := openImage(t, img)
			fp.pagedWalk = true
			drivertest.CheckWalk(t, fp, ".")
			mnt := mountRO(t, img)
			var want []string
			filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == mnt {
					return err
				}
				rel, _ := filepath.Rel(mnt, p)
				if d.IsDir() {
					rel += "/"
				}
				want = append(want, filepath.ToSlash(rel))
				return nil
			})
			slices.Sort(want)
			if mine := drivertest.Paths(t, f); !slices.Equal(want, mine) {
				t.Errorf("walk lists %d paths, exfat-fuse %d:\n walk %q\n fuse %q", len(mine), len(want), mine, want)
			}
		})
	}
}

func TestWalkSkip(t *testing.T) {
	f := mustOpen(t, TinyVolume())
	if got := drivertest.WalkList(t, f, "."); len(got) != 2 || got[1].Path != "hello.txt" {
		t.Errorf("walk of the tiny volume: %v", got)
	}
	if err := f.Walk(".", func(string, fs.FileInfo) error { return fs.SkipDir }); err != nil {
		t.Errorf("SkipDir at the root: %v", err)
	}
	stop := errors.New("stop")
	if err := f.Walk(".", func(p string, _ fs.FileInfo) error {
		if p == "hello.txt" {
			return stop
		}
		return nil
	}); err != stop {
		t.Errorf("error from fn: %v", err)
	}
	if err := f.Walk("nonexistent", func(string, fs.FileInfo) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk of a missing root: %v", err)
	}
}

// TestOpenInfo opens every file and directory from the infos of Walk,
// Stat and a foreign wrapper of their Meta (the entry set at Meta.Inode),
// and compares with Open.
func TestOpenInfo(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			f, _ := openImage(t, buildVolume(t, spec.name, spec.mkfs, spec.mib, spec.extra))
			drivertest.CheckOpenInfo(t, f)
			info, err := f.Stat("Long Directory Name With Spaces/A file with a rather long name, longer than fifteen.text")
			if err != nil {
				t.Fatal(err)
			}
			other, err := f.Stat("readme.txt") // another file of another size
			if err != nil {
				t.Fatal(err)
			}
			m := fsys.MetaOf(info)
			drivertest.CheckStale(t, f, "exfat", info, m.Inode+32, m.Inode+1, 0, 1<<40, uint64(f.g.fatOffset), fsys.MetaOf(other).Inode)
		})
	}
}

// TestOpenInfoTiny opens the hand-made volume's file from a foreign info.
func TestOpenInfoTiny(t *testing.T) {
	f := mustOpen(t, TinyVolume())
	info, err := f.Stat("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.OpenInfo("hello.txt", drivertest.ForeignInfo{FileInfo: info, M: *fsys.MetaOf(info)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := make([]byte, 64)
	n, _ := h.Read(b)
	if !strings.HasPrefix(string(b[:n]), "hello, world") {
		t.Errorf("read %q", b[:n])
	}
}
