package restic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// LocalBackend keeps a repository in a local directory, laid out as
// restic's local backend lays it out (data/XX/ID, keys/, index/, …).
type LocalBackend struct {
	dir      string
	dirMode  os.FileMode
	fileMode os.FileMode
}

const (
	localDirMode  = 0o700
	localFileMode = 0o600
)

// CreateLocal makes the directory tree of a new repository in dir, which
// must not hold a config file yet.
func CreateLocal(dir string) (*LocalBackend, error) {
	b := &LocalBackend{dir: dir, dirMode: localDirMode, fileMode: localFileMode}
	if _, err := os.Stat(filepath.Join(dir, "config")); err == nil {
		return nil, fmt.Errorf("restic: %s: config file already exists", dir)
	}
	dirs := []string{dir}
	for _, t := range []FileType{KeyFile, LockFile, SnapshotFile, IndexFile, PackFile} {
		dirs = append(dirs, filepath.Join(dir, t.Dir()))
	}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, filepath.Join(dir, "data", fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, b.dirMode); err != nil {
			return nil, fmt.Errorf("restic: create repository: %w", err)
		}
	}
	return b, nil
}

// OpenLocal uses an existing repository directory. As restic does, it
// takes group-readable file modes when the config file is group-readable.
func OpenLocal(dir string) (*LocalBackend, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("restic: open repository: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("restic: open repository: %s is not a directory", dir)
	}
	b := &LocalBackend{dir: dir, dirMode: localDirMode, fileMode: localFileMode}
	if fi, err := os.Stat(filepath.Join(dir, "config")); err == nil && fi.Mode().Perm()&0o040 != 0 {
		b.dirMode, b.fileMode = 0o770, 0o660
	}
	return b, nil
}

// Path returns the repository directory.
func (b *LocalBackend) Path() string { return b.dir }

func (b *LocalBackend) filename(h Handle) (string, error) {
	if h.Type == ConfigFile {
		return filepath.Join(b.dir, "config"), nil
	}
	if h.Name == "" || strings.ContainsAny(h.Name, `/\`) || h.Name == "." || h.Name == ".." {
		return "", fmt.Errorf("restic: invalid file name %q", h.Name)
	}
	if h.Type == PackFile {
		if len(h.Name) < 2 {
			return "", fmt.Errorf("restic: invalid pack name %q", h.Name)
		}
		return filepath.Join(b.dir, "data", h.Name[:2], h.Name), nil
	}
	if h.Type.Dir() == "" {
		return "", fmt.Errorf("restic: unknown file type %v", h.Type)
	}
	return filepath.Join(b.dir, h.Type.Dir(), h.Name), nil
}

// Save writes the file under a temporary name, syncs it, renames it into
// place, syncs the directory and makes the file read-only.
func (b *LocalBackend) Save(ctx context.Context, h Handle, data []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	final, err := b.filename(h)
	if err != nil {
		return err
	}
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, filepath.Base(final)+"-tmp-")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, b.dirMode); err != nil {
			return fmt.Errorf("restic: save %v: %w", h, err)
		}
		f, err = os.CreateTemp(dir, filepath.Base(final)+"-tmp-")
	}
	if err != nil {
		return fmt.Errorf("restic: save %v: %w", h, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(b.fileMode); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("restic: save %v: %w", h, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("restic: save %v: %w", h, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("restic: save %v: sync: %w", h, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("restic: save %v: %w", h, err)
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("restic: save %v: %w", h, err)
	}
	if runtime.GOOS != "windows" {
		if d, err := os.Open(dir); err == nil {
			d.Sync() // some file systems cannot sync directories
			d.Close()
		}
	}
	// read-only against accidental change, as restic does; ignore refusal
	_ = os.Chmod(final, b.fileMode&^0o222)
	return nil
}

type sectionReadCloser struct {
	io.Reader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

// Load opens a range of the file.
func (b *LocalBackend) Load(ctx context.Context, h Handle, offset int64, length int) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("restic: load %v: invalid range offset %d length %d", h, offset, length)
	}
	fn, err := b.filename(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fn)
	if err != nil {
		return nil, fmt.Errorf("restic: load %v: %w", h, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("restic: load %v: %w", h, err)
		}
	}
	if length > 0 {
		return sectionReadCloser{io.LimitReader(f, int64(length)), f}, nil
	}
	return f, nil
}

// Stat returns the file's size.
func (b *LocalBackend) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	fn, err := b.filename(h)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(fn)
	if err != nil {
		return FileInfo{}, fmt.Errorf("restic: stat %v: %w", h, err)
	}
	return FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// List calls fn for each file of type t (for packs, in all data/XX
// folders). Temporary files of unfinished saves are skipped.
func (b *LocalBackend) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	if t == ConfigFile {
		fi, err := os.Stat(filepath.Join(b.dir, "config"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("restic: list config: %w", err)
		}
		return fn(FileInfo{Name: "config", Size: fi.Size()})
	}
	base := filepath.Join(b.dir, t.Dir())
	dirs := []string{base}
	if t == PackFile {
		entries, err := os.ReadDir(base)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("restic: list %v: %w", t, err)
		}
		dirs = dirs[:0]
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(base, e.Name()))
			}
		}
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("restic: list %v: %w", t, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if e.IsDir() || strings.Contains(e.Name(), "-tmp-") {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			} else if err != nil {
				return fmt.Errorf("restic: list %v: %w", t, err)
			}
			if err := fn(FileInfo{Name: e.Name(), Size: info.Size()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove deletes a file (making it writable first, which Windows needs).
func (b *LocalBackend) Remove(ctx context.Context, h Handle) error {
	fn, err := b.filename(h)
	if err != nil {
		return err
	}
	_ = os.Chmod(fn, 0o666)
	if err := os.Remove(fn); err != nil {
		return fmt.Errorf("restic: remove %v: %w", h, err)
	}
	return nil
}
