package drivertest

import (
	"io"
	"io/fs"
)

// FuzzTree is the tail of the FAT and exFAT volume fuzz targets: it walks
// v with fs.WalkDir, reading every file through Open and every Sys, then
// with the driver's fast walk, reading every file through OpenInfo. Each
// walk stops after 10000 paths; errors are ignored (only panics and hangs
// matter).
func FuzzTree(v FS) {
	n := 0
	fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if n++; n > 10000 {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			info.Sys()
		}
		h, err := v.Open(p)
		if err != nil {
			return nil
		}
		io.Copy(io.Discard, h.(io.Reader))
		h.Close()
		return nil
	})
	n = 0
	v.Walk(".", func(p string, info fs.FileInfo) error {
		if n++; n > 10000 {
			return fs.SkipAll
		}
		if !info.IsDir() {
			if h, err := v.OpenInfo(p, info); err == nil {
				io.Copy(io.Discard, h)
				h.Close()
			}
		}
		return nil
	})
}
