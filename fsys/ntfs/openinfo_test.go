package ntfs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/internal/testutil"
)

// TestOpenInfo opens every regular file of the ntfs-3g-built test volume
// from the FileInfo Walk gave (and from Stat's and ReadDir's) and checks
// it reads the same bytes as Open of its path.
func TestOpenInfo(t *testing.T) {
	v := openImage(t, buildVolume(t))
	var op fsys.InfoOpener = v
	type listed struct {
		p    string
		info fs.FileInfo
		want string
	}
	var all []listed
	n, fromExtents := 0, 0
	err := v.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() {
			return nil
		}
		want := readWith(t, p, func() (fs.File, error) { return v.Open(p) })
		got := readWith(t, p, func() (fs.File, error) { return op.OpenInfo(p, info) })
		if got != want {
			t.Errorf("%s: OpenInfo read %s, Open %s", p, got, want)
		}
		// The walk's infos of ordinary files open from their extents:
		// what they read (above) and Stat must be Open's.
		f, err := op.OpenInfo(p, info)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fmt.Sprintf("%T", f) == "*ntfs.plainFile" {
			fromExtents++
		}
		st, _ := f.Stat()
		f.Close()
		o, err := v.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		ost, _ := o.Stat()
		o.Close()
		if st.Name() != ost.Name() || st.Mode() != ost.Mode() || st.Size() != ost.Size() || !st.ModTime().Equal(ost.ModTime()) ||
			!reflect.DeepEqual(fsys.MetaOf(st), fsys.MetaOf(ost)) {
			t.Errorf("%s: OpenInfo's Stat %+v, Open's %+v", p, fsys.MetaOf(st), fsys.MetaOf(ost))
		}
		all = append(all, listed{p, info, want})
		n++
		if n%97 == 0 {
			st, err := v.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := readWith(t, p, func() (fs.File, error) { return op.OpenInfo(p, st) }); got != want {
				t.Errorf("%s: OpenInfo of Stat's info read %s, Open %s", p, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5000 {
		t.Errorf("only %d regular files opened", n)
	}
	if fromExtents == 0 {
		t.Errorf("none of %d files opened from the walk's extents", n)
	}
	t.Logf("%d of %d files opened from the walk's extents", fromExtents, n)
	// Concurrent opens, as bulk readers make them.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(all); i += 4 {
				e := all[i]
				f, err := op.OpenInfo(e.p, e.info)
				if err != nil {
					t.Errorf("%s: %v", e.p, err)
					return
				}
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				if got := hex.EncodeToString(h.Sum(nil)); err != nil || got != e.want {
					t.Errorf("%s: concurrent OpenInfo read %s (%v), Open %s", e.p, got, err, e.want)
					return
				}
			}
		}()
	}
	wg.Wait()
	list, err := v.ReadDir("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		info, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		p := "a/" + d.Name()
		f, err := op.OpenInfo(p, info)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		st, _ := f.Stat()
		if st.Name() != d.Name() || st.Mode() != info.Mode() || st.Size() != info.Size() {
			t.Errorf("%s: OpenInfo's Stat %s %v %d, ReadDir's %s %v %d", p, st.Name(), st.Mode(), st.Size(), info.Name(), info.Mode(), info.Size())
		}
		f.Close()
	}
}

// readWith opens a file and returns a hash of its content, or the error.
func readWith(t *testing.T, p string, open func() (fs.File, error)) string {
	t.Helper()
	f, err := open()
	if err != nil {
		return "error: " + err.Error()
	}
	defer f.Close()
	return sha(t, f)
}

