//go:build linux

package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/grainvm/grain/backup"
	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

const testPassword = "grain backup test"

func newRepo(t *testing.T) (*restic.Repository, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := restic.CreateLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := restic.Init(context.Background(), be, testPassword, restic.InitOptions{KDF: restic.KDFParams{N: 1024, R: 8, P: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func openRepo(t *testing.T, dir string) *restic.Repository {
	t.Helper()
	be, err := restic.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := restic.Open(context.Background(), be, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runRestic(t *testing.T, repo string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("restic", append([]string{"--no-cache", "-r", repo}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+testPassword, "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("restic %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.Bytes()
}

func doBackup(t *testing.T, repoDir, image string, opts backup.Options) *backup.Summary {
	t.Helper()
	img, err := guest.Open(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if opts.Name == "" {
		opts.Name = "demo"
	}
	opts.Report = func(p string, err error) { t.Errorf("backup: %s: %v", p, err) }
	sum, err := backup.Run(context.Background(), openRepo(t, repoDir), img, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// hostEntry is one restored file as a user would check it.
type hostEntry struct {
	typ    string
	size   int64
	sha    string
	mtime  time.Time
	perm   fs.FileMode
	nlink  uint64
	target string
	xattrs map[string]string
}

func listHost(t *testing.T, root string) map[string]hostEntry {
	t.Helper()
	out := map[string]hostEntry{}
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
		st := info.Sys().(*syscall.Stat_t)
		e := hostEntry{mtime: info.ModTime(), perm: info.Mode().Perm(), xattrs: map[string]string{}}
		switch {
		case info.IsDir():
			e.typ = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			e.typ = "symlink"
			e.target, _ = os.Readlink(p)
		default:
			e.typ, e.size, e.nlink = "file", info.Size(), uint64(st.Nlink)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.sha = shaOf(b)
			buf := make([]byte, 1<<16)
			if n, err := unix.Llistxattr(p, buf); err == nil {
				for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
					if name == "" {
						continue
					}
					v := make([]byte, 1<<16)
					if m, err := unix.Lgetxattr(p, name, v); err == nil {
						e.xattrs[name] = string(v[:m])
					}
				}
			}
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sameTrees(t *testing.T, what string, a, b map[string]hostEntry) {
	t.Helper()
	for p, x := range a {
		y, ok := b[p]
		if !ok {
			t.Errorf("%s: %s only in the first tree", what, p)
			continue
		}
		if x.typ != y.typ || x.size != y.size || x.sha != y.sha || !x.mtime.Equal(y.mtime) || x.perm != y.perm ||
			x.nlink != y.nlink || x.target != y.target || !mapsEqual(x.xattrs, y.xattrs) {
			t.Errorf("%s: %s differs:\n%+v\n%+v", what, p, x, y)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: %s only in the second tree", what, p)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var (
	mmlsRow = regexp.MustCompile(`^\d+:\s+\S+\s+(\d+)\s+(\d+)\s+\d+\s+`)
	flsRow  = regexp.MustCompile(`^([-a-zA-Z])/([-a-zA-Z])\s+(\*\s+)?([0-9-]+):\t(.*)$`)
)

// sleuthkitOracle lists the demo image's file systems with fls and reads
// every file and stream with icat: path (below the volume folder) → sha256,
// and "path:stream" → content.
func sleuthkitOracle(t *testing.T, image string) (files map[string]string, dirs map[string]bool, streams map[string]string) {
	testutil.RequireTool(t, "qemu-img", "mmls", "fls", "icat")
	raw := filepath.Join(t.TempDir(), "demo.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", image, raw)
	var starts []int64
	sc := bufio.NewScanner(bytes.NewReader(testutil.Run(t, "mmls", raw)))
	for sc.Scan() {
		line := sc.Text()
		if m := mmlsRow.FindStringSubmatch(line); m != nil && !strings.Contains(line, "Meta") && !strings.Contains(line, "-------") {
			s, _ := strconv.ParseInt(m[1], 10, 64)
			starts = append(starts, s)
		}
	}
	if len(starts) != 3 {
		t.Fatalf("mmls found %d partitions, the demo image has 3", len(starts))
	}
	files, dirs, streams = map[string]string{}, map[string]bool{}, map[string]string{}
	for i, start := range starts {
		vol := "p" + strconv.Itoa(i+1)
		dirs[vol] = true
		if vol == "p2" {
			continue
		}
		out := testutil.Run(t, "fls", "-r", "-p", "-o", strconv.FormatInt(start, 10), raw)
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			m := flsRow.FindStringSubmatch(sc.Text())
			if m == nil || m[3] != "" || m[1] == "v" || m[1] == "V" {
				continue
			}
			name := m[5]
			if strings.HasPrefix(name, "$") || strings.Contains(name, "(Volume Label Entry)") {
				continue
			}
			if m[2] == "d" {
				dirs[vol+"/"+name] = true
				continue
			}
			data, err := exec.Command("icat", "-o", strconv.FormatInt(start, 10), raw, m[4]).Output()
			if err != nil {
				t.Fatalf("icat %s: %v", m[4], err)
			}
			if strings.Contains(name, ":") {
				streams[vol+"/"+name] = string(data)
			} else {
				files[vol+"/"+name] = shaOf(data)
			}
		}
	}
	return files, dirs, streams
}

// checkOracle compares a restored tree of the demo image with sleuthkit.
func checkOracle(t *testing.T, what string, tree map[string]hostEntry, files map[string]string, dirs map[string]bool, streams map[string]string) {
	t.Helper()
	n := 0
	for p, e := range tree {
		p, ok := strings.CutPrefix(p, "demo/")
		if !ok {
			continue
		}
		n++
		switch e.typ {
		case "dir":
			if !dirs[p] {
				t.Errorf("%s: folder %s not in sleuthkit's listing", what, p)
			}
		case "file":
			if files[p] != e.sha {
				t.Errorf("%s: %s: sha256 %s, icat %s", what, p, e.sha, files[p])
			}
			for name, v := range e.xattrs {
				s, ok := strings.CutPrefix(name, backup.StreamXattrPrefix)
				if !ok || streams[p+":"+s] != v {
					t.Errorf("%s: %s: xattr %s = %q, icat %q", what, p, name, v, streams[p+":"+s])
				}
			}
		default:
			t.Errorf("%s: %s: unexpected %s", what, p, e.typ)
		}
	}
	if n != len(files)+len(dirs) {
		t.Errorf("%s: %d entries restored, sleuthkit lists %d files and %d folders", what, n, len(files), len(dirs))
	}
	for p := range streams {
		f, s, _ := strings.Cut(p, ":")
		if _, ok := tree["demo/"+f].xattrs[backup.StreamXattrPrefix+s]; !ok {
			t.Errorf("%s: stream %s not restored", what, p)
		}
	}
}

type resticSnapshot struct {
	ID       string   `json:"id"`
	Paths    []string `json:"paths"`
	Hostname string   `json:"hostname"`
	Tags     []string `json:"tags"`
	Parent   string   `json:"parent"`
}

// TestDemoBackupRestore backs up the demo image, checks the repository
// and the snapshot with restic, restores it with restic and with grain
// and compares both with each other and with sleuthkit; then backs it up
// again and checks that no file data was read.
func TestDemoBackupRestore(t *testing.T) {
	testutil.RequireTool(t, "restic")
	dir := t.TempDir()
	image := testutil.DemoImage(t, dir)
	unchanged := testutil.Unchanged(t, image)
	_, repoDir := newRepo(t)

	first := doBackup(t, repoDir, image, backup.Options{Tags: []string{"daily"}})
	if first.Parent != nil || first.FilesNew != 6 || first.BytesRead < 40000 || first.Errors != 0 {
		t.Errorf("first backup: %+v", first)
	}
	runRestic(t, repoDir, "check", "--read-data")

	var sns []resticSnapshot
	if err := json.Unmarshal(runRestic(t, repoDir, "snapshots", "--json"), &sns); err != nil {
		t.Fatal(err)
	}
	if len(sns) != 1 || sns[0].ID != first.SnapshotID.String() || sns[0].Hostname != "demo" ||
		!slices.Equal(sns[0].Paths, []string{"/demo"}) || !slices.Contains(sns[0].Tags, "daily") {
		t.Fatalf("restic snapshots: %+v", sns)
	}
	img, err := guest.Open(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	layerTag := backup.LayerTagPrefix + strings.ToLower(img.Disk().Layers()[0].ID)
	img.Close()
	if !slices.Contains(sns[0].Tags, layerTag) {
		t.Errorf("tags %v lack %s", sns[0].Tags, layerTag)
	}

	// restic ls agrees with grain's view of the image.
	lsOut := runRestic(t, repoDir, "ls", "--json", "latest")
	resticLs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(lsOut))
	for sc.Scan() {
		var n struct {
			Path string `json:"path"`
			Type string `json:"type"`
			Size int64  `json:"size"`
		}
		if json.Unmarshal(sc.Bytes(), &n) == nil && n.Path != "" {
			resticLs[n.Path] = n.Type + " " + strconv.FormatInt(n.Size, 10)
		}
	}
	img, _ = guest.Open(image, nil)
	grainLs := map[string]string{"/demo": "dir 0"}
	img.Walk(".", func(p string, info fs.FileInfo) error {
		if p == "." {
			return nil
		}
		typ, size := "file", info.Size()
		if info.IsDir() {
			typ, size = "dir", 0
		}
		grainLs["/demo/"+p] = typ + " " + strconv.FormatInt(size, 10)
		return nil
	})
	img.Close()
	if !mapsEqual(resticLs, grainLs) {
		t.Errorf("restic ls: %v\ngrain: %v", resticLs, grainLs)
	}

	// Restores: restic's and grain's agree, and with sleuthkit.
	files, dirs, streams := sleuthkitOracle(t, image)
	resticDir := filepath.Join(t.TempDir(), "restic")
	runRestic(t, repoDir, "restore", "latest", "--target", resticDir)
	grainDir := filepath.Join(t.TempDir(), "grain")
	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn, err := backup.FindSnapshot(context.Background(), repo, "latest", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(context.Background(), repo, sn, "/", grainDir, &backup.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, gt := listHost(t, resticDir), listHost(t, grainDir)
	sameTrees(t, "grain restore vs restic restore", gt, rt)
	checkOracle(t, "restic restore", rt, files, dirs, streams)
	if e := gt["demo/p3/Users/alice/report-link.txt"]; e.nlink != 2 {
		t.Errorf("hard link not restored: %+v", e)
	}

	// A second restore keeps existing files unless asked to overwrite.
	if _, err := backup.Restore(context.Background(), repo, sn, "/", grainDir, &backup.RestoreOptions{}); err == nil {
		t.Errorf("restore over existing files succeeded without Overwrite")
	}
	sub := filepath.Join(t.TempDir(), "sub")
	if _, err := backup.Restore(context.Background(), repo, sn, "/demo/p3/Users/alice/Pictures/holiday.jpg", sub, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "holiday.jpg")); err != nil || shaOf(b) != files["p3/Users/alice/Pictures/holiday.jpg"] {
		t.Errorf("single-file restore: %v", err)
	}

	// Unchanged image: nothing read, everything reused.
	second := doBackup(t, repoDir, image, backup.Options{})
	if second.Parent == nil || *second.Parent != first.SnapshotID || second.BytesRead != 0 || second.FilesRead != 0 ||
		second.FilesUnmodified != 6 || second.DataBlobs != 0 || second.AllChanged || len(second.ChangedLayers) != 0 {
		t.Errorf("second backup: %+v", second)
	}
	runRestic(t, repoDir, "check", "--read-data")

	// Find: both snapshots hold report.txt.
	var found []string
	repo = openRepo(t, repoDir)
	if err := repo.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = backup.Find(context.Background(), repo, "REPORT.*", true, func(m backup.Match) error {
		found = append(found, m.Snapshot.ID.Str()+" "+m.Path)
		return nil
	})
	if err != nil || len(found) != 2 {
		t.Errorf("find: %v", found)
	}
	unchanged()
}

// TestNewLayerReadsOnlyChangedFiles puts a differencing VHDX over the demo
// image whose writes replace the data of one file, and checks that the
// next backup reads that file (and the small files stored in their MFT
// records), not the others, and that restic restores the new content.
func TestNewLayerReadsOnlyChangedFiles(t *testing.T) {
	testutil.RequireTool(t, "restic")
	dir := t.TempDir()
	base := testutil.DemoImage(t, dir)
	unchanged := testutil.Unchanged(t, base)
	_, repoDir := newRepo(t)
	first := doBackup(t, repoDir, base, backup.Options{})

	const target = "p3/Users/alice/Pictures/holiday.jpg"
	img, err := guest.Open(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := img.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	m := fsys.MetaOf(info)
	var volOff int64
	for _, v := range img.Volumes() {
		if v.Name == "p3" {
			volOff = v.Offset
		}
	}
	if len(m.Extents) == 0 || volOff == 0 {
		t.Fatalf("no extents for %s", target)
	}
	old, _ := fs.ReadFile(img, target)
	want := slices.Clone(old)
	rng := rand.New(rand.NewPCG(7, 8))
	var writes []vhdxtest.Write
	for _, e := range m.Extents {
		n := (e.Length + 511) / 512 * 512
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		writes = append(writes, vhdxtest.Write{Offset: volOff + e.Physical, Data: data})
		if e.Logical < int64(len(want)) {
			copy(want[e.Logical:], data[:min(e.Length, int64(len(want))-e.Logical)])
		}
	}
	// What else the new layer makes the backup read: files without
	// extents (resident), and named streams, whenever any layer changed.
	expectRead := int64(len(want))
	seen := map[uint64]bool{}
	img.Walk("p3", func(p string, fi fs.FileInfo) error {
		mm := fsys.MetaOf(fi)
		if mm == nil || !fi.Mode().IsRegular() || p == target || seen[mm.Inode] {
			return nil
		}
		seen[mm.Inode] = true
		if len(mm.Extents) == 0 || len(mm.Streams) > 0 {
			expectRead += mm.Size
			for _, s := range mm.Streams {
				expectRead += s.Size
			}
		}
		return nil
	})
	guid := img.Disk().Layers()[0].ID
	size := img.Disk().Size()
	img.Close()
	diff := filepath.Join(dir, "demo_1234.avhdx")
	if err := vhdxtest.WriteDifferencing(diff, base, guid, size, 512, 1<<20, writes); err != nil {
		t.Fatal(err)
	}

	second := doBackup(t, repoDir, diff, backup.Options{})
	if second.Parent == nil || *second.Parent != first.SnapshotID || second.AllChanged || len(second.ChangedLayers) != 1 {
		t.Fatalf("backup over the new layer: %+v", second)
	}
	if second.BytesRead != expectRead {
		t.Errorf("read %d bytes from the image, want %d (the changed file and the resident ones)", second.BytesRead, expectRead)
	}
	runRestic(t, repoDir, "check", "--read-data")
	out := filepath.Join(t.TempDir(), "restic")
	runRestic(t, repoDir, "restore", second.SnapshotID.String(), "--target", out, "--include", "/demo/"+target)
	got, err := os.ReadFile(filepath.Join(out, "demo", target))
	if err != nil {
		t.Fatal(err)
	}
	if shaOf(got) != shaOf(want) || shaOf(got) == shaOf(old) {
		t.Errorf("restic restores %s with sha256 %s, want the new content %s", target, shaOf(got), shaOf(want))
	}
	// The layer is now recorded: a third backup reads nothing.
	third := doBackup(t, repoDir, diff, backup.Options{})
	if third.BytesRead != 0 || third.FilesUnmodified != 6 {
		t.Errorf("third backup: %+v", third)
	}
	// Folders the new layer left alone kept the parent's trees; the rest
	// were encoded again: all of it as a backup reading everything gives.
	fresh := doBackup(t, repoDir, diff, backup.Options{NoParent: true})
	sameSnapshotTree(t, repoDir, second.SnapshotID, fresh.SnapshotID)
	sameSnapshotTree(t, repoDir, third.SnapshotID, fresh.SnapshotID)
	unchanged()
}

// snapshotTree returns the root tree of a snapshot.
func snapshotTree(t *testing.T, repoDir string, id restic.ID) restic.ID {
	t.Helper()
	sn, err := openRepo(t, repoDir).LoadSnapshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return *sn.Tree
}

// sameSnapshotTree checks that two snapshots hold the same tree, blob for
// blob.
func sameSnapshotTree(t *testing.T, repoDir string, a, b restic.ID) {
	t.Helper()
	if ta, tb := snapshotTree(t, repoDir, a), snapshotTree(t, repoDir, b); ta != tb {
		t.Errorf("snapshot %s has tree %s, snapshot %s (every tree encoded afresh) has %s", a.Str(), ta.Str(), b.Str(), tb.Str())
	}
}

// TestUnchangedReusesTrees: a backup of an unchanged image keeps the
// parent's trees without encoding them again, and they are exactly the
// trees a backup that reads and encodes everything writes; restic checks
// and restores it.
func TestUnchangedReusesTrees(t *testing.T) {
	testutil.RequireTool(t, "restic")
	dir := t.TempDir()
	base := testutil.DemoImage(t, dir)
	_, repoDir := newRepo(t)
	first := doBackup(t, repoDir, base, backup.Options{})
	second := doBackup(t, repoDir, base, backup.Options{})
	fresh := doBackup(t, repoDir, base, backup.Options{NoParent: true})
	if second.BytesRead != 0 || second.TreeBlobs != 0 || second.DirsUnmodified != fresh.DirsNew+fresh.DirsChanged+fresh.DirsUnmodified ||
		second.FilesUnmodified != fresh.TotalFiles || second.TotalFiles != fresh.TotalFiles || second.TotalBytes != fresh.TotalBytes ||
		second.FilesNew+second.FilesChanged+second.DirsNew+second.DirsChanged != 0 {
		t.Errorf("re-backup of the unchanged image: %+v\nbackup reading everything: %+v", second, fresh)
	}
	sameSnapshotTree(t, repoDir, first.SnapshotID, second.SnapshotID)
	sameSnapshotTree(t, repoDir, second.SnapshotID, fresh.SnapshotID)
	runRestic(t, repoDir, "check", "--read-data")
	a := runRestic(t, repoDir, "ls", "--json", second.SnapshotID.String())
	b := runRestic(t, repoDir, "ls", "--json", fresh.SnapshotID.String())
	strip := func(b []byte) []byte { // the first line is the snapshot itself
		_, rest, _ := bytes.Cut(b, []byte("\n"))
		return rest
	}
	if !bytes.Equal(strip(a), strip(b)) {
		t.Errorf("restic ls of the re-backup and of a backup reading everything differ")
	}
}

// TestForeignParentTreesNotReused: a parent whose trees hold the same nodes
// written with other bytes (as another program might write them: here
// indented JSON) is never reused blob for blob; the backup writes the trees
// a backup reading everything writes.
func TestForeignParentTreesNotReused(t *testing.T) {
	dir := t.TempDir()
	base := testutil.DemoImage(t, dir)
	_, repoDir := newRepo(t)
	first := doBackup(t, repoDir, base, backup.Options{})
	ctx := context.Background()
	repo := openRepo(t, repoDir)
	if err := repo.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// rewrite stores an indented copy of a tree and its subtrees.
	var rewrite func(id restic.ID) restic.ID
	rewrite = func(id restic.ID) restic.ID {
		tr, err := repo.LoadTree(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			if n.Subtree != nil {
				sub := rewrite(*n.Subtree)
				n.Subtree = &sub
			}
		}
		b, err := restic.EncodeTree(tr)
		if err != nil {
			t.Fatal(err)
		}
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		nid, _, err := repo.SaveBlob(ctx, restic.TreeBlob, ind.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return nid
	}
	sn, err := repo.LoadSnapshot(ctx, first.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	root := rewrite(*sn.Tree)
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	foreign := *sn
	foreign.Tree, foreign.Time, foreign.Parent = &root, sn.Time.Add(time.Minute), nil
	fid, err := repo.SaveSnapshot(ctx, &foreign)
	if err != nil {
		t.Fatal(err)
	}
	next := doBackup(t, repoDir, base, backup.Options{Parent: &fid})
	if next.BytesRead != 0 || next.FilesUnmodified != first.TotalFiles {
		t.Errorf("backup over the rewritten parent read files: %+v", next)
	}
	sameSnapshotTree(t, repoDir, next.SnapshotID, first.SnapshotID)
}

// TestErrors: wrong password, not a repository, locked repository.
func TestErrors(t *testing.T) {
	_, dir := newRepo(t)
	be, _ := restic.OpenLocal(dir)
	if _, err := restic.Open(context.Background(), be, "wrong"); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password: %v", err)
	}
	empty, _ := restic.OpenLocal(t.TempDir())
	if _, err := restic.Open(context.Background(), empty, testPassword); err == nil || !strings.Contains(err.Error(), "not a repository") {
		t.Errorf("empty folder: %v", err)
	}
	r := openRepo(t, dir)
	lock, err := r.Lock(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock(context.Background())
	image := testutil.DemoImage(t, t.TempDir())
	img, err := guest.Open(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := backup.Run(context.Background(), openRepo(t, dir), img, &backup.Options{Name: "demo"}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("backup of a locked repository: %v", err)
	}
	if _, err := backup.Run(context.Background(), openRepo(t, dir), img, &backup.Options{Name: "a/b"}); err == nil {
		t.Errorf("name with a slash accepted")
	}
}

// failingBackend fails every pack upload after the first few, as a
// backend that goes away in the middle of a backup.
type failingBackend struct {
	restic.Backend
	packs atomic.Int32
	limit int32
}

func (b *failingBackend) Save(ctx context.Context, h restic.Handle, data []byte) error {
	if h.Type == restic.PackFile && b.packs.Add(1) > b.limit {
		return errors.New("test: backend gone")
	}
	return b.Backend.Save(ctx, h, data)
}

// TestInterruptedBackupReusesPacks stops a backup by failing its uploads:
// no snapshot, restic check passes, and the next backup indexes the packs
// that were uploaded and does not upload their blobs again.
func TestInterruptedBackupReusesPacks(t *testing.T) {
	testutil.RequireTool(t, "restic", "mkfs.ext4")
	dir := testutil.Build(t, "backup-small-ext4", `
mkdir -p src/d
for i in $(seq 1 40); do head -c 150000 /dev/urandom > src/d/f$i; done
mkfs.ext4 -q -F -d src -b 4096 disk.img 16M
`)
	image := filepath.Join(dir, "disk.img")
	_, repoDir := newRepo(t)
	local, _ := restic.OpenLocal(repoDir)
	fb := &failingBackend{Backend: local, limit: 5}
	repo, err := restic.Open(context.Background(), fb, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	repo.SetPackSize(200 << 10)
	img, err := guest.Open(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := backup.Run(context.Background(), repo, img, &backup.Options{Name: "small", Workers: 1}); err == nil {
		t.Fatal("backup over a failing backend succeeded")
	}
	runRestic(t, repoDir, "check", "--read-data")
	if out := runRestic(t, repoDir, "snapshots", "--json"); strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("snapshot written by a failed backup: %s", out)
	}
	repo = openRepo(t, repoDir)
	repo.SetPackSize(200 << 10)
	sum, err := backup.Run(context.Background(), repo, img, &backup.Options{Name: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OrphanPacksIndexed != 5 || sum.DataAdded >= sum.TotalBytes-4*150000 {
		t.Errorf("after an interrupted backup: %d packs indexed, %d bytes added of %d", sum.OrphanPacksIndexed, sum.DataAdded, sum.TotalBytes)
	}
	runRestic(t, repoDir, "check", "--read-data")
}
