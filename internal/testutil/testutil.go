// Package testutil holds what grain's tests share: finding oracle tools,
// building test images once into a git-ignored cache, and reaching the real
// sample images in ../shared/samples.
package testutil

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI, where a missing tool or sample
// is a failure and never a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable fails the test in CI and skips it elsewhere, saying why.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required under CI=true: %s", msg)
	}
	t.Skipf("skipped (not CI): %s", msg)
}

// RequireTool makes sure each named program is on PATH.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Unavailable(t, "tool %s not found (run scripts/test to install the oracle tools)", n)
		}
	}
}

// RequireRoot makes sure the test runs as root (loop devices, mounts).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root for loop devices and mounts")
	}
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CacheDir is the git-ignored folder where built test images live.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("GRAIN_TEST_CACHE")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), ".cache", "test")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var buildMu sync.Mutex

// Build runs a bash script once and caches what it made. The script runs in
// an empty directory, $OUT, and must write its results there; the directory
// is kept under CacheDir keyed by name and the script's hash, so a changed
// script builds anew. Build returns $OUT. Parallel tests calling Build with
// the same script wait for one build.
func Build(t testing.TB, name, script string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	sum := sha256.Sum256([]byte(script))
	dir := filepath.Join(CacheDir(t), name+"-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, ".done")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OUT="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("building test image %s: %v\n%s", name, err, out.String())
	}
	if err := os.WriteFile(filepath.Join(dir, ".done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SamplesDir is ../shared/samples next to the repository (or
// $GRAIN_SAMPLES).
func SamplesDir() string {
	if d := os.Getenv("GRAIN_SAMPLES"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared", "samples")
}

// Sample returns the path of a decompressed copy of a real sample image
// (name without its .gz/.bz2 ending), made once in the cache and made
// read-only. Without the samples folder the test skips (fails in CI).
func Sample(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	dst := filepath.Join(CacheDir(t), "samples", name)
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	var src string
	for _, ext := range []string{".gz", ".bz2", ""} {
		p := filepath.Join(SamplesDir(), name+ext)
		if _, err := os.Stat(p); err == nil {
			src = p
			break
		}
	}
	if src == "" {
		Unavailable(t, "sample %s not found in %s", name, SamplesDir())
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(src, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("sample %s: %v", src, err)
		}
		r = zr
	case strings.HasSuffix(src, ".bz2"):
		r = bzip2.NewReader(f)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		t.Fatalf("sample %s: %v", src, err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o444)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Run runs a command and returns its standard output, failing the test
// with its standard error if it fails.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReaderSHA256 is the hex sha256 of the first size bytes of r.
func ReaderSHA256(t testing.TB, r io.ReaderAt, size int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Unchanged hashes the files now and returns a function that fails the
// test if any of them changed since: proof that grain never writes to a
// source.
func Unchanged(t testing.TB, paths ...string) func() {
	t.Helper()
	before := make([]string, len(paths))
	for i, p := range paths {
		before[i] = FileSHA256(t, p)
	}
	return func() {
		t.Helper()
		for i, p := range paths {
			if got := FileSHA256(t, p); got != before[i] {
				t.Errorf("source %s was modified", p)
			}
		}
	}
}

// DemoImage decompresses the repository's testdata/demo.vhdx.gz (a GPT
// disk with FAT and NTFS volumes) into dir, or a new temporary folder when
// dir is "", read-only, and returns its path.
func DemoImage(t testing.TB, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	f, err := os.Open(filepath.Join(RepoRoot(), "testdata", "demo.vhdx.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "demo.vhdx")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o444)
	return out
}

// Restic017 returns restic 0.17.3 (newer than Debian's, and the release
// that stores Windows attributes as generic attributes), built from the
// module proxy into the test cache once; "" when it cannot be built, so an
// offline machine only loses the tests that need that release.
func Restic017(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(CacheDir(t), "restic-0.17.3-bin")
	bin := filepath.Join(dir, "restic")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "github.com/restic/restic/cmd/restic@v0.17.3")
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("restic 0.17.3 not available (go install failed): %v\n%s", err, out)
		return ""
	}
	return bin
}
