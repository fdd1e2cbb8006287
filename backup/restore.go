package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grainvm/grain/extract"
	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/restic"
)

// SnapshotFS is a snapshot's tree as a read-only io/fs.FS (with Lstat,
// ReadLink, Walk and OpenStream: an extract.Source). Paths are those of
// the snapshot without the leading slash ("vm/p3/Users"). File contents
// are read from the repository as they are read. It is safe for
// concurrent use.
type SnapshotFS struct {
	ctx  context.Context
	repo *restic.Repository
	root restic.ID

	mu    sync.Mutex
	trees map[restic.ID]*restic.Tree
}

// maxCachedTrees bounds the tree cache.
const maxCachedTrees = 4096

// NewSnapshotFS opens the tree of a snapshot (the index must be loaded).
func NewSnapshotFS(ctx context.Context, repo *restic.Repository, sn *restic.Snapshot) *SnapshotFS {
	return &SnapshotFS{ctx: ctx, repo: repo, root: *sn.Tree, trees: map[restic.ID]*restic.Tree{}}
}

func (s *SnapshotFS) tree(id restic.ID) (*restic.Tree, error) {
	s.mu.Lock()
	t := s.trees[id]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := s.repo.LoadTree(s.ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.trees) >= maxCachedTrees {
		clear(s.trees)
	}
	s.trees[id] = t
	s.mu.Unlock()
	return t, nil
}

// rootNode stands for the snapshot's root folder.
func (s *SnapshotFS) rootNode() *restic.Node {
	id := s.root
	return &restic.Node{Name: ".", Type: restic.NodeTypeDir, Mode: fs.ModeDir | 0o755, Subtree: &id}
}

