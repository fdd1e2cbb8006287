package ntfs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	n := 0
	err := v.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() {
			return nil
		}
		want := readWith(t, p, func() (fs.File, error) { return v.Open(p) })
		got := readWith(t, p, func() (fs.File, error) { return op.OpenInfo(p, info) })
		if got != want {
			t.Errorf("%s: OpenInfo read %s, Open %s", p, got, want)
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