// TestOpenInfoStale lists a volume, then opens the listed infos on a copy
// in which ntfs-3g deleted one file and created another in its MFT record,
// and deleted a second file outright: both stale infos must fail, and not
// read the new file.
func TestOpenInfoStale(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "ntfs-stale", `
cd "$OUT"
truncate -s 8M before.img
mkntfs -F -Q -q -c 4096 before.img
mnt=$(mktemp -d)
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
ntfs-3g before.img "$mnt"
echo kept > "$mnt/kept.txt"
echo old > "$mnt/old.txt"
echo gone > "$mnt/gone.txt"
umount "$mnt"
cp before.img after.img
ntfs-3g after.img "$mnt"
rm "$mnt/old.txt" "$mnt/gone.txt"
echo "new content" > "$mnt/new.txt"
umount "$mnt"
`)
	before := openImage(t, filepath.Join(dir, "before.img"))
	after := openImage(t, filepath.Join(dir, "after.img"))
	infos := map[string]fs.FileInfo{}
	if err := before.Walk(".", func(p string, info fs.FileInfo) error {
		infos[p] = info
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f, err := after.OpenInfo("kept.txt", infos["kept.txt"])
	if err != nil {
		t.Fatalf("kept.txt: %v", err)
	}
	if b, _ := io.ReadAll(f); string(b) != "kept\n" {
		t.Errorf("kept.txt read %q", b)
	}
	newInfo, err := after.Stat("new.txt")
	if err != nil {
		t.Fatal(err)
	}
	oldMeta := fsys.MetaOf(infos["old.txt"])
	if nm := fsys.MetaOf(newInfo); nm.Inode != oldMeta.Inode {
		t.Logf("new.txt is record %d, old.txt was %d: the reuse case is not exercised", nm.Inode, oldMeta.Inode)
	}
	for _, p := range []string{"old.txt", "gone.txt"} {
		f, err := after.OpenInfo(p, infos[p])
		if err == nil {
			b, _ := io.ReadAll(f)
			t.Errorf("%s: stale info opened, read %q", p, b)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want fs.ErrNotExist", p, err)
		}
		t.Logf("%s: %v", p, err)
	}
	// An info that is not grain's.
	st, err := os.Stat(filepath.Join(dir, "before.img"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.OpenInfo("x", st); err == nil {
		t.Error("OpenInfo of an os.FileInfo succeeded")
	}
}

// TestOpenInfoFromExtents: on a volume of non-resident files of many
// sizes, some fragmented (written a piece at a time, in turns), every
// file the walk lists opens from its extents and reads what Open reads,
// at every offset a reader may ask for.
func TestOpenInfoFromExtents(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "ntfs-extents", `
cd "$OUT"
truncate -s 48M vol.img
mkntfs -F -Q -q -c 4096 vol.img
mnt=$(mktemp -d)
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
ntfs-3g vol.img "$mnt"
mkdir "$mnt/f"
for i in $(seq 1 150); do head -c $(( (i * 7919) % 200000 + 1000 )) /dev/urandom > "$mnt/f/file$i"; done
for i in 4096 8192 12288 4095 4097; do head -c $i /dev/urandom > "$mnt/f/exact$i"; done
mkdir "$mnt/holes"
for i in $(seq 1 400); do head -c 8192 /dev/urandom > "$mnt/holes/h$i"; done
dd if=/dev/zero of="$mnt/filler" bs=1M status=none 2>/dev/null || true
umount "$mnt"
ntfs-3g vol.img "$mnt"
for i in $(seq 1 2 400); do rm "$mnt/holes/h$i"; done
umount "$mnt"
ntfs-3g vol.img "$mnt"
head -c 1000000 /dev/urandom > "$mnt/f/frag1"
head -c 300001 /dev/urandom > "$mnt/f/frag2"
umount "$mnt"
`)
	v := openImage(t, filepath.Join(dir, "vol.img"))
	var op fsys.InfoOpener = v
	files, fromExtents, fragmented, most := 0, 0, 0, 0
	err := v.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() {
			return nil
		}
		files++
		f, err := op.OpenInfo(p, info)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		defer f.Close()
		if fmt.Sprintf("%T", f) != "*ntfs.plainFile" {
			t.Errorf("%s: not opened from its extents (%T)", p, f)
			return nil
		}
		fromExtents++
		if k := len(fsys.MetaOf(info).Extents); k > 1 {
			fragmented++
			most = max(most, k)
		}
		o, err := v.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		want, err := io.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(want))
		// Reads at every cluster boundary and across them, and past the
		// end.
		for _, off := range []int64{0, 1, 4095, 4096, 4097, size / 2, size - 1, size, size + 10} {
			for _, n := range []int64{1, 4096, 10000, min(size, 1<<20)} {
				if off < 0 || n <= 0 {
					continue
				}
				b := make([]byte, n)
				k, err := f.ReadAt(b, off)
				wantN := max(0, min(n, size-off))
				if int64(k) != wantN || !bytes.Equal(b[:k], want[min(off, size):min(off, size)+wantN]) {
					t.Errorf("%s: ReadAt(%d bytes, %d) read %d bytes (%v), want %d", p, n, off, k, err, wantN)
				}
				if (int64(k) < n) != (err == io.EOF) {
					t.Errorf("%s: ReadAt(%d bytes, %d): %d bytes, error %v", p, n, off, k, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 150 || fromExtents != files {
		t.Errorf("%d of %d files opened from their extents", fromExtents, files)
	}
	if fragmented == 0 {
		t.Error("no fragmented file: the test does not exercise extents after the first")
	}
	t.Logf("%d files, %d fragmented, up to %d extents", files, fragmented, most)
}
