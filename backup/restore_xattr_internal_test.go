//go:build linux

package backup

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/grainvm/grain/restic"
)

// TestRestoreXattrsNeverFollowLinks puts symbolic links where the
// attributes' entries are expected (a folder on the way, a file, and a
// link named as a link) and checks that nothing they point to changes,
// and that each is reported.
func TestRestoreXattrsNeverFollowLinks(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	for name, to := range map[string]string{"dir": outside, "file": victim, "link": victim} {
		if err := os.Symlink(to, filepath.Join(target, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(target, "ok"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	attrs := []restic.ExtendedAttribute{{Name: "user.grain", Value: []byte("v")}}
	xs := []xattrEntry{
		{src: "dir/victim", rel: "dir/victim", typ: restic.NodeTypeFile, attrs: attrs},
		{src: "file", rel: "file", typ: restic.NodeTypeFile, attrs: attrs},
		{src: "link", rel: "link", typ: restic.NodeTypeSymlink, attrs: attrs},
		{src: "ok", rel: "ok", typ: restic.NodeTypeFile, attrs: attrs},
	}
	reported := map[string]error{}
	n := restoreXattrs(target, xs, func(p string, err error) { reported[p] = err })
	if n != 3 || len(reported) != 3 || reported["/ok"] != nil {
		t.Errorf("%d failed, reported %v", n, reported)
	}
	t.Logf("reported: %v", reported)
	if m, _ := unix.Getxattr(victim, "user.grain", make([]byte, 8)); m > 0 {
		t.Fatal("attribute written through a link")
	}
	if m, _ := unix.Getxattr(filepath.Join(target, "ok"), "user.grain", make([]byte, 8)); m != 1 {
		t.Errorf("attribute of a plain read-only file not written")
	}
	if fi, err := os.Stat(filepath.Join(target, "ok")); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("mode of the read-only file changed: %v %v", fi.Mode(), err)
	}
}
