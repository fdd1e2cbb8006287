package rest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/internal/backendtest"
	"github.com/grainvm/grain/restic/backend/location"
	"github.com/grainvm/grain/restic/backend/rest"
	"github.com/grainvm/grain/restic/backend/retry"
)

// rclone starts `rclone serve restic` on a free loopback port serving a
// fresh folder and returns its base URL.
func rclone(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, "rclone")
	dir := filepath.Join(t.TempDir(), "rest")
	addr := "127.0.0.1:" + backendtest.FreePort(t)
	backendtest.Start(t, "rclone", "--config", "/dev/null", "serve", "restic", "--addr", addr, dir)
	backendtest.WaitTCP(t, addr)
	return "http://" + addr + "/"
}

var fast = retry.Policy{MaxTries: 10, Initial: time.Millisecond, Max: 20 * time.Millisecond}

func create(t *testing.T, loc string) *rest.Backend {
	t.Helper()
	cfg, err := rest.ParseConfig(loc)
	if err != nil {
		t.Fatal(err)
	}
	be, err := rest.Create(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func TestConformance(t *testing.T) {
	base := rclone(t)
	be := create(t, "rest:"+base+"repo")
	backendtest.Conformance(t, be)
}

func TestGrainWritesResticReads(t *testing.T) {
	base := rclone(t)
	be := create(t, "rest:"+base)
	backendtest.WriteSnapshot(t, be)
	backendtest.CheckWithRestic(t, nil, "rest:"+base)
}

func TestResticWritesGrainReads(t *testing.T) {
	base := rclone(t)
	prefix := backendtest.BackupWithRestic(t, nil, "rest:"+base+"sub")
	be, err := location.Open(context.Background(), "rest:"+base+"sub", location.Options{Retry: fast})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.CompareBackup(t, backendtest.ReadSnapshot(t, be), prefix)
}

// TestFlakyProxy puts a proxy in front of rclone that fails the first
// requests with 500, 429 and dropped connections; through the retry
// wrapper the backup still succeeds and restic checks it.
func TestFlakyProxy(t *testing.T) {
	base := rclone(t)
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var n, failed atomic.Int64
	const failFirst = 6
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		// fail the first requests, then every seventh
		if i <= failFirst || i%7 == 0 {
			failed.Add(1)
			switch i % 3 {
			case 0:
				http.Error(w, "flaky", http.StatusInternalServerError)
			case 1:
				w.Header().Set("Retry-After", "0")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			case 2:
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close() // connection reset
						return
					}
				}
				http.Error(w, "flaky", http.StatusBadGateway)
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	loc := "rest:" + srv.URL + "/"
	var retries atomic.Int64
	p := fast
	p.Notify = func(op string, try int, err error, wait time.Duration) { retries.Add(1) }
	be, err := location.Create(context.Background(), loc, location.Options{Retry: p})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WriteSnapshot(t, be)
	got := backendtest.ReadSnapshot(t, be)
	backendtest.Compare(t, "grain read through flaky proxy", got, prefixed(backendtest.Files(), "data/"))
	if failed.Load() < failFirst || retries.Load() == 0 {
		t.Fatalf("proxy failed %d requests, %d retries: the test did not test", failed.Load(), retries.Load())
	}
	t.Logf("%d requests, %d failed, %d retries", n.Load(), failed.Load(), retries.Load())
	backendtest.CheckWithRestic(t, nil, "rest:"+base)
}

func prefixed(m map[string][]byte, p string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[p+k] = v
	}
	return out
}

// TestForbidden: a server that always answers 403 gives a clear error at
// once, without a retry storm.
func TestForbidden(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "go away", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	_, err := location.Create(ctx, "rest:"+srv.URL+"/", location.Options{Retry: fast})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("create: err = %v, want 403", err)
	}
	if n.Load() != 1 {
		t.Fatalf("create sent %d requests, want 1", n.Load())
	}
	be, err := location.Open(ctx, "rest:"+srv.URL+"/", location.Options{Retry: fast})
	if err != nil {
		t.Fatal(err)
	}
	n.Store(0)
	_, err = restic.Open(ctx, be, "pw")
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Fatalf("open: err = %v, want 403 Forbidden", err)
	}
	if n.Load() > 2 {
		t.Fatalf("open sent %d requests", n.Load())
	}
	t.Log(err)
}

// TestGiveUp: a server that always fails makes the wrapper give up after
// MaxTries attempts.
func TestGiveUp(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	p := fast
	p.MaxTries = 4
	be, err := location.Open(context.Background(), "rest:"+srv.URL+"/", location.Options{Retry: p})
	if err != nil {
		t.Fatal(err)
	}
	err = be.Save(context.Background(), restic.Handle{Type: restic.LockFile, Name: strings.Repeat("ee", 32)}, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 tries") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 4 {
		t.Fatalf("%d requests, want 4", n.Load())
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct{ in, url string }{
		{"rest:http://127.0.0.1:8000", "http://127.0.0.1:8000/"},
		{"rest:https://user:pass@host/repo", "https://user:pass@host/repo/"},
		{"rest:http://h/a/b/", "http://h/a/b/"},
	} {
		cfg, err := rest.ParseConfig(tc.in)
		if err != nil || cfg.URL.String() != tc.url {
			t.Errorf("%s: %v %v", tc.in, cfg.URL, err)
		}
	}
	for _, bad := range []string{"rest:", "rest:ftp://h/", "http://h/", "rest:http:///x"} {
		if _, err := rest.ParseConfig(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
