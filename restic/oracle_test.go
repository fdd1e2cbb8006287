//go:build linux

package restic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testFile is one entry of the tree grain writes in the oracle tests.
type testFile struct {
	path   string // slash-separated below the snapshot root
	typ    string
	mode   fs.FileMode // permission bits
	data   []byte
	target string
	xattrs map[string]string
	mtime  time.Time
}

func testFiles() []testFile {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 2<<20+12345)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	zeros := append(make([]byte, 1<<20), "tail"...)
	t0 := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	return []testFile{
		{path: "big.bin", typ: "file", mode: 0o644, data: big, mtime: t0},
		{path: "zeros.bin", typ: "file", mode: 0o600, data: zeros, mtime: t0.Add(time.Hour)},
		{path: "empty", typ: "file", mode: 0o644, data: []byte{}, mtime: t0.Add(2 * time.Hour)},
		{path: `weird ü "q" \x`, typ: "file", mode: 0o644, data: []byte("weird\n"), mtime: t0.Add(3 * time.Hour)},
		{path: "dir", typ: "dir", mode: 0o750, mtime: t0.Add(4 * time.Hour)},
		{path: "dir/sub", typ: "dir", mode: 0o755, mtime: t0.Add(5 * time.Hour)},
		{path: "dir/sub/note.txt", typ: "file", mode: 0o640, data: []byte("hello\n"), mtime: t0.Add(6*time.Hour + 1),
			xattrs: map[string]string{"user.grain": "value 1", "user.other": "\x00\x01\x02"}},
		{path: "dir/link", typ: "symlink", mode: 0o777, target: "sub/note.txt", mtime: t0.Add(7 * time.Hour)},
		{path: "dir/dup.bin", typ: "file", mode: 0o644, data: big, mtime: t0.Add(8 * time.Hour)}, // dedup
	}
}

