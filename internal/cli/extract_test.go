package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
)

// unixTree is an ext4 image made by mkfs.ext4 -d from a folder the script
// fills with every kind of entry. The oracle is the kernel's reading of
// it: a read-only loop mount.
func unixTree(t *testing.T) (img, mountDir string) {
	testutil.RequireTool(t, "mkfs.ext4")
	dir := testutil.Build(t, "cli-unix-tree", `
mkdir -p src/docs/deep/er/still src/bin "src/unicode ünïcødé 名前"
head -c 3000000 /dev/urandom > src/docs/big.bin
printf 'hello\n' > src/docs/hello.txt
ln src/docs/hello.txt src/docs/hello-hardlink.txt
head -c 777 /dev/urandom > "src/unicode ünïcødé 名前/file"
printf '#!/bin/sh\necho hi\n' > src/bin/run.sh && chmod 0755 src/bin/run.sh
printf 'secret\n' > src/docs/private && chmod 0600 src/docs/private
truncate -s 20M src/docs/sparse && printf 'tail' | dd of=src/docs/sparse bs=1 seek=20000000 conv=notrunc status=none
ln -s ../docs/hello.txt src/bin/rel-link
ln -s /etc/hostname src/bin/abs-link
long=$(printf 'n%.0s' $(seq 1 200)); printf 'long\n' > "src/docs/$long"
printf 'deep\n' > src/docs/deep/er/still/file
touch -h -d '2023-04-05 06:07:08.123456789' src/docs/* src/bin/* src/bin "src/unicode ünïcødé 名前/file"
touch -d '2021-01-01 00:00:00.5' src/docs/deep/er/still src/docs/deep/er src/docs/deep src/docs "src/unicode ünïcødé 名前"
mkfs.ext4 -q -F -d src -b 4096 -I 256 disk.img 64M
`)
	img = filepath.Join(dir, "disk.img")
	testutil.RequireRoot(t)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "ro,loop,noload", img, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return img, mnt
}

type treeEntry struct {
	typ    string
	size   int64
	sha    string
	mtime  time.Time
	perm   fs.FileMode
	target string
	ino    uint64
}

// listTree reads a host folder the way a user would check a restore.
func listTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{mtime: info.ModTime(), perm: info.Mode().Perm(), ino: inodeOf(info)}
		switch {
		case info.IsDir():
			e.typ = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			e.typ = "symlink"
			e.target, _ = os.Readlink(p)
		default:
			e.typ, e.size = "file", info.Size()
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			e.sha = hex.EncodeToString(h.Sum(nil))
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type compareOpts struct {
	timeRes   time.Duration // 0: exact
	dirTimes  bool
	perms     bool
	links     bool // symlinks restored as links
	relLinks  bool // only relative symlinks restored as they are
	hardlinks bool
}

func compareTrees(t *testing.T, what string, want, got map[string]treeEntry, o compareOpts) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: %s missing", what, p)
			continue
		}
		if w.typ == "symlink" && !o.links {
			continue
		}
		if o.relLinks && strings.HasPrefix(w.target, "/") {
			continue
		}
		if g.typ != w.typ || g.size != w.size || g.sha != w.sha || g.target != w.target {
			t.Errorf("%s: %s: got %s %d %s %q, want %s %d %s %q", what, p, g.typ, g.size, g.sha, g.target, w.typ, w.size, w.sha, w.target)
		}
		if w.typ == "symlink" || (w.typ == "dir" && !o.dirTimes) {
			continue
		}
		if d := g.mtime.Sub(w.mtime.Truncate(max(o.timeRes, 1))); d < 0 || d > o.timeRes {
			t.Errorf("%s: %s: mtime %v, want %v", what, p, g.mtime, w.mtime)
		}
		if o.perms && g.perm != w.perm {
			t.Errorf("%s: %s: mode %v, want %v", what, p, g.perm, w.perm)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected %s", what, p)
		}
	}
	if o.hardlinks && got["docs/hello.txt"].ino != got["docs/hello-hardlink.txt"].ino {
		t.Errorf("%s: hard link not kept", what)
	}
}

func TestExtractRoundTrips(t *testing.T) {
	img, src := unixTree(t)
	unchanged := testutil.Unchanged(t, img)
	want := listTree(t, src)
	full := compareOpts{dirTimes: true, perms: true, links: true, hardlinks: true}

	t.Run("cp", func(t *testing.T) {
		dest := t.TempDir()
		mustGrain(t, "cp", "-r", img, "/disk", dest)
		compareTrees(t, "cp", want, listTree(t, filepath.Join(dest, "disk")), full)
		if _, alloc, ok := allocated(filepath.Join(dest, "disk/docs/sparse")); !ok || alloc > 1<<20 {
			t.Errorf("sparse file copied with %d bytes allocated (%v)", alloc, ok)
		}
	})
	tarball := filepath.Join(t.TempDir(), "out.tar")
	mustGrain(t, "tar", img, "/disk", "-o", tarball)
	for _, x := range []struct{ tool, args string }{{"tar", "-xpf"}, {"bsdtar", "-xpf"}} {
		t.Run(x.tool, func(t *testing.T) {
			testutil.RequireTool(t, x.tool)
			dest := t.TempDir()
			testutil.Run(t, x.tool, "-C", dest, x.args, tarball)
			compareTrees(t, x.tool, want, listTree(t, filepath.Join(dest, "disk")), full)
		})
	}
	zipfile := filepath.Join(t.TempDir(), "out.zip")
	mustGrain(t, "tar", "--format", "zip", img, "/disk", "-o", zipfile)
	// Zip keeps times to the second (extended timestamp field), and the
	// extractors set folder times before filling them.
	zipOpts := compareOpts{timeRes: time.Second, perms: true, links: true}
	t.Run("unzip", func(t *testing.T) {
		testutil.RequireTool(t, "unzip")
		dest := t.TempDir()
		testutil.Run(t, "unzip", "-q", zipfile, "-d", dest)
		compareTrees(t, "unzip", want, listTree(t, filepath.Join(dest, "disk")), zipOpts)
	})
	t.Run("7zz", func(t *testing.T) {
		testutil.RequireTool(t, "7zz")
		dest := t.TempDir()
		testutil.Run(t, "7zz", "x", "-snld", "-bd", "-y", "-o"+dest, zipfile)
		// 7-Zip rewrites absolute link targets to point into the folder
		// it extracts to.
		o := zipOpts
		o.relLinks = true
		compareTrees(t, "7zz", want, listTree(t, filepath.Join(dest, "disk")), o)
	})
	unchanged()
}
