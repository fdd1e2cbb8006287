// Package backendtest holds what the backend packages' tests share: a
// conformance check of the restic.Backend contract, a snapshot grain
// writes, and runs of the real restic binary against the same location.
// It is imported by tests only.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
)

// Password of every test repository.
const Password = "grain backend test"

// KDF keeps scrypt cheap; restic accepts it.
var KDF = restic.KDFParams{N: 1024, R: 8, P: 1}

// Files are the test files, by slash path: a random file large enough for
// several chunks, a small one, an empty one and a nested one.
func Files() map[string][]byte {
	rng := rand.New(rand.NewPCG(7, 9))
	big := make([]byte, 3<<20+333)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"big.bin":          big,
		"hello.txt":        []byte("hello, backend\n"),
		"empty":            {},
		"dir/sub/note.txt": []byte("a note in a folder\n"),
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// WaitTCP waits until something listens on addr (up to 20 s).
func WaitTCP(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// Start runs a server process until the test ends.
func Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// Conformance checks the Backend contract on an empty place (config
// absent): save, stat, ranged load, list, remove and missing files.
func Conformance(t *testing.T, be restic.Backend) {
	t.Helper()
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	pack := restic.Hash(data).String()
	hs := []restic.Handle{{Type: restic.PackFile, Name: pack}, {Type: restic.SnapshotFile, Name: strings.Repeat("ab", 32)}}
	for _, h := range hs {
		if err := be.Save(ctx, h, data); err != nil {
			t.Fatalf("save %v: %v", h, err)
		}
		fi, err := be.Stat(ctx, h)
		if err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("stat %v: %+v %v", h, fi, err)
		}
		for _, r := range [][2]int{{0, 0}, {0, 10}, {5, 100}, {16000 - 7, 7}, {100, 0}} {
			rc, err := be.Load(ctx, h, int64(r[0]), r[1])
			if err != nil {
				t.Fatalf("load %v %v: %v", h, r, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := data[r[0]:]
			if r[1] > 0 {
				want = want[:r[1]]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("load %v %v: %d bytes, err %v", h, r, len(got), err)
			}
		}
		var names []string
		if err := be.List(ctx, h.Type, func(fi restic.FileInfo) error {
			if fi.Size != int64(len(data)) {
				t.Errorf("list %v: %s size %d", h.Type, fi.Name, fi.Size)
			}
			names = append(names, fi.Name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(names) != 1 || names[0] != h.Name {
			t.Fatalf("list %v: %v", h.Type, names)
		}
	}
	stop := errors.New("stop")
	if err := be.List(ctx, restic.PackFile, func(restic.FileInfo) error { return stop }); err != stop {
		t.Fatalf("list did not pass fn's error: %v", err)
	}
	missing := restic.Handle{Type: restic.KeyFile, Name: strings.Repeat("cd", 32)}
	if _, err := be.Stat(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if rc, err := be.Load(ctx, missing, 0, 0); err == nil {
		// some servers only report a missing object on the first read
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("load missing: %v", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load missing: %v", err)
	}
	if _, err := be.Stat(ctx, restic.Handle{Type: restic.ConfigFile}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat missing config: %v", err)
	}
	if err := be.Save(ctx, restic.Handle{Type: restic.KeyFile, Name: "../x"}, data); err == nil {
		t.Fatal("save ../x: no error")
	}
	for _, h := range hs {
		if err := be.Remove(ctx, h); err != nil {
			t.Fatalf("remove %v: %v", h, err)
		}
		if _, err := be.Stat(ctx, h); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat removed %v: %v", h, err)
		}
	}
}

// WriteSnapshot initialises a version 2 repository on be and saves Files
// as a snapshot of /data.
func WriteSnapshot(t *testing.T, be restic.Backend) {
	t.Helper()
	ctx := context.Background()
	r, err := restic.Init(ctx, be, Password, restic.InitOptions{Version: 2, KDF: KDF})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	files := Files()
	t0 := time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)
	var build func(prefix string) restic.ID
	build = func(prefix string) restic.ID {
		tree := &restic.Tree{}
		dirs := map[string]bool{}
		var names []string
		for p := range files {
			if prefix != "" {
				if !strings.HasPrefix(p, prefix+"/") {
					continue
				}
				p = p[len(prefix)+1:]
			}
			name, _, isDir := strings.Cut(p, "/")
			if isDir {
				if !dirs[name] {
					dirs[name] = true
					names = append(names, name)
				}
			} else {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			full := name
			if prefix != "" {
				full = prefix + "/" + name
			}
			n := &restic.Node{Name: name, ModTime: t0, AccessTime: t0, ChangeTime: t0, UID: 0, GID: 0}
			if dirs[name] {
				id := build(full)
				n.Type, n.Mode, n.Subtree = "dir", fs.ModeDir|0o755, &id
			} else {
				ids, size, err := r.SaveFile(ctx, bytes.NewReader(files[full]))
				if err != nil {
					t.Fatal(err)
				}
				n.Type, n.Mode, n.Content, n.Size, n.Links = "file", 0o644, ids, size, 1
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
	root := &restic.Tree{Nodes: []*restic.Node{{Name: "data", Type: "dir", Mode: fs.ModeDir | 0o755, ModTime: t0, AccessTime: t0, ChangeTime: t0, Subtree: &dataID}}}
	rootID, err := r.SaveTree(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sn := &restic.Snapshot{Time: t0, Tree: &rootID, Paths: []string{"/data"}, Hostname: "grain-test", Username: "grain"}
	if _, err := r.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
}

// ReadSnapshot opens the repository on be and returns the files of its
// only snapshot by slash path below the snapshot's root.
func ReadSnapshot(t *testing.T, be restic.Backend) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	r, err := restic.Open(ctx, be, Password)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	sns, err := r.ListSnapshots(ctx)
	if err != nil || len(sns) != 1 {
		t.Fatalf("snapshots: %d, %v", len(sns), err)
	}
	out := map[string][]byte{}
	var walk func(prefix string, id restic.ID)
	walk = func(prefix string, id restic.ID) {
		tree, err := r.LoadTree(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tree.Nodes {
			p := prefix + n.Name
			switch n.Type {
			case "dir":
				walk(p+"/", *n.Subtree)
			case "file":
				var buf []byte
				for _, c := range n.Content {
					b, err := r.LoadBlob(ctx, restic.DataBlob, c, nil)
					if err != nil {
						t.Fatal(err)
					}
					buf = append(buf, b...)
				}
				if buf == nil {
					buf = []byte{}
				}
				out[p] = buf
			}
		}
	}
	walk("", *sns[0].Tree)
	return out
}

// Restic runs the restic binary on repo (with env added) and returns its
// standard output; it fails the test when restic fails.
func Restic(t *testing.T, env []string, repo string, args ...string) string {
	t.Helper()
	testutil.RequireTool(t, "restic")
	cmd := exec.Command("restic", append([]string{"--no-cache", "-r", repo}, args...)...)
	cmd.Env = append(append(os.Environ(), "RESTIC_PASSWORD="+Password, "HOME="+t.TempDir()), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("restic %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// CheckWithRestic runs restic check --read-data and restore on a
// repository grain wrote with WriteSnapshot and compares the files.
func CheckWithRestic(t *testing.T, env []string, repo string, opts ...string) {
	t.Helper()
	Restic(t, env, repo, append(append([]string{}, opts...), "check", "--read-data")...)
	target := t.TempDir()
	Restic(t, env, repo, append(append([]string{}, opts...), "restore", "latest", "--target", target)...)
	got := map[string][]byte{}
	root := filepath.Join(target, "data")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		got[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	Compare(t, "restic restore", got, Files())
}

// BackupWithRestic makes a repository with restic init and restic backup
// of Files; ReadSnapshot then finds them under the returned prefix.
func BackupWithRestic(t *testing.T, env []string, repo string, opts ...string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	for p, b := range Files() {
		fn := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fn, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Restic(t, env, repo, append(append([]string{}, opts...), "init")...)
	cmd := append(append([]string{}, opts...), "backup", ".")
	c := exec.Command("restic", append([]string{"--no-cache", "-r", repo}, cmd...)...)
	c.Dir = src
	c.Env = append(append(os.Environ(), "RESTIC_PASSWORD="+Password, "HOME="+t.TempDir()), env...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("restic backup: %v\n%s", err, out)
	}
	return strings.TrimPrefix(filepath.ToSlash(src), "/") + "/"
}

// CompareBackup checks what ReadSnapshot found against Files below prefix.
func CompareBackup(t *testing.T, got map[string][]byte, prefix string) {
	t.Helper()
	rel := map[string][]byte{}
	for p, b := range got {
		if r, ok := strings.CutPrefix(p, prefix); ok {
			rel[r] = b
		} else {
			rel[p] = b
		}
	}
	Compare(t, "grain read of restic backup", rel, Files())
}

// Compare reports differences between two file sets.
func Compare(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: %s missing (have %v)", what, p, keys(got))
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: %s: %d bytes differ from the %d written", what, p, len(g), len(w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file %s", what, p)
		}
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}