// writeTestSnapshot saves testFiles as a snapshot of /data and flushes.
func writeTestSnapshot(t *testing.T, r *Repository) (ID, *Snapshot) {
	t.Helper()
	ctx := context.Background()
	files := testFiles()
	var build func(prefix string) ID
	build = func(prefix string) ID {
		tree := &Tree{}
		for _, f := range files {
			dir, name := filepath.Split(f.path)
			if strings.TrimSuffix(dir, "/") != prefix {
				continue
			}
			n := &Node{Name: name, Type: f.typ, ModTime: f.mtime, AccessTime: f.mtime.Add(time.Second),
				ChangeTime: f.mtime.Add(2 * time.Second), UID: 1000, GID: 1001, User: "alice", Group: "staff",
				Inode: uint64(len(tree.Nodes) + 10), Links: 1}
			switch f.typ {
			case "file":
				n.Mode = f.mode
				ids, size, err := r.SaveFile(ctx, bytes.NewReader(f.data))
				if err != nil {
					t.Fatal(err)
				}
				n.Content, n.Size = ids, size
			case "dir":
				n.Mode = fs.ModeDir | f.mode
				id := build(f.path)
				n.Subtree = &id
			case "symlink":
				n.Mode = fs.ModeSymlink | f.mode
				n.LinkTarget = f.target
			}
			for k, v := range f.xattrs {
				n.ExtendedAttributes = append(n.ExtendedAttributes, ExtendedAttribute{Name: k, Value: []byte(v)})
			}
			tree.Nodes = append(tree.Nodes, n)
		}
		id, err := r.SaveTree(ctx, tree)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	dataID := build("")
	t0 := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	root := &Tree{Nodes: []*Node{{Name: "data", Type: "dir", Mode: fs.ModeDir | 0o755, ModTime: t0, AccessTime: t0, ChangeTime: t0, Subtree: &dataID}}}
	rootID, err := r.SaveTree(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sn := &Snapshot{Time: time.Date(2024, 5, 6, 7, 8, 9, 987654321, time.UTC), Tree: &rootID, Paths: []string{"/data"},
		Hostname: "grain-host", Username: "grain", Tags: []string{"grain"}, ProgramVersion: "grain test",
		Summary: &SnapshotSummary{BackupStart: t0, BackupEnd: t0.Add(time.Second), FilesNew: 6, DataBlobs: 3}}
	id, err := r.SaveSnapshot(ctx, sn)
	if err != nil {
		t.Fatal(err)
	}
	return id, sn
}

// checkResticReadsGrain checks a grain-written snapshot with restic:
// check --read-data, snapshots, ls and restore.
func checkResticReadsGrain(t *testing.T, bin resticBin, repo string, id ID, sn *Snapshot) {
	runRestic(t, bin, repo, false, "check", "--read-data")

	out, _ := runRestic(t, bin, repo, false, "snapshots", "--json")
	var sns []struct {
		ID       string    `json:"id"`
		Tree     string    `json:"tree"`
		Time     time.Time `json:"time"`
		Paths    []string  `json:"paths"`
		Hostname string    `json:"hostname"`
		Tags     []string  `json:"tags"`
	}
	if err := json.Unmarshal([]byte(out), &sns); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, out)
	}
	if len(sns) != 1 || sns[0].ID != id.String() || sns[0].Tree != sn.Tree.String() || !sns[0].Time.Equal(sn.Time) ||
		sns[0].Hostname != sn.Hostname || len(sns[0].Paths) != 1 || sns[0].Paths[0] != "/data" {
		t.Fatalf("restic snapshots: %+v, want id %v tree %v", sns, id, sn.Tree)
	}

	files := testFiles()
	out, _ = runRestic(t, bin, repo, false, "ls", "--json", id.String())
	type lsNode struct {
		Name, Type, Path string
		Size             uint64
		Mode             fs.FileMode
		Mtime            time.Time
		StructType       string `json:"struct_type"`
	}
	seen := map[string]lsNode{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var n lsNode
		if err := json.Unmarshal(sc.Bytes(), &n); err != nil {
			t.Fatalf("ls --json line %q: %v", sc.Text(), err)
		}
		if n.StructType == "node" {
			seen[n.Path] = n
		}
	}
	for _, f := range files {
		n, ok := seen["/data/"+f.path]
		if !ok {
			t.Errorf("restic ls: %s missing (have %d nodes)", f.path, len(seen))
			continue
		}
		wantMode := f.mode
		switch f.typ {
		case "dir":
			wantMode |= fs.ModeDir
		case "symlink":
			wantMode |= fs.ModeSymlink
		}
		if n.Type != f.typ || n.Mode != wantMode || !n.Mtime.Equal(f.mtime) || (f.typ == "file" && n.Size != uint64(len(f.data))) {
			t.Errorf("restic ls %s: type %s mode %v mtime %v size %d; want %s %v %v %d",
				f.path, n.Type, n.Mode, n.Mtime, n.Size, f.typ, wantMode, f.mtime, len(f.data))
		}
	}

	target := t.TempDir()
	runRestic(t, bin, repo, false, "restore", id.String(), "--target", target)
	for _, f := range files {
		p := filepath.Join(target, "data", filepath.FromSlash(f.path))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("restore: %v", err)
			continue
		}
		if f.typ != "symlink" && fi.Mode().Perm() != f.mode {
			t.Errorf("restore %s: mode %v, want %v", f.path, fi.Mode().Perm(), f.mode)
		}
		if !fi.ModTime().Equal(f.mtime) {
			t.Errorf("restore %s: mtime %v, want %v", f.path, fi.ModTime(), f.mtime)
		}
		switch f.typ {
		case "file":
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(b, f.data) {
				t.Errorf("restore %s: content differs (%d bytes, want %d, err %v)", f.path, len(b), len(f.data), err)
			}
		case "symlink":
			if tg, err := os.Readlink(p); err != nil || tg != f.target {
				t.Errorf("restore %s: link target %q, want %q (%v)", f.path, tg, f.target, err)
			}
		}
		for k, v := range f.xattrs {
			buf := make([]byte, 256)
			n, err := syscall.Getxattr(p, k, buf)
			if err != nil || string(buf[:n]) != v {
				t.Errorf("restore %s: xattr %s = %q (%v), want %q", f.path, k, buf[:max(n, 0)], err, v)
			}
		}
	}
}

