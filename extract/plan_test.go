package extract

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/internal/testutil"
)

// listing is what a plain fs.WalkDir and Lstat of the image say the
// selection holds: rel path → kind.
func listing(t *testing.T, img *guest.Image, root, base string) map[string]string {
	t.Helper()
	want := map[string]string{}
	seen := map[string]bool{}
	err := fs.WalkDir(img, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := img.Lstat(p)
		if err != nil {
			return err
		}
		rel := base
		if p != root {
			rel = base + "/" + strings.TrimPrefix(p, root+"/")
			if root == "." {
				rel = base + "/" + p
			}
		}
		switch m := fsys.MetaOf(info); {
		case info.IsDir():
			want[rel] = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			want[rel] = "link"
		case info.Mode().IsRegular():
			want[rel] = "file"
			if m != nil && m.Nlink > 1 && m.Inode != 0 {
				id := fmt.Sprintf("%s/%d", volumeOf(p), m.Inode)
				if seen[id] {
					want[rel] = "hardlink"
				}
				seen[id] = true
			}
		default:
			want[rel] = "failed"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// checkBatchedPlan lists root in batches of every size given and checks
// that the batches hold exactly what a plain walk finds, that each
// folder comes before what is in it, and that each batch's files are in
// disk order.
func checkBatchedPlan(t *testing.T, img *guest.Image, root string) map[string]string {
	base := path.Base(root)
	if root == "." {
		base = "image"
	}
	want := listing(t, img, root, base)
	for _, size := range []int{1, 3, 50, batchFiles} {
		got := map[string]string{}
		made := map[string]bool{}
		batches := 0
		p, err := walkPlan(img, []string{root}, &Options{Recursive: true}, size, func(b *batch) error {
			batches++
			if len(b.files) > size {
				t.Errorf("batch of %d files, want at most %d", len(b.files), size)
			}
			for _, d := range b.dirs {
				if d.rel != base && !made[path.Dir(d.rel)] {
					t.Errorf("size %d: folder %s before its parent", size, d.rel)
				}
				made[d.rel] = true
				got[d.rel] = "dir"
			}
			for i, f := range b.files {
				if !made[path.Dir(f.rel)] {
					t.Errorf("size %d: file %s before its folder", size, f.rel)
				}
				if f.info == nil {
					t.Errorf("size %d: file %s without its FileInfo", size, f.rel)
				}
				if i > 0 {
					a := b.files[i-1]
					if volumeOf(a.src) == volumeOf(f.src) && a.phys > f.phys {
						t.Errorf("size %d: %s (at %d) after %s (at %d)", size, f.rel, f.phys, a.rel, a.phys)
					}
				}
				got[f.rel] = "file"
			}
			return nil
		}, func(it *item) { got[it.rel] = "failed" }, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range p.links {
			got[l.rel] = "link"
		}
		for _, h := range p.hardlinks {
			got[h.rel] = "hardlink"
			if h.linkTo == nil || got[h.linkTo.rel] != "file" {
				t.Errorf("hard link %s: first name not listed as a file", h.rel)
			}
		}
		if len(p.dirs) != countKind(want, "dir") {
			t.Errorf("size %d: plan keeps %d folders, want %d", size, len(p.dirs), countKind(want, "dir"))
		}
		for rel, k := range want {
			if got[rel] != k {
				t.Errorf("size %d: %s: planned as %q, a plain walk says %q", size, rel, got[rel], k)
			}
		}
		for rel, k := range got {
			if _, ok := want[rel]; !ok {
				t.Errorf("size %d: %s planned as %q, not found by a plain walk", size, rel, k)
			}
		}
		if files := countKind(want, "file"); size < files && batches < files/size {
			t.Errorf("size %d: %d batches for %d files", size, batches, files)
		}
	}
	return want
}

func countKind(m map[string]string, k string) int {
	n := 0
	for _, v := range m {
		if v == k {
			n++
		}
	}
	return n
}

// TestBatchedPlanMatchesWalk: the batched listing against a plain
// fs.WalkDir of the demo image (FAT and NTFS) and of an ext4 image with
// hard and symbolic links.
func TestBatchedPlanMatchesWalk(t *testing.T) {
	t.Run("demo", func(t *testing.T) {
		img, err := guest.Open(testutil.DemoImage(t, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		if want := checkBatchedPlan(t, img, "."); countKind(want, "file") < 3 {
			t.Errorf("the demo image lost its files: %v", want)
		}
	})
	t.Run("ext4", func(t *testing.T) {
		testutil.RequireTool(t, "mkfs.ext4")
		dir := testutil.Build(t, "extract-plan-ext4", `
mkdir -p src/a/b/c src/d src/e
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom > src/a/f$i; done
for i in $(seq 1 7); do printf 'x%s' $i > src/a/b/c/g$i; done
ln src/a/f3 src/d/hard3
ln src/a/f3 src/e/hard3b
ln -s ../a/f1 src/d/sym1
ln -s /nowhere src/e/dangling
mkfifo src/e/fifo
truncate -s 5M src/e/sparse
mkfs.ext4 -q -F -d src -b 4096 disk.img 32M
`)
		img, err := guest.Open(filepath.Join(dir, "disk.img"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		want := checkBatchedPlan(t, img, "disk")
		for _, k := range []string{"dir", "file", "link", "hardlink", "failed"} {
			if countKind(want, k) == 0 {
				t.Errorf("the built image lost its %s entries", k)
			}
		}
		checkBatchedPlan(t, img, "disk/a")
	})
}
