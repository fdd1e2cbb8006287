package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"sync"
	"time"
)

// StaleLockTimeout is the age after which restic treats a lock as stale.
const StaleLockTimeout = 30 * time.Minute

// ErrLocked is returned (wrapped) when a conflicting lock exists.
var ErrLocked = errors.New("restic: repository is already locked")

// LockJSON is a lock file as restic writes it.
type LockJSON struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid,omitempty"`
	GID       uint32    `json:"gid,omitempty"`
}

// ParseLock decodes a decrypted, decompressed lock file.
func ParseLock(b []byte) (*LockJSON, error) {
	var l LockJSON
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("restic: lock: %v: %w", err, ErrFormat)
	}
	return &l, nil
}

// Stale reports whether the lock is stale by restic's rules: older than
// 30 minutes, or made on this host by a process that no longer runs.
func (l *LockJSON) Stale(now time.Time, hostname string) bool {
	if now.Sub(l.Time) > StaleLockTimeout {
		return true
	}
	if l.Hostname != hostname {
		return false
	}
	return !processExists(l.PID)
}

func (l *LockJSON) String() string {
	kind := "non-exclusive"
	if l.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock by PID %d on %s by %s (UID %d, GID %d), created %s",
		kind, l.PID, l.Hostname, l.Username, l.UID, l.GID, l.Time.Format(time.RFC3339))
}

// Lock is a lock file this process holds in a repository.
type Lock struct {
	repo *Repository
	mu   sync.Mutex
	info LockJSON
	id   ID
	gone bool
}

func newLockJSON(exclusive bool) LockJSON {
	l := LockJSON{Time: time.Now(), Exclusive: exclusive, PID: os.Getpid()}
	l.Hostname, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		l.Username = u.Username
	}
	if uid := os.Getuid(); uid > 0 {
		l.UID = uint32(uid)
	}
	if gid := os.Getgid(); gid > 0 {
		l.GID = uint32(gid)
	}
	return l
}

// Lock creates a lock file. An exclusive lock conflicts with every other
// lock that is not stale, a non-exclusive lock with other exclusive ones.
// On conflict the error wraps ErrLocked and names the holder.
func (r *Repository) Lock(ctx context.Context, exclusive bool) (*Lock, error) {
	if err := r.checkLocks(ctx, exclusive, ID{}); err != nil {
		return nil, err
	}
	l := &Lock{repo: r, info: newLockJSON(exclusive)}
	id, err := r.SaveJSONUnpacked(ctx, LockFile, &l.info)
	if err != nil {
		return nil, fmt.Errorf("restic: lock: %w", err)
	}
	l.id = id
	// Another process may have locked meanwhile: check again, and back out.
	if err := r.checkLocks(ctx, exclusive, id); err != nil {
		r.be.Remove(context.WithoutCancel(ctx), Handle{Type: LockFile, Name: id.String()})
		return nil, err
	}
	return l, nil
}

// checkLocks looks for locks that conflict with a new lock.
func (r *Repository) checkLocks(ctx context.Context, exclusive bool, own ID) error {
	host, _ := os.Hostname()
	now := time.Now()
	var names []string
	err := r.be.List(ctx, LockFile, func(fi FileInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("restic: list locks: %w", err)
	}
	for _, name := range names {
		id, err := ParseID(name)
		if err != nil || id == own {
			continue
		}
		b, err := r.LoadUnpacked(ctx, LockFile, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("restic: lock %v: %w", id.Str(), err)
		}
		l, err := ParseLock(b)
		if err != nil {
			return fmt.Errorf("restic: lock %v: %w", id.Str(), err)
		}
		if l.Stale(now, host) {
			continue
		}
		if exclusive || l.Exclusive {
			return fmt.Errorf("%w: %v (lock %v)", ErrLocked, l, id.Str())
		}
	}
	return nil
}

// ID returns the current lock file's ID.
func (l *Lock) ID() ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.id
}

// Refresh writes a new lock file with the current time and removes the
// old one, as restic does every five minutes.
func (l *Lock) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return errors.New("restic: refresh of a released lock")
	}
	l.info.Time = time.Now()
	id, err := l.repo.SaveJSONUnpacked(ctx, LockFile, &l.info)
	if err != nil {
		return fmt.Errorf("restic: refresh lock: %w", err)
	}
	old := l.id
	l.id = id
	if err := l.repo.be.Remove(ctx, Handle{Type: LockFile, Name: old.String()}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restic: refresh lock: %w", err)
	}
	return nil
}

// Unlock removes the lock file.
func (l *Lock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return nil
	}
	l.gone = true
	err := l.repo.be.Remove(ctx, Handle{Type: LockFile, Name: l.id.String()})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restic: unlock: %w", err)
	}
	return nil
}
