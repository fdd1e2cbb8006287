package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	r, dir := grainInit(t, 2)

	be, _ := OpenLocal(dir)
	if _, err := Open(ctx, be, "wrong"); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password: %v", err)
	}

	empty := t.TempDir()
	be2, _ := OpenLocal(empty)
	if _, err := Open(ctx, be2, testPassword); !errors.Is(err, ErrNoRepository) {
		t.Errorf("empty dir: %v", err)
	}

	// An unknown version in a correctly encrypted config file.
	if err := be.Remove(ctx, Handle{Type: ConfigFile}); err != nil {
		t.Fatal(err)
	}
	cfg := r.Config()
	cfg.Version = 3
	if _, err := r.SaveJSONUnpacked(ctx, ConfigFile, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, be, testPassword); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "unsupported repository version 3") {
		t.Errorf("version 3: %v", err)
	}
}

func TestCorruptPack(t *testing.T) {
	ctx := context.Background()
	for _, v := range []int{1, 2} {
		r, dir := grainInit(t, v)
		data := []byte(strings.Repeat("some data ", 100))
		id, isNew, err := r.SaveBlob(ctx, DataBlob, data)
		if err != nil || !isNew {
			t.Fatal(err, isNew)
		}
		if _, isNew, _ := r.SaveBlob(ctx, DataBlob, data); isNew {
			t.Error("second SaveBlob of the same data reported new")
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		r2 := grainOpen(t, dir)
		if err := r2.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r2.LoadBlob(ctx, DataBlob, id, nil)
		if err != nil || string(got) != string(data) {
			t.Fatalf("LoadBlob: %v", err)
		}
		pb, _ := r2.Index().Lookup(BlobHandle{ID: id, Type: DataBlob})
		if blobs, err := r2.ListPack(ctx, pb.PackID); err != nil || len(blobs) != 1 || blobs[0] != pb.Blob {
			t.Errorf("ListPack: %+v %v, index %+v", blobs, err, pb.Blob)
		}
		p := filepath.Join(dir, "data", pb.PackID.String()[:2], pb.PackID.String())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[pb.Offset+20] ^= 1
		os.Chmod(p, 0o600)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := r2.LoadBlob(ctx, DataBlob, id, nil); !errors.Is(err, ErrMAC) {
			t.Errorf("v%d corrupted blob: %v", v, err)
		}
		if _, err := r2.LoadBlob(ctx, TreeBlob, id, nil); !errors.Is(err, ErrBlobNotFound) {
			t.Errorf("unknown blob: %v", err)
		}
	}
}

func TestLocksGrain(t *testing.T) {
	ctx := context.Background()
	r, dir := grainInit(t, 2)
	r2 := grainOpen(t, dir)
	l1, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := r2.Lock(ctx, false)
	if err != nil {
		t.Fatalf("two non-exclusive locks: %v", err)
	}
	if _, err := r2.Lock(ctx, true); !errors.Is(err, ErrLocked) {
		t.Errorf("exclusive over non-exclusive: %v", err)
	}
	old := l1.ID()
	if err := l1.Refresh(ctx); err != nil || l1.ID() == old {
		t.Errorf("refresh: %v", err)
	}
	l1.Unlock(ctx)
	l2.Unlock(ctx)
	lx, err := r.Lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Lock(ctx, false); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "already locked") {
		t.Errorf("non-exclusive over exclusive: %v", err)
	}
	lx.Unlock(ctx)

	// Stale locks: too old, or from a dead process on this host.
	host, _ := os.Hostname()
	for _, l := range []LockJSON{
		{Time: time.Now().Add(-31 * time.Minute), Exclusive: true, Hostname: "elsewhere", PID: 1},
		{Time: time.Now(), Exclusive: true, Hostname: host, PID: 1 << 30},
	} {
		if _, err := r.SaveJSONUnpacked(ctx, LockFile, &l); err != nil {
			t.Fatal(err)
		}
	}
	l3, err := r2.Lock(ctx, true)
	if err != nil {
		t.Fatalf("stale locks not ignored: %v", err)
	}
	l3.Unlock(ctx)
	// A live exclusive lock from another host blocks.
	if _, err := r.SaveJSONUnpacked(ctx, LockFile, &LockJSON{Time: time.Now(), Exclusive: true, Hostname: "elsewhere", PID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Lock(ctx, false); !errors.Is(err, ErrLocked) {
		t.Errorf("foreign exclusive lock: %v", err)
	}
}
