package s3_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/internal/backendtest"
	"github.com/grainvm/grain/restic/backend/location"
	"github.com/grainvm/grain/restic/backend/retry"
	"github.com/grainvm/grain/restic/backend/s3"
)

// versitygwVersion is the S3 server the tests run (built once from the Go
// module proxy into the test cache; the first build takes a few minutes).
const versitygwVersion = "v1.8.0"

const (
	accessKey = "grainaccess"
	secretKey = "grainsecret0123456789"
)

func versitygw(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.CacheDir(t), "versitygw-"+versitygwVersion)
	bin := filepath.Join(dir, "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if os.Getenv("GRAIN_NO_VERSITYGW_BUILD") != "" {
		testutil.Unavailable(t, "versitygw not built and GRAIN_NO_VERSITYGW_BUILD set")
	}
	cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		testutil.Unavailable(t, "building versitygw %s: %v\n%s", versitygwVersion, err, out)
	}
	return bin
}

// server starts versitygw with a posix backend on a temporary folder and
// returns its endpoint (host:port).
func server(t *testing.T) string {
	t.Helper()
	bin := versitygw(t)
	root := t.TempDir()
	addr := "127.0.0.1:" + backendtest.FreePort(t)
	backendtest.Start(t, bin, "--port", addr, "--access", accessKey, "--secret", secretKey, "--quiet",
		"posix", "--nometa", root)
	backendtest.WaitTCP(t, addr)
	return addr
}

func env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_DEFAULT_REGION=us-east-1"}
}

func getenv(k string) string {
	for _, kv := range env() {
		if name, v, _ := strings.Cut(kv, "="); name == k {
			return v
		}
	}
	return ""
}

var fast = retry.Policy{MaxTries: 5, Initial: time.Millisecond, Max: 20 * time.Millisecond}

func create(t *testing.T, loc string) restic.Backend {
	t.Helper()
	be, err := location.Create(context.Background(), loc, location.Options{Getenv: getenv, Retry: fast})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func TestConformance(t *testing.T) {
	ep := server(t)
	be := create(t, "s3:http://"+ep+"/bucket/some/prefix")
	backendtest.Conformance(t, be)
}

func TestGrainWritesResticReads(t *testing.T) {
	ep := server(t)
	loc := "s3:http://" + ep + "/grain/repo"
	be := create(t, loc)
	backendtest.WriteSnapshot(t, be)
	backendtest.CheckWithRestic(t, env(), loc)
}

func TestResticWritesGrainReads(t *testing.T) {
	ep := server(t)
	loc := "s3:http://" + ep + "/restic"
	prefix := backendtest.BackupWithRestic(t, env(), loc)
	be, err := location.Open(context.Background(), loc, location.Options{Getenv: getenv, Retry: fast})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.CompareBackup(t, backendtest.ReadSnapshot(t, be), prefix)
}

// TestBadCredentials: a wrong secret fails at once with the server's
// error, not after a round of retries.
func TestBadCredentials(t *testing.T) {
	ep := server(t)
	var tries int
	p := fast
	p.Notify = func(string, int, error, time.Duration) { tries++ }
	wrong := func(k string) string {
		if k == "AWS_SECRET_ACCESS_KEY" {
			return "wrong-secret"
		}
		return getenv(k)
	}
	_, err := location.Create(context.Background(), "s3:http://"+ep+"/bucket", location.Options{Getenv: wrong, Retry: p})
	if err == nil || !strings.Contains(err.Error(), "Access Denied") && !strings.Contains(err.Error(), "Signature") {
		t.Fatalf("err = %v, want access denied", err)
	}
	if tries != 0 {
		t.Fatalf("%d retries of a permanent error", tries)
	}
	t.Log(err)
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		in                       string
		endpoint, bucket, prefix string
		http                     bool
	}{
		{"s3:https://s3.amazonaws.com/bucket/prefix", "s3.amazonaws.com", "bucket", "prefix", false},
		{"s3:http://127.0.0.1:9000/b", "127.0.0.1:9000", "b", "", true},
		{"s3:s3.amazonaws.com/bucket/a/b/", "s3.amazonaws.com", "bucket", "a/b", false},
		{"s3://host/bucket/x//y", "host", "bucket", "x/y", false},
	} {
		cfg, err := s3.ParseConfig(tc.in)
		if err != nil || cfg.Endpoint != tc.endpoint || cfg.Bucket != tc.bucket || cfg.Prefix != tc.prefix || cfg.UseHTTP != tc.http {
			t.Errorf("%s: %+v %v", tc.in, cfg, err)
		}
	}
	for _, bad := range []string{"s3:", "s3:host", "s3:host/", "s3:http://host/", "s3:http://host", "s3:https://h/b/../.."} {
		if _, err := s3.ParseConfig(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
