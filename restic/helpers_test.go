package restic

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

const testPassword = "grain test password"

// testKDF keeps scrypt cheap in tests; restic accepts any valid N.
var testKDF = KDFParams{N: 1024, R: 8, P: 1}

type resticBin struct {
	name string // "0.14" (Debian) or "0.17"
	path string
}

// resticBins returns the restic binaries to test against: Debian's, and
// restic 0.17.3 built from the Go module proxy into the test cache (built
// once; skipped with a log line if the build is impossible).
func resticBins(t *testing.T) []resticBin {
	t.Helper()
	testutil.RequireTool(t, "restic")
	p, _ := exec.LookPath("restic")
	bins := []resticBin{{"deb", p}}
	if os.Getenv("GRAIN_RESTIC_NO017") != "" {
		return bins
	}
	if b := testutil.Restic017(t); b != "" {
		bins = append(bins, resticBin{"0.17", b})
	}
	return bins
}

// runRestic runs restic on repo and returns stdout; it fails the test on
// error unless wantErr.
func runRestic(t *testing.T, bin resticBin, repo string, wantErr bool, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(bin.path, append([]string{"--no-cache", "-r", repo}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+testPassword, "HOME="+t.TempDir())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil && !wantErr {
		t.Fatalf("restic %s %s: %v\nstdout: %s\nstderr: %s", bin.name, strings.Join(args, " "), err, out.String(), stderr.String())
	}
	if err == nil && wantErr {
		t.Fatalf("restic %s %s: succeeded, want error", bin.name, strings.Join(args, " "))
	}
	return out.String(), stderr.String()
}

func grainInit(t *testing.T, version int) (*Repository, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := CreateLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Init(context.Background(), be, testPassword, InitOptions{Version: version, KDF: testKDF})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func grainOpen(t *testing.T, dir string) *Repository {
	t.Helper()
	be, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), be, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