// TestResticInitGrainWrites: restic makes the repository, grain writes a
// snapshot into it, restic checks, lists and restores it.
func TestResticInitGrainWrites(t *testing.T) {
	for _, bin := range resticBins(t) {
		for _, v := range []int{1, 2} {
			t.Run(bin.name+"/v"+strconv.Itoa(v), func(t *testing.T) {
				repo := filepath.Join(t.TempDir(), "repo")
				runRestic(t, bin, repo, false, "init", "--repository-version", strconv.Itoa(v))
				r := grainOpen(t, repo)
				if int(r.Config().Version) != v {
					t.Fatalf("version %d, want %d", r.Config().Version, v)
				}
				if err := r.LoadIndex(context.Background()); err != nil {
					t.Fatal(err)
				}
				id, sn := writeTestSnapshot(t, r)
				checkResticReadsGrain(t, bin, repo, id, sn)
			})
		}
	}
}

// walkGrain reads a snapshot's trees with grain: path → node, and file
// contents through LoadBlob.
func walkGrain(t *testing.T, r *Repository, tree ID, prefix string, nodes map[string]*Node, contents map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	tr, err := r.LoadTree(ctx, tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tr.Nodes {
		p := prefix + "/" + n.Name
		nodes[p] = n
		switch n.Type {
		case "dir":
			if n.Subtree == nil {
				t.Fatalf("%s: dir without subtree", p)
			}
			walkGrain(t, r, *n.Subtree, p, nodes, contents)
		case "file":
			var data []byte
			for _, id := range n.Content {
				b, err := r.LoadBlob(ctx, DataBlob, id, nil)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				data = append(data, b...)
			}
			contents[p] = data
		}
	}
}

// TestGrainInitResticBackup: grain makes the repository, restic checks it
// and backs up into it, grain reads restic's snapshot back.
func TestGrainInitResticBackup(t *testing.T) {
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, 1<<20+777)
	for i := range big {
		big[i] = byte(rng.Uint32() % 7) // compressible but not trivially
	}
	want := map[string][]byte{"a.txt": []byte("alpha\n"), "sub/big.bin": big, "sub/empty": {}, "ü név": []byte("unicode\n")}
	for p, b := range want {
		fp := filepath.Join(src, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(fp), 0o755)
		if err := os.WriteFile(fp, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(src, "ln")); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 600000000, time.UTC)
	os.Chtimes(filepath.Join(src, "a.txt"), mt, mt)

	for _, bin := range resticBins(t) {
		for _, v := range []int{1, 2} {
			t.Run(bin.name+"/v"+strconv.Itoa(v), func(t *testing.T) {
				_, repo := grainInit(t, v)
				runRestic(t, bin, repo, false, "check", "--read-data")
				runRestic(t, bin, repo, false, "backup", "--host", "h", src)
				r := grainOpen(t, repo)
				if err := r.LoadIndex(context.Background()); err != nil {
					t.Fatal(err)
				}
				sns, err := r.ListSnapshots(context.Background())
				if err != nil || len(sns) != 1 {
					t.Fatalf("ListSnapshots: %d, %v", len(sns), err)
				}
				if sns[0].Hostname != "h" || len(sns[0].Paths) != 1 || sns[0].Paths[0] != src {
					t.Errorf("snapshot %+v", sns[0])
				}
				nodes, contents := map[string]*Node{}, map[string][]byte{}
				walkGrain(t, r, *sns[0].Tree, "", nodes, contents)
				for p, b := range want {
					got, ok := contents[src+"/"+p]
					if !ok || !bytes.Equal(got, b) {
						t.Errorf("%s: %d bytes (found %v), want %d", p, len(got), ok, len(b))
					}
					if n := nodes[src+"/"+p]; n == nil || n.Mode != 0o640 || n.Size != uint64(len(b)) {
						t.Errorf("%s: node %+v", p, n)
					}
				}
				if n := nodes[src+"/ln"]; n == nil || n.Type != "symlink" || n.LinkTarget != "a.txt" {
					t.Errorf("symlink node %+v", n)
				}
				if n := nodes[src+"/a.txt"]; n == nil || !n.ModTime.Equal(mt) {
					t.Errorf("a.txt mtime: %+v", n)
				}
				// grain adds a second snapshot on top; restic must still agree.
				id, sn := writeTestSnapshot(t, r)
				runRestic(t, bin, repo, false, "check", "--read-data")
				out, _ := runRestic(t, bin, repo, false, "cat", "snapshot", id.String())
				var got Snapshot
				if err := json.Unmarshal([]byte(out), &got); err != nil || !got.Tree.IsNull() && *got.Tree != *sn.Tree {
					t.Errorf("cat snapshot: %v %s", err, out)
				}
			})
		}
	}
}

