package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const maxFuzzInput = 1 << 20

// fuzzRepo builds a small grain repository (v2) with a snapshot and
// returns it, for seeds.
func fuzzRepo(f *testing.F) (*Repository, string) {
	dir := filepath.Join(f.TempDir(), "repo")
	be, err := CreateLocal(dir)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	r, err := Init(ctx, be, testPassword, InitOptions{Version: 2, KDF: testKDF})
	if err != nil {
		f.Fatal(err)
	}
	content, _, err := r.SaveFile(ctx, bytes.NewReader(bytes.Repeat([]byte("grain "), 1000)))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	sub, err := r.SaveTree(ctx, &Tree{Nodes: []*Node{{Name: "f", Type: "file", Mode: 0o644, ModTime: now, Content: content, Size: 6000,
		ExtendedAttributes: []ExtendedAttribute{{Name: "user.a", Value: []byte{0, 1}}}},
		{Name: "l\xff", Type: "symlink", Mode: fs.ModeSymlink | 0o777, LinkTarget: "t\xfe"}}})
	if err != nil {
		f.Fatal(err)
	}
	root, err := r.SaveTree(ctx, &Tree{Nodes: []*Node{{Name: "d", Type: "dir", Mode: fs.ModeDir | 0o755, Subtree: &sub}}})
	if err != nil {
		f.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		f.Fatal(err)
	}
	if _, err := r.SaveSnapshot(ctx, &Snapshot{Time: now, Tree: &root, Paths: []string{"/"}, Summary: &SnapshotSummary{}}); err != nil {
		f.Fatal(err)
	}
	return r, dir
}

func eachFile(f *testing.F, r *Repository, t FileType, fn func([]byte)) {
	ctx := context.Background()
	r.List(ctx, t, func(id ID, _ int64) error {
		b, err := r.LoadUnpacked(ctx, t, id)
		if err != nil {
			f.Fatal(err)
		}
		fn(b)
		return nil
	})
}

func FuzzKeyFile(f *testing.F) {
	_, dir := fuzzRepo(f)
	ks, _ := filepath.Glob(filepath.Join(dir, "keys", "*"))
	for _, k := range ks {
		b, _ := os.ReadFile(k)
		f.Add(b)
	}
	f.Add([]byte(`{"kdf":"scrypt","N":1024,"r":8,"p":1,"salt":"","data":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		kf, err := ParseKeyFile(b)
		if err != nil || kf.N*kf.R*kf.P > 1<<14 {
			return
		}
		kf.Unlock(testPassword)
	})
}

func FuzzIndex(f *testing.F) {
	r, _ := fuzzRepo(f)
	eachFile(f, r, IndexFile, func(b []byte) {
		f.Add(b)
		var idx IndexJSON
		json.Unmarshal(b, &idx)
		legacy, _ := json.Marshal(idx.Packs)
		f.Add(legacy)
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		idx, err := ParseIndex(b)
		if err != nil {
			return
		}
		x := NewIndex()
		x.Merge(idx)
		x.Each(func(pb PackedBlob) bool { _ = pb.DataLength(); return true })
	})
}

func FuzzPackHeader(f *testing.F) {
	r, dir := fuzzRepo(f)
	key := r.Key()
	packs, _ := filepath.Glob(filepath.Join(dir, "data", "*", "*"))
	for _, p := range packs {
		b, _ := os.ReadFile(p)
		f.Add(b)
		if blobs, err := ReadPackHeader(bytes.NewReader(b), int64(len(b)), key); err == nil {
			var hdr []byte
			for _, bl := range blobs {
				hdr = appendPackEntry(hdr, bl)
			}
			f.Add(hdr)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		// The whole pack (the MAC stops most mutations) and the
		// decrypted header on its own.
		ReadPackHeader(bytes.NewReader(b), int64(len(b)), key)
		blobs, err := ParsePackHeader(b, int64(len(b)))
		if err != nil {
			return
		}
		var hdr []byte
		for _, bl := range blobs {
			hdr = appendPackEntry(hdr, bl)
		}
		if !bytes.Equal(hdr, b) {
			t.Fatalf("header does not re-encode to itself")
		}
	})
}

func FuzzTree(f *testing.F) {
	r, _ := fuzzRepo(f)
	r.Index().Each(func(pb PackedBlob) bool {
		if pb.Type == TreeBlob {
			b, err := r.LoadBlob(context.Background(), TreeBlob, pb.ID, nil)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
		return true
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		tr, err := ParseTree(b)
		if err != nil {
			return
		}
		enc, err := EncodeTree(tr)
		if err != nil {
			return
		}
		tr2, err := ParseTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree does not parse: %v\n%s", err, enc)
		}
		if len(tr2.Nodes) != len(tr.Nodes) {
			t.Fatalf("re-encoded tree has %d nodes, want %d", len(tr2.Nodes), len(tr.Nodes))
		}
		for _, n := range tr.Nodes {
			n.Generic(GenericCreationTime, &FileTime{})
		}
	})
}

func FuzzSnapshot(f *testing.F) {
	r, _ := fuzzRepo(f)
	eachFile(f, r, SnapshotFile, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		ParseSnapshot(b)
		ParseLock(b)
		ParseConfig(b)
	})
}
