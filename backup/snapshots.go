package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/grainvm/grain/restic"
)

// ErrNoSnapshot is returned (wrapped) when no snapshot matches.
var ErrNoSnapshot = errors.New("backup: no matching snapshot")

// FindParent returns the newest snapshot with the host and the same
// paths (in any order), or nil.
func FindParent(ctx context.Context, repo *restic.Repository, host string, paths []string) (*restic.Snapshot, error) {
	sns, err := repo.ListSnapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: list snapshots: %w", err)
	}
	want := slices.Clone(paths)
	slices.Sort(want)
	for i := len(sns) - 1; i >= 0; i-- {
		sn := sns[i]
		if sn.Hostname != host {
			continue
		}
		got := slices.Clone(sn.Paths)
		slices.Sort(got)
		if slices.Equal(got, want) {
			return sn, nil
		}
	}
	return nil, nil
}

// FindSnapshot resolves "latest" (optionally of one host) or a unique
// prefix of a snapshot ID.
func FindSnapshot(ctx context.Context, repo *restic.Repository, sel, host string) (*restic.Snapshot, error) {
	if sel == "latest" {
		sns, err := repo.ListSnapshots(ctx)
		if err != nil {
			return nil, fmt.Errorf("backup: list snapshots: %w", err)
		}
		for i := len(sns) - 1; i >= 0; i-- {
			if host == "" || sns[i].Hostname == host {
				return sns[i], nil
			}
		}
		return nil, fmt.Errorf("%w: no snapshot in the repository", ErrNoSnapshot)
	}
	if sel == "" || len(sel) > 2*restic.IDSize || strings.Trim(strings.ToLower(sel), "0123456789abcdef") != "" {
		return nil, fmt.Errorf("backup: %q is not a snapshot ID or \"latest\"", sel)
	}
	sel = strings.ToLower(sel)
	var match []restic.ID
	if err := repo.List(ctx, restic.SnapshotFile, func(id restic.ID, _ int64) error {
		if strings.HasPrefix(id.String(), sel) {
			match = append(match, id)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("backup: list snapshots: %w", err)
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("%w: no snapshot %s", ErrNoSnapshot, sel)
	case 1:
		return repo.LoadSnapshot(ctx, match[0])
	}
	return nil, fmt.Errorf("backup: snapshot prefix %s is ambiguous (%d snapshots)", sel, len(match))
}

// IndexOrphanPacks writes an index file for the packs that no index
// lists (left by a backup that was stopped before writing its index), so
// that their blobs are reused. It does nothing while another process
// holds a lock on the repository, since its packs may be waiting for
// their index. It returns how many packs it indexed.
func IndexOrphanPacks(ctx context.Context, repo *restic.Repository) (int, error) {
	others, err := otherLocks(ctx, repo)
	if err != nil || others {
		return 0, err
	}
	known := map[restic.ID]bool{}
	repo.Index().Each(func(pb restic.PackedBlob) bool {
		known[pb.PackID] = true
		return true
	})
	var orphans []restic.ID
	if err := repo.List(ctx, restic.PackFile, func(id restic.ID, _ int64) error {
		if !known[id] {
			orphans = append(orphans, id)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("backup: list packs: %w", err)
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	var file restic.IndexJSON
	n := 0
	flush := func() error {
		if len(file.Packs) == 0 {
			return nil
		}
		if _, err := repo.SaveJSONUnpacked(ctx, restic.IndexFile, &file); err != nil {
			return fmt.Errorf("backup: index left-over packs: %w", err)
		}
		file = restic.IndexJSON{}
		return nil
	}
	blobs := 0
	for _, id := range orphans {
		bl, err := repo.ListPack(ctx, id)
		if err != nil {
			continue // unreadable: restic check will tell; not reused
		}
		pj := restic.PackJSON{ID: id}
		for _, b := range bl {
			pj.Blobs = append(pj.Blobs, restic.BlobJSON{ID: b.ID, Type: b.Type, Offset: uint64(b.Offset),
				Length: uint64(b.Length), UncompressedLength: uint64(b.UncompressedLength)})
		}
		file.Packs = append(file.Packs, pj)
		repo.Index().AddPack(id, bl)
		n++
		blobs += len(bl)
		if blobs >= 50000 {
			if err := flush(); err != nil {
				return n, err
			}
			blobs = 0
		}
	}
	return n, flush()
}

// otherLocks reports whether a live lock other than this process's exists.
func otherLocks(ctx context.Context, repo *restic.Repository) (bool, error) {
	host, _ := os.Hostname()
	now := time.Now()
	var ids []restic.ID
	if err := repo.List(ctx, restic.LockFile, func(id restic.ID, _ int64) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return false, fmt.Errorf("backup: list locks: %w", err)
	}
	for _, id := range ids {
		b, err := repo.LoadUnpacked(ctx, restic.LockFile, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return true, nil
		}
		l, err := restic.ParseLock(b)
		if err != nil {
			return true, nil
		}
		if l.Stale(now, host) {
			continue
		}
		if l.Hostname == host && l.PID == os.Getpid() {
			continue
		}
		return true, nil
	}
	return false, nil
}
