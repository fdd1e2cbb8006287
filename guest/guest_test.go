package guest_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/internal/testutil"
)

func TestDemoImageIsAnFS(t *testing.T) {
	path := testutil.DemoImage(t, "")
	unchanged := testutil.Unchanged(t, path)
	img, err := guest.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if err := fstest.TestFS(img, "p1/EFI/Microsoft/Boot/bootmgfw.efi", "p3/Users/alice/Documents/report.txt", "p2"); err != nil {
		t.Fatal(err)
	}
	// The Microsoft Reserved partition has no file system: an empty
	// directory, with the reason on the volume.
	des, err := img.ReadDir("p2")
	if err != nil || len(des) != 0 {
		t.Fatalf("p2: %v %v", des, err)
	}
	for _, v := range img.Volumes() {
		if v.Name == "p2" && (v.FS != nil || v.Kind.Note == "") {
			t.Errorf("p2: FS %v, note %q", v.FS, v.Kind.Note)
		}
	}
	// NTFS and FAT look-ups ignore case.
	for _, p := range []string{"p3/users/ALICE/documents/Report.TXT", "p1/efi/microsoft/boot/BOOTMGFW.EFI"} {
		if _, err := fs.Stat(img, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	img.Close()
	unchanged()
}

func TestWalkVisitsEveryFile(t *testing.T) {
	img, err := guest.Open(testutil.DemoImage(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var viaWalkDir, viaWalk []string
	fs.WalkDir(img, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		viaWalkDir = append(viaWalkDir, p)
		return nil
	})
	seen := map[string]bool{}
	if err := img.Walk(".", func(p string, info fs.FileInfo) error {
		seen[p] = true
		viaWalk = append(viaWalk, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range viaWalkDir {
		if !seen[p] {
			t.Errorf("Walk missed %s", p)
		}
	}
	if len(viaWalk) != len(viaWalkDir) {
		t.Errorf("Walk gave %d paths, WalkDir %d", len(viaWalk), len(viaWalkDir))
	}
}

// WalkDir lists what Walk lists, in the same order, with the same types
// and infos: on NTFS and FAT (through Walk) and on ext4 (names first).
func TestWalkDirAgreesWithWalk(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4")
	dir := testutil.Build(t, "guest-ext4", `
mkdir -p src/a/b src/c
for i in $(seq 1 300); do echo $i > src/a/b/f$i; done
ln -s ../c src/a/link
mkfifo src/c/fifo
echo hi > src/c/hi
mkfs.ext4 -q -F -d src ext4.img 16M
`)
	for _, path := range []string{testutil.DemoImage(t, ""), dir + "/ext4.img"} {
		img, err := guest.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		type walked struct {
			path string
			typ  fs.FileMode
			info string
		}
		var want, got []walked
		if err := img.Walk(".", func(p string, info fs.FileInfo) error {
			want = append(want, walked{p, info.Mode().Type(), fs.FormatFileInfo(info)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := img.WalkDir(".", func(p string, d fs.DirEntry) error {
			info, err := d.Info()
			if err != nil {
				return err
			}
			got = append(got, walked{p, d.Type(), fs.FormatFileInfo(info)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) < 10 {
			t.Fatalf("%s: WalkDir gave %d entries, Walk %d", path, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: #%d: WalkDir %v, Walk %v", path, i, got[i], want[i])
			}
		}
	}
}

// OpenInfo gives the same bytes as Open for every regular file the walk
// lists, whether the volume's driver opens by info or falls back to a path.
func TestOpenInfoReadsWhatOpenReads(t *testing.T) {
	img, err := guest.Open(testutil.DemoImage(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	files := 0
	if err := img.Walk(".", func(p string, info fs.FileInfo) error {
		if !info.Mode().IsRegular() {
			return nil
		}
		files++
		want, err := fs.ReadFile(img, p)
		if err != nil {
			return err
		}
		f, err := img.OpenInfo(p, info)
		if err != nil {
			return err
		}
		defer f.Close()
		got := make([]byte, info.Size())
		if n, err := f.ReadAt(got, 0); n != len(got) {
			return fmt.Errorf("%s: read %d of %d bytes: %v", p, n, len(got), err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: OpenInfo and Open read different bytes", p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the demo image lists no regular files")
	}
	if _, err := img.OpenInfo("p9/none", nil); err == nil {
		t.Error("OpenInfo of a missing volume did not fail")
	}
}
