//go:build linux

package backup_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/grainvm/grain/backup"
	"github.com/grainvm/grain/extract"
	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
)

// xattrImageScript builds an ext4 volume whose files, folders and a
// symbolic link carry extended attributes (set with debugfs, so the build
// needs no mount): user.* on files (small, in the inode, and large, in a
// block of their own), on a folder and on a read-only file, plus
// trusted.* and security.* ones.
const xattrImageScript = `
mkdir -p src/docs/sub src/plain
echo hello > src/docs/a.txt
ln src/docs/a.txt src/docs/a-hardlink.txt
head -c 100000 /dev/urandom > src/docs/big.bin
echo read-only > src/docs/ro.txt
chmod 444 src/docs/ro.txt
echo deep > src/docs/sub/deep.txt
echo none > src/plain/none.txt
ln -s a.txt src/docs/link
head -c 3000 /dev/urandom | base64 -w0 > big-value
mkfs.ext4 -q -F -d src -b 4096 -I 256 disk.img 16M
cat > cmds <<'X'
ea_set /docs/a.txt user.color blue
ea_set /docs/a.txt user.empty ""
ea_set -f big-value /docs/big.bin user.big
ea_set /docs/big.bin user.small x
ea_set /docs user.folder yes
ea_set /docs/sub/deep.txt user.deep 1
ea_set /docs/sub/deep.txt trusted.grain t
ea_set /docs/sub/deep.txt security.grain s
ea_set /docs/ro.txt user.ro yes
X
debugfs -w -f cmds disk.img >/dev/null
rm -rf src big-value cmds
`

// entryState is what the test compares of one restored entry.
type entryState struct {
	typ    string
	sha    string
	target string
	xattrs map[string]string
}