// TestLocksRestic: grain's exclusive lock stops restic, restic's lock
// (held by a backup reading stdin) stops grain's exclusive lock.
func TestLocksRestic(t *testing.T) {
	ctx := context.Background()
	for _, bin := range resticBins(t) {
		t.Run(bin.name, func(t *testing.T) {
			r, repo := grainInit(t, 2)
			l, err := r.Lock(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			_, stderr := runRestic(t, bin, repo, true, "backup", "--stdin", "--stdin-filename", "x")
			if !strings.Contains(stderr, "already locked") {
				t.Errorf("restic under grain's lock: %s", stderr)
			}
			if err := l.Unlock(ctx); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(bin.path, "--no-cache", "-r", repo, "backup", "--stdin", "--stdin-filename", "x")
			cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+testPassword, "HOME="+t.TempDir())
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer stdin.Close()
			deadline := time.Now().Add(30 * time.Second)
			for {
				n := 0
				r.List(ctx, LockFile, func(ID, int64) error { n++; return nil })
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("restic made no lock file")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := r.Lock(ctx, true); !errors.Is(err, ErrLocked) {
				t.Errorf("grain exclusive lock under restic's lock: %v", err)
			}
			l2, err := r.Lock(ctx, false)
			if err != nil {
				t.Errorf("grain non-exclusive lock beside restic's: %v", err)
			} else {
				l2.Unlock(ctx)
			}
			stdin.Write([]byte("data\n"))
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("restic backup: %v", err)
			}
		})
	}
}

// TestConcurrentSaveBlob saves overlapping blobs from several goroutines
// into small packs; every blob is stored once and restic's check agrees.
func TestConcurrentSaveBlob(t *testing.T) {
	bins := resticBins(t)
	ctx := context.Background()
	r, repo := grainInit(t, 2)
	r.SetPackSize(64 << 10)
	blob := func(i int) []byte {
		b := make([]byte, 10000+i)
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return b
	}
	var wg sync.WaitGroup
	var newCount atomic.Int64
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				_, isNew, err := r.SaveBlob(ctx, DataBlob, blob(i))
				if err != nil {
					errs <- err
					return
				}
				if isNew {
					newCount.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if newCount.Load() != 60 {
		t.Errorf("%d blobs reported new, want 60", newCount.Load())
	}
	r2 := grainOpen(t, repo)
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.Index().Len() != 60 || r2.Index().Packs() < 2 {
		t.Errorf("index: %d blobs in %d packs", r2.Index().Len(), r2.Index().Packs())
	}
	for i := 0; i < 60; i++ {
		b, err := r2.LoadBlob(ctx, DataBlob, Hash(blob(i)), nil)
		if err != nil || !bytes.Equal(b, blob(i)) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	runRestic(t, bins[0], repo, false, "check", "--read-data")
}
