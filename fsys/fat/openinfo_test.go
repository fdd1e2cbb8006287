package fat

import (
	"bytes"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
)

// foreignInfo hides the driver's own info type, so that OpenInfo must go
// by the Meta alone (the on-disk entry at Meta.Inode).
type foreignInfo struct {
	fs.FileInfo
	meta fsys.Meta
}

func (i foreignInfo) Sys() any { return &i.meta }

func readAllFile(t testing.TB, h fs.File) []byte {
	t.Helper()
	b, err := io.ReadAll(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dirNames(t testing.TB, h fs.File) []string {
	t.Helper()
	list, err := h.(fs.ReadDirFile).ReadDir(-1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Name())
	}
	slices.Sort(names)
	return names
}

// TestOpenInfo opens every file and directory from the infos of Walk,
// Stat and a foreign wrapper of their Meta, and compares with Open.
func TestOpenInfo(t *testing.T) {
	for _, spec := range volSpecs {
		t.Run(spec.name, func(t *testing.T) {
			f, _ := openImage(t, buildVolume(t, spec.name, spec.mkfs, spec.kib, spec.extra))
			for _, w := range walkList(t, f, ".") {
				ref, err := f.Open(w.path)
				if err != nil {
					t.Fatal(err)
				}
				var wantData []byte
				var wantNames []string
				if w.info.IsDir() {
					wantNames = dirNames(t, ref)
				} else {
					wantData = readAllFile(t, ref)
				}
				ref.Close()
				st, err := f.Stat(w.path)
				if err != nil {
					t.Fatal(err)
				}
				for kind, info := range map[string]fs.FileInfo{
					"walk": w.info, "stat": st, "foreign": foreignInfo{w.info, *fsys.MetaOf(w.info)},
				} {
					h, err := f.OpenInfo(w.path, info)
					if err != nil {
						t.Errorf("%s: OpenInfo(%s info): %v", w.path, kind, err)
						continue
					}
					hi, _ := h.Stat()
					if hi.Name() != w.info.Name() || hi.Size() != w.info.Size() || hi.IsDir() != w.info.IsDir() {
						t.Errorf("%s: OpenInfo(%s info).Stat = %v, walk %v", w.path, kind, fs.FormatFileInfo(hi), fs.FormatFileInfo(w.info))
					}
					if w.info.IsDir() {
						if got := dirNames(t, h); !slices.Equal(got, wantNames) {
							t.Errorf("%s: OpenInfo(%s info) lists %q, Open %q", w.path, kind, got, wantNames)
						}
					} else if got := readAllFile(t, h); !bytes.Equal(got, wantData) {
						t.Errorf("%s: OpenInfo(%s info) reads %d bytes unlike Open's %d", w.path, kind, len(got), len(wantData))
					}
					h.Close()
				}
			}
		})
	}
}

// TestOpenInfoStale checks that an info whose Meta points at anything but
// the file's entry fails instead of reading something else.
func TestOpenInfoStale(t *testing.T) {
	f, _ := openImage(t, buildVolume(t, volSpecs[1].name, volSpecs[1].mkfs, volSpecs[1].kib, volSpecs[1].extra))
	info, err := f.Stat("Long Directory Name With Spaces/A file with a rather long name.text")
	if err != nil {
		t.Fatal(err)
	}
	m := *fsys.MetaOf(info)
	for _, off := range []uint64{m.Inode - 32, m.Inode + 1, 0, 1 << 40, uint64(f.g.fatOffset)} {
		mm := m
		mm.Inode = off
		if _, err := f.OpenInfo("x", foreignInfo{info, mm}); err == nil || !strings.HasPrefix(err.Error(), "open x: fat: ") {
			t.Errorf("Inode 0x%x: %v", off, err)
		}
	}
	other, err := f.Stat("readme.txt")
	if err != nil {
		t.Fatal(err)
	}
	mm := m
	mm.Inode = fsys.MetaOf(other).Inode // another file of another size
	if _, err := f.OpenInfo("x", foreignInfo{info, mm}); err == nil {
		t.Error("entry of another size accepted")
	}
}
