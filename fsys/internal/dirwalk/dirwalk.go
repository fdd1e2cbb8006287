// Package dirwalk is the whole-tree walk (fsys.WalkFS) the ext4 and XFS
// drivers share: directories are loaded in parallel, one job per
// directory, on GOMAXPROCS workers, while the caller's goroutine calls fn
// depth first with each directory's entries in the order the driver lists
// them (name order), so a directory comes before its entries and the paths
// come out sorted. Only a bounded number of loaded directories wait ahead
// of fn (Ahead per worker, AheadBytes of directory size in all): memory
// follows the directories still to list, not the whole volume.
//
// The driver supplies what differs: how a directory is loaded (its entries
// with their inodes, read in batches by the driver) and how big one is.
// The walk's root itself (its fn call, SkipDir on it) is the driver's too.
package dirwalk

import (
	"io/fs"
	"runtime"
	"sync"
)

const (
	// Ahead is how many loaded directories per worker may wait for fn.
	Ahead = 8
	// AheadBytes bounds the sizes of the directories loaded ahead of fn.
	AheadBytes = 16 << 20
)

// Dir is a directory the walk has still to list. N is the driver's
// directory node (an inode), E its entry type.
type Dir[N, E any] struct {
	Path   string
	Node   N          // the loader may replace it (a link it follows)
	Parent *Dir[N, E] // for the driver's loop check; nil above the root

	ahead   int64         // size counted in inflightBytes
	done    chan struct{} // closed when entries/err are set
	entries []E
	err     error
	kids    []*Dir[N, E] // the subdirectories among entries, in order
}

// Entry is what the walk needs of one listed entry (implemented by *E).
type Entry[N any] interface {
	// Walked is what fn gets; a non-nil err stops the walk with it.
	Walked() (path string, info fs.FileInfo, err error)
	// Subdir reports whether the walk descends into the entry (it is a
	// directory and was read without error), and its node.
	Subdir() (N, bool)
}

// Config is the driver's part of a walk.
type Config[N, E any] struct {
	// Size is a directory's size in bytes: its share of AheadBytes.
	Size func(N) int64
	// NewLoader is called once per worker goroutine; the function it
	// returns lists a directory (with its parent chain for loop checks),
	// its entries in the order fn is to see them. Its error stops the
	// walk, wrapped as a *fs.PathError "readdir" of the directory's path.
	NewLoader func() func(d *Dir[N, E]) ([]E, error)
}

// Walk lists top and every directory below it, calling fn for each entry
// below top (not for top itself: the driver calls fn for the root). fn's
// fs.SkipDir skips a directory, or the rest of the directory for a file;
// fs.SkipAll ends the walk, and Walk returns nil. An entry's error from
// Walked stops the walk with it.
func Walk[N, E any, P interface {
	*E
	Entry[N]
}](top *Dir[N, E], fn func(string, fs.FileInfo) error, cfg Config[N, E]) error {
	return WalkEntries(top, func(e P) error {
		p, info, err := e.Walked()
		if err != nil {
			return err
		}
		return fn(p, info)
	}, cfg)
}

// WalkEntries is Walk calling fn with each entry itself (a driver's
// fs.DirEntry, say) rather than its Walked info; whether an entry's error
// stops the walk is then fn's to say.
func WalkEntries[N, E any, P interface {
	*E
	Entry[N]
}](top *Dir[N, E], fn func(P) error, cfg Config[N, E]) error {
	err := walk[N, E, P](top, fn, cfg)
	if err == fs.SkipAll {
		return nil
	}
	return err
}

func walk[N, E any, P interface {
	*E
	Entry[N]
}](top *Dir[N, E], fn func(P) error, cfg Config[N, E]) error {
	nw := max(1, runtime.GOMAXPROCS(0))
	jobs := make(chan *Dir[N, E], nw*Ahead+1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load := cfg.NewLoader()
			for d := range jobs {
				select {
				case <-stop:
				default:
					d.entries, d.err = load(d)
				}
				close(d.done)
			}
		}()
	}
	defer func() {
		close(stop)
		close(jobs)
		wg.Wait()
	}()

	// The directories to list next (the remaining subdirectories of each
	// directory on the stack, nearest first) are handed to the workers
	// ahead of time, at most limit of them loaded and waiting.
	limit := cap(jobs) - 1
	inflight := 0
	var inflightBytes int64 // the directories' sizes: a bound on their entries
	dispatch := func(d *Dir[N, E]) {
		if d.done == nil {
			d.done = make(chan struct{})
			jobs <- d
			inflight++
			d.ahead = cfg.Size(d.Node)
			inflightBytes += d.ahead
		}
	}
	// wait takes d's listing from its worker and makes its subdirectories.
	wait := func(d *Dir[N, E]) error {
		dispatch(d)
		<-d.done
		inflight--
		inflightBytes -= d.ahead
		if d.err != nil {
			return &fs.PathError{Op: "readdir", Path: d.Path, Err: d.err}
		}
		for i := range d.entries {
			if n, ok := P(&d.entries[i]).Subdir(); ok {
				p, _, _ := P(&d.entries[i]).Walked()
				d.kids = append(d.kids, &Dir[N, E]{Path: p, Node: n, Parent: d})
			}
		}
		return nil
	}
	// drop discards subdirectory d unlisted (SkipDir).
	drop := func(d *Dir[N, E]) {
		if d.done != nil {
			<-d.done
			inflight--
			inflightBytes -= d.ahead
		}
		d.entries = nil
	}
	type frame struct {
		d       *Dir[N, E]
		next    int // next entry
		nextKid int // next subdirectory
	}
	prefetch := func(stack []frame) {
		seen := 0
		for k := len(stack) - 1; k >= 0 && seen < limit; k-- {
			fr := &stack[k]
			for _, d := range fr.d.kids[fr.nextKid:] {
				if seen++; seen > limit || inflight >= limit || inflightBytes >= AheadBytes {
					return
				}
				dispatch(d)
			}
		}
	}

	if err := wait(top); err != nil {
		return err
	}
	stack := []frame{{d: top}}
	for len(stack) > 0 {
		fr := &stack[len(stack)-1]
		d := fr.d
		if fr.next >= len(d.entries) {
			for _, k := range d.kids[fr.nextKid:] {
				drop(k)
			}
			d.entries, d.kids = nil, nil
			stack = stack[:len(stack)-1]
			continue
		}
		e := P(&d.entries[fr.next])
		fr.next++
		var kid *Dir[N, E]
		if _, ok := e.Subdir(); ok {
			kid = d.kids[fr.nextKid]
			fr.nextKid++
		}
		err := fn(e)
		if err == fs.SkipDir {
			if kid != nil {
				drop(kid)
			} else {
				fr.next = len(d.entries) // as fs.WalkDir: skip the rest
			}
			continue
		}
		if err != nil {
			return err
		}
		if kid != nil {
			prefetch(stack)
			if err := wait(kid); err != nil {
				return err
			}
			stack = append(stack, frame{d: kid})
			prefetch(stack)
		}
	}
	return nil
}