// hostXattrs lists every entry below root with its contents and all its
// extended attributes (llistxattr/lgetxattr: links are not followed).
func hostXattrs(t *testing.T, root string) map[string]entryState {
	t.Helper()
	out := map[string]entryState{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		e := entryState{xattrs: map[string]string{}}
		switch {
		case info.IsDir():
			e.typ = "dir"
		case info.Mode()&os.ModeSymlink != 0:
			e.typ = "symlink"
			e.target, _ = os.Readlink(p)
		default:
			e.typ = "file"
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.sha = shaOf(b)
		}
		buf := make([]byte, 1<<16)
		n, err := unix.Llistxattr(p, buf)
		if err != nil {
			return err
		}
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name == "" {
				continue
			}
			v := make([]byte, 1<<16)
			m, err := unix.Lgetxattr(p, name, v)
			if err != nil {
				return err
			}
			e.xattrs[name] = string(v[:m])
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameStates(t *testing.T, what string, got, want map[string]entryState) {
	t.Helper()
	var names []string
	for k := range want {
		names = append(names, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		g, gok := got[k]
		w, wok := want[k]
		if !gok || !wok {
			t.Errorf("%s: %s: present in grain's %v, in the oracle's %v", what, k, gok, wok)
			continue
		}
		if g.typ != w.typ || g.sha != w.sha || g.target != w.target || !mapsEqual(g.xattrs, w.xattrs) {
			t.Errorf("%s: %s:\n grain  %+v\n oracle %+v", what, k, g, w)
		}
	}
}

func resticRestore(t *testing.T, bin, repo, target string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--no-cache", "-r", repo, "restore", "latest", "--target", target}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+testPassword, "HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s restore: %v\n%s", bin, err, out.String())
	}
}

// TestRestoreXattrs backs up an ext4 volume with extended attributes and
// checks that grain restore writes every file's contents and attributes
// as restic restore (Debian's 0.14 and 0.17.3) writes them.
func TestRestoreXattrs(t *testing.T) {
	testutil.RequireTool(t, "restic", "mkfs.ext4", "debugfs")
	testutil.RequireRoot(t) // trusted.* and security.* need root, as for restic
	image := filepath.Join(testutil.Build(t, "backup-xattr-ext4", xattrImageScript), "disk.img")
	_, repoDir := newRepo(t)
	doBackup(t, repoDir, image, backup.Options{Name: "x"})

	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn, err := backup.FindSnapshot(context.Background(), repo, "latest", "")
	if err != nil {
		t.Fatal(err)
	}
	grainDir := filepath.Join(t.TempDir(), "grain")
	report := func(p string, err error) { t.Errorf("grain restore: %s: %v", p, err) }
	if _, err := backup.Restore(context.Background(), repo, sn, "/", grainDir, &backup.RestoreOptions{Report: report}); err != nil {
		t.Fatal(err)
	}
	got := hostXattrs(t, grainDir)

	// Not vacuous: the attributes the image was built with are there.
	deep := got["x/disk/docs/sub/deep.txt"].xattrs
	if got["x/disk/docs/a.txt"].xattrs["user.color"] != "blue" || len(got["x/disk/docs/big.bin"].xattrs["user.big"]) != 4000 ||
		got["x/disk/docs"].xattrs["user.folder"] != "yes" || deep["trusted.grain"] != "t" || deep["security.grain"] != "s" ||
		got["x/disk/docs/ro.txt"].xattrs["user.ro"] != "yes" {
		t.Errorf("grain restore lacks attributes: %+v", got)
	}
	if _, ok := got["x/disk/docs/a.txt"].xattrs["user.empty"]; !ok {
		t.Errorf("empty attribute not restored: %+v", got["x/disk/docs/a.txt"])
	}

	bins := []string{"restic"}
	if b := testutil.Restic017(t); b != "" {
		bins = append(bins, b)
	}
	for _, bin := range bins {
		resticDir := filepath.Join(t.TempDir(), "restic")
		resticRestore(t, bin, repoDir, resticDir)
		sameStates(t, "grain restore vs "+bin+" restore", got, hostXattrs(t, resticDir))
	}

	// A part, with Include and Exclude: attributes only where files were
	// written, as restic restore --include/--exclude.
	part := filepath.Join(t.TempDir(), "part")
	if _, err := backup.Restore(context.Background(), repo, sn, "/x/disk/docs", part,
		&backup.RestoreOptions{Exclude: []string{"big.bin"}, Report: report}); err != nil {
		t.Fatal(err)
	}
	pg := hostXattrs(t, part)
	if _, ok := pg["big.bin"]; ok {
		t.Errorf("excluded file restored: %+v", pg["big.bin"])
	}
	for k, e := range pg {
		if w := got["x/disk/docs/"+k]; w.sha != e.sha || !mapsEqual(w.xattrs, e.xattrs) {
			t.Errorf("partial restore: %s: %+v, whole restore %+v", k, e, w)
		}
	}

	// Existing files are kept (and reported): the restore fails as before,
	// the attributes of a kept file are left alone.
	os.Remove(filepath.Join(part, "sub", "deep.txt"))
	if err := os.WriteFile(filepath.Join(part, "sub", "deep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = backup.Restore(context.Background(), repo, sn, "/x/disk/docs", part, &backup.RestoreOptions{Exclude: []string{"big.bin"}})
	if !errors.Is(err, extract.ErrFailed) {
		t.Errorf("restore over existing files: %v", err)
	}
	if n, _ := unix.Getxattr(filepath.Join(part, "sub", "deep.txt"), "user.deep", make([]byte, 16)); n > 0 {
		t.Errorf("attributes written onto a file the restore kept")
	}
}

// TestRestoreXattrsNoFollow: a symbolic link in the target where the
// restore expects a folder is never followed when attributes are set.
func TestRestoreXattrsNoFollow(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	image := filepath.Join(testutil.Build(t, "backup-xattr-ext4", xattrImageScript), "disk.img")
	_, repoDir := newRepo(t)
	doBackup(t, repoDir, image, backup.Options{Name: "x"})
	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn, err := backup.FindSnapshot(context.Background(), repo, "latest", "")
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "deep.txt"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "t")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(target, "sub")); err != nil {
		t.Fatal(err)
	}
	var reported []string
	backup.Restore(context.Background(), repo, sn, "/x/disk/docs", target, &backup.RestoreOptions{
		Overwrite: true, Report: func(p string, err error) { reported = append(reported, p) }})
	if n, _ := unix.Lgetxattr(filepath.Join(outside, "deep.txt"), "user.deep", make([]byte, 16)); n > 0 {
		t.Fatal("attribute written through a link in the target")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "deep.txt")); string(b) != "outside" {
		t.Fatal("file outside the target changed")
	}
	if len(reported) == 0 {
		t.Error("the linked folder was not reported")
	}
	if v, _ := unix.Lgetxattr(filepath.Join(target, "a.txt"), "user.color", make([]byte, 16)); v != 4 {
		t.Errorf("a.txt lacks its attribute next to the refused folder")
	}
}

// TestRestoreStreamsUnchanged: the named streams of the demo image's NTFS
// volume come back from grain restore as from restic restore (Debian's and
// 0.17.3): as user.grain.stream.* attributes, with the same contents; the
// new pass over extended attributes leaves them to extract.Copy.
func TestRestoreStreamsUnchanged(t *testing.T) {
	testutil.RequireTool(t, "restic")
	image := testutil.DemoImage(t, t.TempDir())
	_, repoDir := newRepo(t)
	doBackup(t, repoDir, image, backup.Options{})
	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn, err := backup.FindSnapshot(context.Background(), repo, "latest", "")
	if err != nil {
		t.Fatal(err)
	}
	grainDir := filepath.Join(t.TempDir(), "grain")
	report := func(p string, err error) { t.Errorf("grain restore: %s: %v", p, err) }
	if _, err := backup.Restore(context.Background(), repo, sn, "/", grainDir, &backup.RestoreOptions{Report: report}); err != nil {
		t.Fatal(err)
	}
	got := hostXattrs(t, grainDir)
	streams := 0
	for _, e := range got {
		for name := range e.xattrs {
			if strings.HasPrefix(name, backup.StreamXattrPrefix) {
				streams++
			}
		}
	}
	if streams == 0 {
		t.Fatal("no named stream restored from the demo image")
	}
	bins := []string{"restic"}
	if b := testutil.Restic017(t); b != "" {
		bins = append(bins, b)
	}
	for _, bin := range bins {
		resticDir := filepath.Join(t.TempDir(), "restic")
		resticRestore(t, bin, repoDir, resticDir)
		sameStates(t, "grain restore vs "+bin+" restore", got, hostXattrs(t, resticDir))
	}
}

// TestRestoreXattrsNotRoot restores the ext4 volume as user nobody (a copy
// of this test binary run with its uid): user.* attributes are all set,
// read-only files included, the trusted.* and security.* ones are left
// out with one note, and no entry fails.
func TestRestoreXattrsNotRoot(t *testing.T) {
	testutil.RequireTool(t, "mkfs.ext4", "debugfs")
	testutil.RequireRoot(t)
	image := filepath.Join(testutil.Build(t, "backup-xattr-ext4", xattrImageScript), "disk.img")
	base, err := os.MkdirTemp("", "grain-xattr-nonroot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(base, "repo")
	be, err := restic.CreateLocal(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restic.Init(context.Background(), be, testPassword, restic.InitOptions{KDF: restic.KDFParams{N: 1024, R: 8, P: 1}}); err != nil {
		t.Fatal(err)
	}
	doBackup(t, repoDir, image, backup.Options{Name: "x"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "backup.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	for _, p := range []string{repoDir, target} {
		if out, err := exec.Command("chown", "-R", "65534:65534", p).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestRestoreXattrsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "GRAIN_XATTR_HELPER="+repoDir+"\n"+target, "HOME="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restore as nobody: %v\n%s", err, out)
	}
	t.Logf("restore as nobody:\n%s", out)
	notes := strings.Count(string(out), "REPORT ")
	if notes != 1 || !strings.Contains(string(out), "2 extended attributes outside the user.* namespace not restored") {
		t.Errorf("restore as nobody reported:\n%s", out)
	}
	got := hostXattrs(t, target)
	deep := got["x/disk/docs/sub/deep.txt"].xattrs
	if got["x/disk/docs/ro.txt"].xattrs["user.ro"] != "yes" || deep["user.deep"] != "1" || len(deep) != 1 ||
		got["x/disk/docs"].xattrs["user.folder"] != "yes" {
		t.Errorf("restore as nobody: %+v", got)
	}
	if fi, err := os.Stat(filepath.Join(target, "x/disk/docs/ro.txt")); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("read-only file: %v %v", fi.Mode(), err)
	}
}

// TestRestoreXattrsHelper is the restore TestRestoreXattrsNotRoot runs as
// another user; it does nothing otherwise.
func TestRestoreXattrsHelper(t *testing.T) {
	arg := os.Getenv("GRAIN_XATTR_HELPER")
	if arg == "" {
		return // run only as TestRestoreXattrsNotRoot's child process
	}
	repoDir, target, _ := strings.Cut(arg, "\n")
	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn, err := backup.FindSnapshot(context.Background(), repo, "latest", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Restore(context.Background(), repo, sn, "/", target, &backup.RestoreOptions{
		Report: func(p string, err error) { t.Logf("REPORT %s: %v", p, err) }})
	if err != nil {
		t.Fatal(err)
	}
}
