package drivertest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Entry is what the FAT and exFAT tests compare of one path with an
// oracle's extraction: directory or not, size, modification time (Unix
// seconds) and the SHA-256 of the contents (files only).
type Entry struct {
	Size  int64
	MTime int64
	Sum   string
	Dir   bool
}

// HostTree lists the host directory dir (an oracle's extraction or
// mount) by slash-separated path relative to dir; dir itself is left out.
// Unreadable paths are skipped.
func HostTree(t testing.TB, dir string) map[string]Entry {
	t.Helper()
	exp := map[string]Entry{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		w := Entry{Dir: d.IsDir(), MTime: info.ModTime().Unix()}
		if !d.IsDir() {
			fh, _ := os.Open(p)
			w.Sum = SHA256(t, fh)
			fh.Close()
			w.Size = info.Size()
		}
		exp[filepath.ToSlash(rel)] = w
		return nil
	})
	return exp
}

// Tree lists f the same way through fs.WalkDir and Open; "." is left out.
func Tree(t testing.TB, f fs.FS) (map[string]Entry, error) {
	t.Helper()
	got := map[string]Entry{}
	err := fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		w := Entry{Dir: d.IsDir(), MTime: info.ModTime().Unix()}
		if !d.IsDir() {
			fh, err := f.Open(p)
			if err != nil {
				return err
			}
			w.Sum = SHA256(t, fh)
			fh.Close()
			w.Size = info.Size()
		}
		got[p] = w
		return nil
	})
	return got, err
}
