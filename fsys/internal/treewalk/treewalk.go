// Package treewalk runs the whole-tree walk of fsys.WalkFS for drivers
// whose directories are independent reads of the volume (FAT, exFAT).
//
// Directories are taken breadth first. Background goroutines (one fewer
// than GOMAXPROCS, at least one) read and parse the next directories in the
// queue while the caller's function runs, on the walking goroutine, over
// the entries of the directory at the head: reading the volume and parsing
// overlap with the caller's own work, and with each other on several
// cores. When the head directory has not been taken up yet, the walking
// goroutine reads it itself rather than wait. At most a small window of
// directories is read ahead, so memory stays bounded by that window, not
// by the tree.
//
// The walk keeps the fsys.WalkFS contract: a directory comes before its
// entries, fs.SkipDir from fn for a directory skips its entries (for a file,
// the rest of its directory, as fs.WalkDir does), fs.SkipAll ends the walk.
// A directory whose data was already listed under another path (a loop, or
// a cross-linked directory on a damaged volume) is an error, so that a
// hostile volume can never make the walk run forever.
package treewalk

import (
	"fmt"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
)

// Entry is one entry of a directory as a driver's read function returns
// it.
type Entry[D any] struct {
	// Path is what fn receives: the directory's path (as read got it; the
	// bare name below ".") joined with the entry's name, made safe by
	// fsys.SafeName. Drivers may build a directory's paths in one buffer.
	Path string
	// Info is what fn receives.
	Info fs.FileInfo
	// IsDir says Sub is a directory to read; Key identifies its data on
	// the volume (its first cluster), 0 for a directory without data of
	// its own (an empty exFAT directory), which is not checked.
	IsDir bool
	Sub   D
	Key   uint64
}

// ReadFunc reads and parses directory d, found at path dir. scratch is
// the calling goroutine's own S, for buffers the driver reuses from one
// directory to the next; calls with different scratch run concurrently.
type ReadFunc[D, S any] func(scratch *S, dir string, d D) ([]Entry[D], error)

// Join is the path of name in directory dir, as Entry.Path wants it.
func Join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// job is one directory in the queue.
type job[D any] struct {
	path  string
	dir   D
	taken atomic.Bool // by a background goroutine or the walking one
	done  chan struct{}
	ents  []Entry[D]
	err   error
}

// Walk lists the tree below the directory start (at path root, with data
// key rootKey) and calls fn for each entry; fn has already been called for
// the start directory itself. pkg names the driver in errors.
func Walk[D, S any](pkg, root string, start D, rootKey uint64, read ReadFunc[D, S], fn func(string, fs.FileInfo) error) error {
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	window := 4 * (workers + 1)
	scratch := make([]S, workers+1) // the last is the walking goroutine's
	jobs := make(chan *job[D], window)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if !j.taken.CompareAndSwap(false, true) {
					continue
				}
				if !stop.Load() {
					j.ents, j.err = read(&scratch[w], j.path, j.dir)
				}
				close(j.done)
			}
		}()
	}
	defer func() {
		stop.Store(true)
		close(jobs)
		wg.Wait()
	}()

	queue := []*job[D]{{path: root, dir: start, done: make(chan struct{})}}
	head, sent := 0, 0
	// dispatch hands queued directories to the background readers, at
	// most window ahead of the head. A send blocks only while the channel
	// still holds directories the walking goroutine read itself, until a
	// background reader drops them.
	dispatch := func() {
		for sent < len(queue) && sent-head < window {
			jobs <- queue[sent]
			sent++
		}
	}
	visited := map[uint64]string{rootKey: root}
	for ; head < len(queue); head++ {
		dispatch()
		j := queue[head]
		if j.taken.CompareAndSwap(false, true) {
			j.ents, j.err = read(&scratch[workers], j.path, j.dir)
		} else {
			<-j.done
		}
		queue[head] = nil
		if j.err != nil {
			return &fs.PathError{Op: "readdir", Path: j.path, Err: j.err}
		}
	entries:
		for i := range j.ents {
			e := &j.ents[i]
			p := e.Path
			switch err := fn(p, e.Info); err {
			case nil:
			case fs.SkipDir:
				if e.IsDir {
					continue
				}
				break entries
			case fs.SkipAll:
				return nil
			default:
				return err
			}
			if !e.IsDir {
				continue
			}
			if e.Key != 0 {
				if prev, dup := visited[e.Key]; dup {
					return &fs.PathError{Op: "readdir", Path: p, Err: fmt.Errorf("%s: directory data (cluster %d) already listed as %q: a loop or a cross-linked directory", pkg, e.Key, prev)}
				}
				visited[e.Key] = p
			}
			queue = append(queue, &job[D]{path: p, dir: e.Sub, done: make(chan struct{})})
			dispatch()
		}
		j.ents = nil
	}
	return nil
}