// Node returns the node at name.
func (s *SnapshotFS) Node(op, name string) (*restic.Node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n := s.rootNode()
	if name == "." {
		return n, nil
	}
	for _, part := range strings.Split(name, "/") {
		if n.Type != restic.NodeTypeDir || n.Subtree == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		t, err := s.tree(*n.Subtree)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		n = findNode(t, part)
		if n == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return n, nil
}

// Lstat describes the entry at name.
func (s *SnapshotFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := s.Node("lstat", name)
	if err != nil {
		return nil, err
	}
	return NodeInfo(n), nil
}

// Stat is Lstat: links are not followed.
func (s *SnapshotFS) Stat(name string) (fs.FileInfo, error) { return s.Lstat(name) }

// ReadLink returns a symbolic link's target.
func (s *SnapshotFS) ReadLink(name string) (string, error) {
	n, err := s.Node("readlink", name)
	if err != nil {
		return "", err
	}
	if n.Type != restic.NodeTypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.LinkTarget, nil
}

// ReadDir lists a folder, sorted by name.
func (s *SnapshotFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := s.Node("readdir", name)
	if err != nil {
		return nil, err
	}
	return s.readDir(name, n)
}

func (s *SnapshotFS) readDir(name string, n *restic.Node) ([]fs.DirEntry, error) {
	if n.Type != restic.NodeTypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	if n.Subtree == nil {
		return nil, nil
	}
	t, err := s.tree(*n.Subtree)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(t.Nodes))
	for _, c := range t.Nodes {
		if !validName(c.Name) {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(NodeInfo(c)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Walk calls fn for root and everything below it, a folder before its
// entries, in name order.
func (s *SnapshotFS) Walk(root string, fn func(p string, info fs.FileInfo) error) error {
	n, err := s.Node("walk", root)
	if err != nil {
		return err
	}
	err = s.walk(root, n, fn)
	if err == fs.SkipDir {
		return nil
	}
	return err
}

func (s *SnapshotFS) walk(p string, n *restic.Node, fn func(string, fs.FileInfo) error) error {
	if err := fn(p, NodeInfo(n)); err != nil {
		return err
	}
	if n.Type != restic.NodeTypeDir {
		return nil
	}
	if n.Subtree == nil {
		return nil
	}
	t, err := s.tree(*n.Subtree)
	if err != nil {
		return &fs.PathError{Op: "walk", Path: p, Err: err}
	}
	for _, c := range t.Nodes {
		if !validName(c.Name) {
			continue
		}
		err := s.walk(path.Join(p, c.Name), c, fn)
		if err == fs.SkipDir && c.Type == restic.NodeTypeDir {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validName: names that could leave the tree or are not one path
// element are skipped.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Open opens a file or folder.
func (s *SnapshotFS) Open(name string) (fs.File, error) {
	n, err := s.Node("open", name)
	if err != nil {
		return nil, err
	}
	switch n.Type {
	case restic.NodeTypeDir:
		des, err := s.readDir(name, n)
		if err != nil {
			return nil, err
		}
		return fsys.NewDirFile(NodeInfo(n), des), nil
	case restic.NodeTypeFile:
		return s.openContent(name, n, n.Content, int64(n.Size))
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("a %s has no content", n.Type)}
}

// OpenStream opens a named stream stored as an extended attribute.
func (s *SnapshotFS) OpenStream(name, stream string) (fsys.File, error) {
	n, err := s.Node("open", name)
	if err != nil {
		return nil, err
	}
	for _, x := range n.ExtendedAttributes {
		if x.Name == StreamXattrPrefix+stream {
			return &memFile{Reader: strings.NewReader(string(x.Value)), info: NodeInfo(n)}, nil
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name + ":" + stream, Err: fs.ErrNotExist}
}

func (s *SnapshotFS) openContent(name string, n *restic.Node, content restic.IDs, size int64) (*contentFile, error) {
	f := &contentFile{fs: s, name: name, info: NodeInfo(n), ids: content, size: size, cur: -1}
	f.starts = make([]int64, len(content)+1)
	idx := s.repo.Index()
	var off int64
	for i, id := range content {
		pb, ok := idx.Lookup(restic.BlobHandle{ID: id, Type: restic.DataBlob})
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: data blob %s", restic.ErrBlobNotFound, id.Str())}
		}
		f.starts[i] = off
		off += int64(pb.DataLength())
	}
	f.starts[len(content)] = off
	if off != size {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("content holds %d bytes, the node says %d", off, size)}
	}
	return f, nil
}

// contentFile reads a file's data blobs.
type contentFile struct {
	fs     *SnapshotFS
	name   string
	info   fs.FileInfo
	ids    restic.IDs
	starts []int64
	size   int64

	mu  sync.Mutex
	pos int64
	cur int
	buf []byte
}

func (f *contentFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *contentFile) Close() error               { return nil }

func (f *contentFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	pos := f.pos
	f.mu.Unlock()
	n, err := f.ReadAt(p, pos)
	f.mu.Lock()
	f.pos += int64(n)
	f.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *contentFile) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.pos
	case io.SeekEnd:
		off += f.size
	default:
		return 0, fmt.Errorf("backup: seek: bad whence %d", whence)
	}
	if off < 0 {
		return 0, fmt.Errorf("backup: seek to %d", off)
	}
	f.pos = off
	return off, nil
}

func (f *contentFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("backup: read at %d", off)
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= f.size {
			return n, io.EOF
		}
		i := sort.Search(len(f.ids), func(i int) bool { return f.starts[i+1] > at })
		f.mu.Lock()
		if f.cur != i {
			b, err := f.fs.repo.LoadBlob(f.fs.ctx, restic.DataBlob, f.ids[i], f.buf)
			if err != nil {
				f.mu.Unlock()
				return n, &fs.PathError{Op: "read", Path: f.name, Err: err}
			}
			f.buf, f.cur = b, i
		}
		n += copy(p[n:], f.buf[at-f.starts[i]:])
		f.mu.Unlock()
	}
	return n, nil
}

type memFile struct {
	*strings.Reader
	info fs.FileInfo
}

func (m *memFile) Stat() (fs.FileInfo, error) { return m.info, nil }
func (m *memFile) Close() error               { return nil }

// nodeInfo is a node as an fs.FileInfo.
type nodeInfo struct {
	n    *restic.Node
	meta *fsys.Meta
}

// NodeOf returns the node behind a FileInfo from a SnapshotFS, or nil.
func NodeOf(info fs.FileInfo) *restic.Node {
	if ni, ok := info.(*nodeInfo); ok {
		return ni.n
	}
	return nil
}

// NodeInfo describes a node as an fs.FileInfo whose Sys() is an
// *fsys.Meta (times, Unix mode, owner, links, extended attributes, named
// streams, Windows attributes and creation time).
func NodeInfo(n *restic.Node) fs.FileInfo {
	m := &fsys.Meta{Inode: n.Inode ^ n.DeviceID<<48, Nlink: uint32(n.Links), Size: int64(n.Size),
		Modify: n.ModTime, Access: n.AccessTime, Change: n.ChangeTime, UnixMode: unixMode(n),
		UID: n.UID, GID: n.GID, Rdev: n.Device, LinkTarget: n.LinkTarget}
	if n.Type == restic.NodeTypeDir {
		m.Size = 0
	}
	var ft restic.FileTime
	if ok, err := n.Generic(restic.GenericCreationTime, &ft); ok && err == nil {
		m.Birth = timeFromFileTime(ft)
	}
	var attrs uint32
	if ok, err := n.Generic(restic.GenericFileAttributes, &attrs); ok && err == nil {
		m.Attributes = attrs
	}
	for _, x := range n.ExtendedAttributes {
		if s, ok := strings.CutPrefix(x.Name, StreamXattrPrefix); ok {
			m.Streams = append(m.Streams, fsys.Stream{Name: s, Size: int64(len(x.Value)), Allocated: int64(len(x.Value))})
			continue
		}
		m.Xattrs = append(m.Xattrs, fsys.Xattr{Name: x.Name, Value: x.Value})
	}
	return &nodeInfo{n: n, meta: m}
}

func (i *nodeInfo) Name() string { return i.n.Name }
func (i *nodeInfo) Size() int64  { return i.meta.Size }
func (i *nodeInfo) Mode() fs.FileMode {
	return goMode(i.n.Type, nil)&fs.ModeType | i.n.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
}
func (i *nodeInfo) ModTime() time.Time { return i.n.ModTime }
func (i *nodeInfo) IsDir() bool        { return i.n.Type == restic.NodeTypeDir }
func (i *nodeInfo) Sys() any           { return i.meta }

var _ extract.Source = (*SnapshotFS)(nil)
var _ extract.StreamSource = (*SnapshotFS)(nil)

// RestoreOptions shape a restore.
type RestoreOptions struct {
	// Include and Exclude are globs (path.Match) tried on each entry's
	// name and on its path below the target, as grain cp does.
	Include, Exclude []string
	// Overwrite replaces files that exist in the target.
	Overwrite bool
	// Owners sets owners (needs root).
	Owners bool
	// Workers reading in parallel (default 4).
	Workers int
	// Planned, Progress and Report are as in extract.Options.
	Planned  func(files int, bytes int64)
	Progress func(n int64)
	Report   func(p string, err error)
}

// Restore writes the snapshot's entry at sub ("" or "." for the whole
// snapshot, "vm/p3/Users" for a part) into the folder target, with the
// rules of grain cp (extract.Copy): nothing is written outside target,
// times and modes are kept, sparse files stay sparse, hard links are
// links, existing files are kept unless Overwrite, named streams are
// written back as extended attributes. Other extended attributes of the
// nodes (ext4/XFS) are set on Linux as restic restore sets them: user.*
// always, other namespaces when running as root; a file whose attributes
// cannot be set is reported and the restore goes on. Elsewhere they are
// skipped with one note. As restic restore does, a folder's contents land
// directly in target; a file lands as target/NAME.
func Restore(ctx context.Context, repo *restic.Repository, sn *restic.Snapshot, sub, target string, opts *RestoreOptions) (extract.Summary, error) {
	if opts == nil {
		opts = &RestoreOptions{}
	}
	sub = strings.Trim(strings.ReplaceAll(sub, `\`, "/"), "/")
	if sub == "" {
		sub = "."
	}
	sub = path.Clean(sub)
	src := NewSnapshotFS(ctx, repo, sn)
	n, err := src.Node("restore", sub)
	if err != nil {
		return extract.Summary{}, err
	}
	var paths []string
	if n.Type == restic.NodeTypeDir {
		des, err := src.readDir(sub, n)
		if err != nil {
			return extract.Summary{}, err
		}
		for _, d := range des {
			// extract.Copy applies Exclude and Include below the paths
			// it is given; these land directly in target, so the globs
			// apply to them too (as restic restore's).
			if matchGlobs(opts.Exclude, d.Name(), d.Name()) ||
				!d.IsDir() && len(opts.Include) > 0 && !matchGlobs(opts.Include, d.Name(), d.Name()) {
				continue
			}
			paths = append(paths, path.Join(sub, d.Name()))
		}
	} else {
		paths = []string{sub}
	}
	// Entries the copy reported (failed, or kept because they existed)
	// get no extended attributes afterwards.
	failed := map[string]bool{}
	var failedMu sync.Mutex
	report := func(p string, err error) {
		failedMu.Lock()
		failed[p] = true
		failedMu.Unlock()
		if opts.Report != nil {
			opts.Report(p, err)
		}
	}
	eo := &extract.Options{Recursive: true, Include: opts.Include, Exclude: opts.Exclude, Overwrite: opts.Overwrite,
		Streams: true, Atime: true, Owners: opts.Owners, Workers: opts.Workers, Planned: opts.Planned,
		Progress: opts.Progress, Report: report}
	if len(paths) == 0 {
		return extract.Summary{}, nil
	}
	sum, err := extract.Copy(src, paths, target, eo)
	if errors.Is(err, extract.ErrFailed) || err == nil {
		xs, xerr := xattrTargets(src, paths, opts, failed)
		if xerr != nil {
			return sum, xerr
		}
		if nfail := restoreXattrs(target, xs, opts.Report); nfail > 0 {
			sum.Failed += nfail
			if err == nil {
				err = fmt.Errorf("backup: restore: %w", extract.ErrFailed)
			}
		}
	}
	return sum, err
}

// xattrEntry is one restored entry whose node carries extended
// attributes other than named streams (which extract.Copy writes).
type xattrEntry struct {
	src   string // path in the snapshot, without the leading slash
	rel   string // path below the target
	typ   string // node type
	attrs []restic.ExtendedAttribute
}

// xattrTargets lists, in walk order (a folder before its entries), the
// entries Restore wrote whose nodes carry extended attributes: the
// selection rules of extract.Copy (Exclude on name or path below the
// target, Include for everything but folders), less the entries the copy
// reported.
func xattrTargets(src *SnapshotFS, paths []string, opts *RestoreOptions, failed map[string]bool) ([]xattrEntry, error) {
	var out []xattrEntry
	for _, sp := range paths {
		base := path.Base(sp)
		err := src.Walk(sp, func(q string, info fs.FileInfo) error {
			rel := base
			if q != sp {
				rel = base + "/" + strings.TrimPrefix(q, sp+"/")
			}
			name := info.Name()
			if q != sp && matchGlobs(opts.Exclude, name, rel) {
				if info.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if failed["/"+q] {
				if info.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !info.IsDir() && len(opts.Include) > 0 && !matchGlobs(opts.Include, name, rel) {
				return nil
			}
			n := NodeOf(info)
			if n == nil {
				return nil
			}
			var attrs []restic.ExtendedAttribute
			for _, x := range n.ExtendedAttributes {
				if !strings.HasPrefix(x.Name, StreamXattrPrefix) {
					attrs = append(attrs, x)
				}
			}
			if len(attrs) > 0 {
				out = append(out, xattrEntry{src: q, rel: rel, typ: n.Type, attrs: attrs})
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("backup: restore: extended attributes: %w", err)
		}
	}
	return out, nil
}

// matchGlobs is extract's rule: a glob matches the name or the path below
// the target.
func matchGlobs(globs []string, name, rel string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
	}
	return false
}

// Match is one entry Find found.
type Match struct {
	Snapshot *restic.Snapshot
	Path     string // in the snapshot, with a leading slash
	Node     *restic.Node
}

// Find calls fn for every entry whose name matches the glob (path.Match;
// with ignoreCase, compared in lower case) in every snapshot, oldest
// snapshot first. A subtree shared by several snapshots is searched once.
func Find(ctx context.Context, repo *restic.Repository, glob string, ignoreCase bool, fn func(Match) error) error {
	if ignoreCase {
		glob = strings.ToLower(glob)
	}
	if _, err := path.Match(glob, ""); err != nil {
		return fmt.Errorf("backup: find: %w", err)
	}
	sns, err := repo.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	type hit struct {
		rel string
		n   *restic.Node
	}
	cache := map[restic.ID][]hit{}
	var search func(id restic.ID, depth int) ([]hit, error)
	search = func(id restic.ID, depth int) ([]hit, error) {
		if h, ok := cache[id]; ok {
			return h, nil
		}
		if depth > 1000 {
			return nil, fmt.Errorf("backup: find: trees nested deeper than 1000")
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := repo.LoadTree(ctx, id)
		if err != nil {
			return nil, err
		}
		var out []hit
		for _, n := range t.Nodes {
			name := n.Name
			if ignoreCase {
				name = strings.ToLower(name)
			}
			if ok, _ := path.Match(glob, name); ok {
				out = append(out, hit{n.Name, n})
			}
			if n.Type == restic.NodeTypeDir && n.Subtree != nil {
				sub, err := search(*n.Subtree, depth+1)
				if err != nil {
					return nil, err
				}
				for _, h := range sub {
					out = append(out, hit{n.Name + "/" + h.rel, h.n})
				}
			}
		}
		cache[id] = out
		return out, nil
	}
	for _, sn := range sns {
		hits, err := search(*sn.Tree, 0)
		if err != nil {
			return fmt.Errorf("backup: find: snapshot %s: %w", sn.ID.Str(), err)
		}
		for _, h := range hits {
			if err := fn(Match{Snapshot: sn, Path: "/" + h.rel, Node: h.n}); err != nil {
				return err
			}
		}
	}
	return nil
}
