package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic/chunker"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/volume"
)

// Options choose what a backup stores and how.
type Options struct {
	// Name is the top directory of the snapshot (the VM's or image's
	// name); required, one path element.
	Name string
	// Host is the snapshot's hostname (default Name).
	Host string
	// Paths are paths of the image tree to store ("p3/Users"); empty
	// means the whole image (every volume).
	Paths []string
	// Excludes are globs (path.Match) tried on each entry's name and on
	// its path in the image tree with and without a leading slash
	// ("/p3/pagefile.sys"); an excluded directory is skipped whole.
	Excludes []string
	// Tags are added to the snapshot (besides the layer tags).
	Tags []string
	// Parent, if set, is the snapshot to compare with; otherwise the
	// latest snapshot with the same host and paths.
	Parent *restic.ID
	// NoParent reads every file.
	NoParent bool
	// Workers reading files in parallel (default 3).
	Workers int
	// Time is the snapshot's time (default: when the backup starts).
	Time time.Time
	// ProgramVersion goes into the snapshot (default "grain").
	ProgramVersion string
	// NoLock skips the repository lock (the caller holds one).
	NoLock bool
	// KeepOrphans leaves packs without an index alone instead of indexing
	// them (by default a backup that holds the only lock indexes the
	// packs an interrupted backup left, so that their data is reused).
	KeepOrphans bool
	// Progress, if set, is called about every ProgressInterval (default
	// 1 s) and once at the end.
	Progress         func(Status)
	ProgressInterval time.Duration
	// Report, if set, is called for each file that could not be stored
	// (the backup goes on) or was stored only in part.
	Report func(path string, err error)
}

// Status is a backup's progress.
type Status struct {
	Elapsed    time.Duration
	FilesTotal int64 // files and other non-directories listed
	FilesDone  int64
	BytesTotal int64 // bytes of the files listed
	BytesDone  int64 // bytes of files done (read or reused)
	BytesRead  int64 // file data read from the image so far
	ToRead     int64 // bytes of the files that must be read
	Current    []string
	Errors     int64
}

// Summary is what a finished backup did.
type Summary struct {
	SnapshotID restic.ID
	Parent     *restic.ID
	// Files and directories by state, as restic counts them.
	FilesNew, FilesChanged, FilesUnmodified int
	DirsNew, DirsChanged, DirsUnmodified    int
	// FilesRead and BytesRead: file data read from the image (content
	// and named streams).
	FilesRead int
	BytesRead int64
	// ChangedLayers and ChangedBytes: the layers taken as changed and
	// the size of the disk ranges they hold; AllChanged when nothing was
	// reusable by position.
	ChangedLayers []string
	ChangedBytes  int64
	AllChanged    bool
	// Totals of the snapshot.
	TotalFiles int
	TotalBytes int64
	// What the repository gained.
	DataBlobs, TreeBlobs int
	DataAdded            int64 // plaintext bytes of new blobs
	DataAddedPacked      int64 // as stored (compressed, encrypted)
	OrphanPacksIndexed   int
	Errors               int
	Start, End           time.Time
}

// Duration is how long the backup took.
func (s *Summary) Duration() time.Duration { return s.End.Sub(s.Start) }

// ErrPartial is returned (wrapped) with the summary when the snapshot was
// written but some files could not be stored.
var ErrPartial = errors.New("backup: some files could not be read")

const (
	stateNew = iota
	stateChanged
	stateUnmodified
)

// entry is one file or directory of the snapshot being made. Its tree
// node is built from the walk's info only when its folder's tree is
// compared or written (nodeOf), so that a large selection holds no nodes.
type entry struct {
	name       string
	path       string      // image path
	typ        string      // node type
	info       fs.FileInfo // from the walk: the node's metadata; opens the file without a look-up
	fixed      *restic.Node
	vol        *volInfo
	children   []*entry
	size       uint64
	linkTarget string                     // of a symlink whose info has none
	content    restic.IDs                 // of a file, once read or reused
	xattrs     []restic.ExtendedAttribute // named streams as stored
	special    bool
	psub       *restic.ID // the parent snapshot's subtree (dirs)
	subtree    *restic.ID // the tree written (dirs)
	state      uint8
	read       bool
	same       bool // dir: everything below is as in the parent snapshot, so its tree is psub
	linkTo     *entry
	err        error
	parent     *entry       // the folder waiting for this entry (see arm)
	pending    atomic.Int32 // folders: entries to finish before the tree can be written
}

// treeID is a folder's tree once written (or kept from the parent).
func (e *entry) treeID() restic.ID {
	if e.same {
		return *e.psub
	}
	return *e.subtree
}

// nodeOf builds e's tree node.
func (r *run) nodeOf(e *entry) *restic.Node {
	var n *restic.Node
	if e.fixed != nil {
		c := *e.fixed
		n = &c
	} else {
		n = newNode(e.name, e.info, e.vol.fsType, e.vol.dev)
	}
	switch n.Type {
	case restic.NodeTypeSymlink:
		if n.LinkTarget == "" {
			n.LinkTarget = e.linkTarget
		}
	case restic.NodeTypeFile:
		n.Content = e.content
		if len(e.xattrs) > 0 {
			n.ExtendedAttributes = append(n.ExtendedAttributes, e.xattrs...)
		}
	case restic.NodeTypeDir:
		if e.same {
			n.Subtree = e.psub
		} else {
			n.Subtree = e.subtree
		}
	}
	return n
}

type volInfo struct {
	name     string
	dev      uint64
	offset   int64
	mappable bool
	fsType   string
}

type run struct {
	repo    *restic.Repository
	img     *guest.Image
	opts    *Options
	changes *Changes
	vols    map[string]*volInfo
	dirs    map[string]*entry
	top     *entry
	start   time.Time

	mu       sync.Mutex
	sum      Summary
	newBlobs []restic.BlobHandle
	current  map[*entry]struct{}

	filesTotal, filesDone, bytesTotal, bytesDone, bytesRead, toRead, errs atomic.Int64
	dataAdded                                                             atomic.Int64
	toReadList                                                            []*entry
	planSlots                                                             chan struct{} // goroutines planning subfolders or writing their trees

	reuseMu   sync.Mutex // see reuseChecked
	reuseGood int
	reuseBad  bool
}

func (r *run) report(p string, err error) {
	r.errs.Add(1)
	if r.opts.Report != nil {
		r.opts.Report("/"+p, err)
	}
}

// Run backs up the image into the repository as one snapshot. The
// repository's index is loaded (and packs left by an interrupted backup
// indexed) first. Files that cannot be read are reported and left out;
// the snapshot is still written and the error wraps ErrPartial.
func Run(ctx context.Context, repo *restic.Repository, img *guest.Image, opts *Options) (*Summary, error) {
	if opts == nil || opts.Name == "" || strings.ContainsAny(opts.Name, "/\x00") || opts.Name == "." || opts.Name == ".." {
		return nil, errors.New("backup: a name (one path element) is needed for the snapshot's top folder")
	}
	r := &run{repo: repo, img: img, opts: opts, start: time.Now(), vols: map[string]*volInfo{},
		dirs: map[string]*entry{}, current: map[*entry]struct{}{}, planSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	r.sum.Start = r.start
	for _, g := range opts.Excludes {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("backup: exclude %q: %w", g, err)
		}
	}
	paths, err := cleanPaths(opts.Paths)
	if err != nil {
		return nil, err
	}
	host := opts.Host
	if host == "" {
		host = opts.Name
	}
	snapPaths := make([]string, 0, len(paths))
	for _, p := range paths {
		if p == "." {
			snapPaths = append(snapPaths, "/"+opts.Name)
		} else {
			snapPaths = append(snapPaths, "/"+opts.Name+"/"+p)
		}
	}

	if !opts.NoLock {
		lock, err := repo.Lock(ctx, false)
		if err != nil {
			return nil, err
		}
		stop := refreshLock(ctx, lock)
		defer func() {
			stop()
			lock.Unlock(context.WithoutCancel(ctx))
		}()
	}
	for i, v := range img.Volumes() {
		vi := &volInfo{name: v.Name, dev: uint64(i + 1), offset: v.Offset, mappable: v.Scheme != volume.SchemeLVM}
		if v.FS != nil {
			vi.fsType = v.FS.Type()
		}
		r.vols[v.Name] = vi
	}
	r.top = &entry{name: opts.Name, typ: restic.NodeTypeDir,
		fixed: &restic.Node{Name: opts.Name, Type: restic.NodeTypeDir, Mode: fs.ModeDir | 0o755}}
	r.dirs["."] = r.top
	listed := make(chan error, 1)
	go func() {
		for _, p := range paths {
			if err := r.list(p); err != nil {
				listed <- err
				return
			}
		}
		r.setSyntheticTimes()
		listed <- nil
	}()
	joined := false
	join := func() error {
		joined = true
		return <-listed
	}
	defer func() {
		if !joined {
			<-listed
		}
	}()

	if err := repo.LoadIndex(ctx); err != nil {
		return nil, err
	}
	if !opts.KeepOrphans {
		n, err := IndexOrphanPacks(ctx, repo)
		if err != nil {
			return nil, err
		}
		r.sum.OrphanPacksIndexed = n
	}

	// The parent snapshot and what changed since.
	var parent *restic.Snapshot
	if !opts.NoParent {
		if opts.Parent != nil {
			parent, err = repo.LoadSnapshot(ctx, *opts.Parent)
			if err != nil {
				return nil, fmt.Errorf("backup: parent snapshot: %w", err)
			}
		} else if parent, err = FindParent(ctx, repo, host, snapPaths); err != nil {
			return nil, err
		}
	}
	var parentTags []string
	if parent != nil {
		id := parent.ID
		r.sum.Parent = &id
		parentTags = parent.Tags
	}
	r.changes, err = ComputeChanges(img.Disk(), parentTags)
	if err != nil {
		return nil, err
	}
	r.sum.AllChanged, r.sum.ChangedLayers, r.sum.ChangedBytes = r.changes.All, r.changes.Layers, r.changes.Bytes()

	// The selection is listed while the index and the parent load.
	if err := join(); err != nil {
		return nil, err
	}

	// Compare with the parent, then read what must be read.
	var ptree *restic.Tree
	if parent != nil {
		ptree, err = r.parentTopTree(ctx, parent)
		if err != nil {
			return nil, err
		}
	}
	if _, err := r.plan(ctx, r.top, ptree); err != nil {
		return nil, err
	}
	r.dirs = nil
	if err := r.arm(ctx, r.top); err != nil {
		return nil, err
	}
	stopProgress := r.startProgress()
	err = r.readFiles(ctx)
	if err == nil {
		err = r.finish(ctx, host, snapPaths, parent)
	}
	stopProgress()
	if err != nil {
		return nil, err
	}
	s := r.sum
	if s.Errors > 0 {
		return &s, fmt.Errorf("%w: %d files left out of snapshot %s", ErrPartial, s.Errors, s.SnapshotID.Str())
	}
	return &s, nil
}

// cleanPaths turns the selection into image paths without overlaps.
func cleanPaths(ps []string) ([]string, error) {
	if len(ps) == 0 {
		return []string{"."}, nil
	}
	var out []string
	for _, p := range ps {
		q := strings.Trim(strings.ReplaceAll(p, `\`, "/"), "/")
		if q == "" {
			q = "."
		}
		q = path.Clean(q)
		if !fs.ValidPath(q) {
			return nil, fmt.Errorf("backup: invalid path %q", p)
		}
		out = append(out, q)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	var keep []string
	for _, p := range out {
		covered := false
		for _, k := range keep {
			if k == "." || strings.HasPrefix(p, k+"/") {
				covered = true
				break
			}
		}
		if !covered {
			keep = append(keep, p)
		}
	}
	return keep, nil
}

func refreshLock(ctx context.Context, l *restic.Lock) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				l.Refresh(ctx)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) excluded(p, name string) bool {
	for _, g := range r.opts.Excludes {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
		if ok, _ := path.Match(g, p); ok {
			return true
		}
		if ok, _ := path.Match(g, "/"+p); ok {
			return true
		}
	}
	return false
}

// volumeNode describes a volume's folder from its file system's root.
func (r *run) volumeNode(name string) *restic.Node {
	for _, v := range r.img.Volumes() {
		if v.Name == name && v.FS != nil {
			if fi, err := v.FS.Stat("."); err == nil {
				n := newNode(name, fi, v.FS.Type(), r.vols[name].dev)
				n.Type, n.Mode = restic.NodeTypeDir, goMode(restic.NodeTypeDir, fsys.MetaOf(fi))
				n.Inode, n.Links, n.Size, n.Content = 0, 0, 0, nil
				return n
			}
		}
	}
	return &restic.Node{Name: name, Type: restic.NodeTypeDir, Mode: fs.ModeDir | 0o755}
}

// add makes the entry of image path p and links it into its folder.
func (r *run) add(p string, info fs.FileInfo) (*entry, error) {
	volName, _, _ := strings.Cut(p, "/")
	vi := r.vols[volName]
	if vi == nil {
		return nil, fmt.Errorf("backup: %s: unknown volume", p)
	}
	parent := r.dirs[path.Dir(p)]
	if parent == nil {
		return nil, nil // below an excluded or unlisted folder
	}
	e := &entry{name: path.Base(p), path: p, vol: vi, info: info, typ: nodeType(info.Mode())}
	m := fsys.MetaOf(info)
	if p == volName {
		e.fixed, e.info = r.volumeNode(volName), nil
		e.typ = e.fixed.Type
	}
	switch e.typ {
	case restic.NodeTypeFile:
		if m != nil {
			e.size = uint64(max(m.Size, 0))
			e.special = m.Special != ""
		}
	case restic.NodeTypeSymlink:
		if m == nil || m.LinkTarget == "" {
			if t, err := r.img.ReadLink(p); err == nil {
				e.linkTarget = t
			}
		}
	}
	parent.children = append(parent.children, e)
	if e.typ == restic.NodeTypeDir {
		r.dirs[p] = e
	} else {
		r.filesTotal.Add(1)
		r.bytesTotal.Add(int64(e.size))
	}
	return e, nil
}

// list adds the selection p: its folders above, then everything below.
func (r *run) list(p string) error {
	if p != "." {
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			q := strings.Join(parts[:i], "/")
			if r.dirs[q] != nil {
				continue
			}
			info, err := r.img.Lstat(q)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if _, err := r.add(q, info); err != nil {
				return err
			}
		}
		if _, err := r.img.Lstat(p); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return r.img.Walk(p, func(q string, info fs.FileInfo) error {
		if q == "." {
			return nil
		}
		if q != p && r.excluded(q, path.Base(q)) {
			if info.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		e, err := r.add(q, info)
		if err != nil {
			return err
		}
		if e == nil && info.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// setSyntheticTimes gives the top folder the newest time of the
// volumes below it, so that it is stable from one backup to the next.
func (r *run) setSyntheticTimes() {
	var t time.Time
	for _, c := range r.top.children {
		if c.fixed != nil && c.fixed.ModTime.After(t) {
			t = c.fixed.ModTime
		}
	}
	for _, c := range r.top.children {
		if c.fixed != nil && c.fixed.ModTime.IsZero() {
			c.fixed.ModTime, c.fixed.AccessTime, c.fixed.ChangeTime = t, t, t
		}
	}
	n := r.top.fixed
	n.ModTime, n.AccessTime, n.ChangeTime = t, t, t
}

// parentTopTree loads the parent snapshot's tree of the top folder.
func (r *run) parentTopTree(ctx context.Context, sn *restic.Snapshot) (*restic.Tree, error) {
	root, err := r.repo.LoadTree(ctx, *sn.Tree)
	if err != nil {
		return nil, fmt.Errorf("backup: parent snapshot %s: %w", sn.ID.Str(), err)
	}
	n := findNode(root, r.opts.Name)
	if n == nil || n.Type != restic.NodeTypeDir || n.Subtree == nil {
		return nil, nil
	}
	r.top.psub = n.Subtree
	t, err := r.repo.LoadTree(ctx, *n.Subtree)
	if err != nil {
		return nil, fmt.Errorf("backup: parent snapshot %s: %w", sn.ID.Str(), err)
	}
	return t, nil
}

// findNode looks a name up in a tree (nodes sorted by name).
func findNode(t *restic.Tree, name string) *restic.Node {
	if t == nil {
		return nil
	}
	i := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].Name >= name })
	if i < len(t.Nodes) && t.Nodes[i].Name == name {
		return t.Nodes[i]
	}
	for _, n := range t.Nodes { // trees not sorted as expected
		if n.Name == name {
			return n
		}
	}
	return nil
}

// counts are entries below a folder not yet added to the summary.
type counts struct {
	files, dirs int
	bytes       int64
}

// plan compares a folder's entries with the parent snapshot's tree and
// decides which files to read, depth first (only the parent trees of the
// current path are in memory). A folder whose every entry (recursively)
// would be stored exactly as the parent's node is marked same: its tree
// is the parent's subtree, reused without encoding it again, and its
// entries are dropped. It returns what below dir the summary has not yet
// counted.
//
// Subfolders are planned in parallel (loading and decoding the parent's
// trees is most of the work of a backup where little changed): one
// goroutine per free slot of r.planSlots, inline otherwise.
func (r *run) plan(ctx context.Context, dir *entry, ptree *restic.Tree) (counts, error) {
	var below counts
	same := dir.psub != nil && ptree != nil && len(ptree.Nodes) == len(dir.children)
	type subdir struct {
		c   *entry
		p   *restic.Node
		cc  counts
		err error
	}
	var subs []*subdir
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, c := range dir.children {
		if err := ctx.Err(); err != nil {
			return below, err
		}
		p := findNode(ptree, c.name)
		if c.typ == restic.NodeTypeDir {
			sd := &subdir{c: c, p: p}
			subs = append(subs, sd)
			do := func() {
				var sub *restic.Tree
				if p != nil && p.Type == restic.NodeTypeDir && p.Subtree != nil {
					c.psub = p.Subtree
					t, err := r.repo.LoadTree(ctx, *p.Subtree)
					if err != nil {
						r.report(c.path, fmt.Errorf("parent snapshot's tree: %w (files are read again)", err))
					} else {
						sub = t
					}
				}
				sd.cc, sd.err = r.plan(ctx, c, sub)
			}
			select {
			case r.planSlots <- struct{}{}:
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-r.planSlots }()
					do()
				}()
			default:
				do()
			}
			continue
		}
		below.files++
		below.bytes += int64(c.size)
		var n *restic.Node
		if p != nil {
			n = r.nodeOf(c)
		}
		switch {
		case p == nil:
			c.state = stateNew
		case c.typ == restic.NodeTypeFile && r.reusable(c, n, p):
			c.state = stateUnmodified
		case c.typ != restic.NodeTypeFile && sameMeta(n, p):
			c.state = stateUnmodified
		default:
			c.state = stateChanged
		}
		if c.typ != restic.NodeTypeFile {
			same = same && c.state == stateUnmodified && nodeEqual(n, p)
			r.filesDone.Add(1)
			continue
		}
		if c.state == stateUnmodified {
			c.content = p.Content
			c.xattrs = streamXattrs(p)
			r.filesDone.Add(1)
			r.bytesDone.Add(int64(c.size))
			if same {
				n.Content = c.content
				n.ExtendedAttributes = append(n.ExtendedAttributes, c.xattrs...)
				same = nodeEqual(n, p)
			}
			continue
		}
		same = false
		c.read = true
		r.toRead.Add(int64(c.size))
		r.mu.Lock()
		r.toReadList = append(r.toReadList, c)
		r.mu.Unlock()
	}
	wg.Wait()
	for _, sd := range subs {
		if sd.err != nil {
			return below, sd.err
		}
		below.files += sd.cc.files
		below.bytes += sd.cc.bytes
		below.dirs += sd.cc.dirs + 1
		same = same && sd.c.same && sd.p != nil && nodeEqual(r.nodeOf(sd.c), sd.p)
	}
	if same && r.repo.Index().Has(restic.BlobHandle{ID: *dir.psub, Type: restic.TreeBlob}) && r.reuseChecked(dir) {
		dir.same = true
		r.mu.Lock()
		r.sum.FilesUnmodified += below.files
		r.sum.TotalFiles += below.files
		r.sum.TotalBytes += below.bytes
		r.sum.DirsUnmodified += below.dirs
		r.mu.Unlock()
		dir.children = nil
		return counts{}, nil
	}
	return below, nil
}

// reuseChecks is how many folders marked same are first encoded again and
// compared with the parent's subtree: proof that the parent's trees were
// written by an encoder that writes these nodes byte for byte as grain does
// (a parent written otherwise, e.g. by another program, is then encoded
// again all through).
const reuseChecks = 16

// reuseChecked reports whether dir may keep the parent's subtree: always,
// once reuseChecks folders were encoded again to the very same blob; never
// after one was not.
func (r *run) reuseChecked(dir *entry) bool {
	r.reuseMu.Lock()
	defer r.reuseMu.Unlock()
	if r.reuseBad {
		return false
	}
	if r.reuseGood >= reuseChecks {
		return true
	}
	tree := &restic.Tree{Nodes: make([]*restic.Node, 0, len(dir.children))}
	for _, c := range dir.children {
		tree.Nodes = append(tree.Nodes, r.nodeOf(c))
	}
	b, err := restic.EncodeTree(tree)
	if err != nil || restic.Hash(b) != *dir.psub {
		r.reuseBad = true
		return false
	}
	r.reuseGood++
	return true
}

// nodeEqual reports whether a and b encode alike (a reused subtree must
// be byte for byte what encoding the folder again would give). Any doubt
// is a difference: the folder's tree is then encoded again.
func nodeEqual(a, b *restic.Node) bool {
	if a.Name != b.Name || a.Type != b.Type || a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID ||
		a.User != b.User || a.Group != b.Group || a.Inode != b.Inode || a.DeviceID != b.DeviceID ||
		a.Size != b.Size || a.Links != b.Links || a.LinkTarget != b.LinkTarget || a.Device != b.Device ||
		a.Error != b.Error || !bytes.Equal(a.LinkTargetRaw, b.LinkTargetRaw) ||
		!timeSame(a.ModTime, b.ModTime) || !timeSame(a.AccessTime, b.AccessTime) || !timeSame(a.ChangeTime, b.ChangeTime) {
		return false
	}
	if (a.Content == nil) != (b.Content == nil) || !slices.Equal(a.Content, b.Content) {
		return false
	}
	if (a.Subtree == nil) != (b.Subtree == nil) || a.Subtree != nil && *a.Subtree != *b.Subtree {
		return false
	}
	if len(a.ExtendedAttributes) != len(b.ExtendedAttributes) || len(a.GenericAttributes) != len(b.GenericAttributes) {
		return false
	}
	for i, x := range a.ExtendedAttributes {
		y := b.ExtendedAttributes[i]
		if x.Name != y.Name || !bytes.Equal(x.Value, y.Value) || (x.Value == nil) != (y.Value == nil) {
			return false
		}
	}
	for k, v := range a.GenericAttributes {
		w, ok := b.GenericAttributes[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// timeSame reports whether two times encode alike in JSON (RFC 3339 with
// the zone's offset; years out of range are never taken as alike).
func timeSame(a, b time.Time) bool {
	if !a.Equal(b) || a.Year() < 0 || a.Year() > 9999 {
		return false
	}
	_, oa := a.Zone()
	_, ob := b.Zone()
	return oa == ob
}

func sameMeta(a, b *restic.Node) bool {
	return a.Type == b.Type && a.Size == b.Size && a.ModTime.Equal(b.ModTime) && a.ChangeTime.Equal(b.ChangeTime) &&
		a.Inode == b.Inode && a.LinkTarget == b.LinkTarget && a.Mode == b.Mode
}

// reusable reports whether file c can keep the content of the parent's
// node p without being read.
func (r *run) reusable(c *entry, n, p *restic.Node) bool {
	if p.Type != restic.NodeTypeFile || p.Size != n.Size || !p.ModTime.Equal(n.ModTime) ||
		!p.ChangeTime.Equal(n.ChangeTime) || p.Inode != n.Inode {
		return false
	}
	if r.changes.All {
		return false
	}
	if r.changes.Any {
		m := fsys.MetaOf(c.info)
		if m == nil || c.special || len(m.Streams) > 0 || !c.vol.mappable || (len(m.Extents) == 0 && n.Size > 0) {
			return false
		}
		for _, e := range m.Extents {
			if r.changes.Touches(c.vol.offset+e.Physical, e.Length) {
				return false
			}
		}
	}
	if n.Size > 0 && len(p.Content) == 0 {
		return false
	}
	idx := r.repo.Index()
	for _, id := range p.Content {
		if !idx.Has(restic.BlobHandle{ID: id, Type: restic.DataBlob}) {
			return false
		}
	}
	return true
}

// readFiles reads the files to read in disk order with a pool of
// workers; hard links of one file are read once.
func (r *run) readFiles(ctx context.Context) error {
	list := r.toReadList
	r.toReadList = nil
	type key struct {
		dev, ino uint64
	}
	first := map[key]*entry{}
	var work, links []*entry
	for _, e := range list {
		if m := fsys.MetaOf(e.info); m != nil && m.Nlink > 1 && m.Inode != 0 {
			k := key{e.vol.dev, m.Inode}
			if f, ok := first[k]; ok && f.size == e.size {
				e.linkTo = f
				links = append(links, e)
				continue
			}
			first[k] = e
		}
		work = append(work, e)
	}
	first, list = nil, nil
	startOf := func(e *entry) int64 {
		if m := fsys.MetaOf(e.info); m != nil && len(m.Extents) > 0 {
			return m.Extents[0].Physical
		}
		return -1 // resident data: read with the metadata, early
	}
	sort.SliceStable(work, func(i, j int) bool {
		a, b := work[i], work[j]
		if a.vol.dev != b.vol.dev {
			return a.vol.dev < b.vol.dev
		}
		return startOf(a) < startOf(b)
	})
	workers := r.opts.Workers
	if workers <= 0 {
		workers = 3
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fatal error
	var fatalOnce sync.Once
	ch := make(chan *entry)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ck := chunker.New(nil, r.repo.Config().ChunkerPolynomial)
			buf := make([]byte, chunker.MaxSize)
			for e := range ch {
				err := r.readFile(ctx, e, ck, &buf)
				if err == nil {
					err = r.done(ctx, e.parent)
				}
				if err != nil {
					fatalOnce.Do(func() { fatal = err; cancel() })
				}
			}
		}()
	}
	for i, e := range work {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		work[i] = nil // freed with its folder
	}
	close(ch)
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, e := range links {
		if e.linkTo.err != nil {
			e.err = e.linkTo.err
			r.report(e.path, fmt.Errorf("hard link of /%s, which could not be read", e.linkTo.path))
		} else {
			e.content = e.linkTo.content
			e.xattrs = e.linkTo.xattrs
			r.filesDone.Add(1)
			r.bytesDone.Add(int64(e.size))
		}
		if err := r.done(ctx, e.parent); err != nil {
			return err
		}
	}
	return nil
}

// countReader counts the bytes read from the image.
type countReader struct {
	r    io.Reader
	run  *run
	done int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	c.run.bytesRead.Add(int64(n))
	c.run.bytesDone.Add(int64(n))
	return n, err
}

// readFile reads, chunks and stores one file. Errors of the image are
// reported and leave the file out; errors of the repository are
// returned (they end the backup).
func (r *run) readFile(ctx context.Context, e *entry, ck *chunker.Chunker, buf *[]byte) error {
	r.mu.Lock()
	r.current[e] = struct{}{}
	r.sum.FilesRead++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.current, e)
		r.mu.Unlock()
		r.filesDone.Add(1)
	}()
	f, err := r.img.OpenInfo(e.path, e.info)
	if err != nil {
		e.err = err
		r.report(e.path, err)
		return nil
	}
	defer f.Close()
	cr := &countReader{r: f, run: r}
	ck.Reset(cr, r.repo.Config().ChunkerPolynomial)
	var ids restic.IDs
	var size uint64
	for {
		c, err := ck.Next(*buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			e.err = err
			r.report(e.path, err)
			r.bytesDone.Add(int64(e.size) - cr.done)
			return nil
		}
		id, isNew, err := r.repo.SaveBlob(ctx, restic.DataBlob, c.Data)
		if err != nil {
			return fmt.Errorf("backup: /%s: %w", e.path, err)
		}
		if isNew {
			r.dataAdded.Add(int64(len(c.Data)))
			r.mu.Lock()
			r.newBlobs = append(r.newBlobs, restic.BlobHandle{ID: id, Type: restic.DataBlob})
			r.mu.Unlock()
		}
		ids = append(ids, id)
		size += uint64(c.Length)
		*buf = c.Data[:cap(c.Data)]
	}
	if size != e.size {
		e.err = fmt.Errorf("read %d bytes, the file has %d", size, e.size)
		r.report(e.path, e.err)
		r.bytesDone.Add(int64(e.size) - cr.done)
		return nil
	}
	if ids == nil {
		ids = restic.IDs{}
	}
	e.content = ids
	r.readStreams(e)
	return nil
}

// readStreams stores a file's named streams as extended attributes.
func (r *run) readStreams(e *entry) {
	m := fsys.MetaOf(e.info)
	if m == nil {
		return
	}
	for _, s := range m.Streams {
		if s.Size > MaxStreamXattr {
			r.report(e.path+":"+s.Name, fmt.Errorf("named stream of %d bytes not stored (larger than %d)", s.Size, MaxStreamXattr))
			continue
		}
		f, err := r.img.OpenStream(e.path, s.Name)
		if err != nil {
			r.report(e.path+":"+s.Name, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxStreamXattr+1))
		f.Close()
		r.bytesRead.Add(int64(len(data)))
		if err != nil || len(data) > MaxStreamXattr {
			if err == nil {
				err = fmt.Errorf("named stream longer than %d bytes not stored", MaxStreamXattr)
			}
			r.report(e.path+":"+s.Name, err)
			continue
		}
		e.xattrs = append(e.xattrs, restic.ExtendedAttribute{Name: StreamXattrPrefix + s.Name, Value: data})
	}
}

// writeTree stores a folder's tree after its subfolders' (bottom-up, the
// subfolders in parallel as plan does) and frees its entries. A folder
// marked same keeps the parent's subtree.
func (r *run) writeTree(ctx context.Context, dir *entry) (restic.ID, error) {
	if dir.same || dir.subtree != nil {
		return dir.treeID(), nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dir.children))
	for i, c := range dir.children {
		if c.typ != restic.NodeTypeDir || c.err != nil || c.same || c.subtree != nil {
			continue
		}
		do := func() {
			id, err := r.writeTree(ctx, c)
			if err != nil {
				errs[i] = err
				return
			}
			c.subtree = &id
		}
		select {
		case r.planSlots <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-r.planSlots }()
				do()
			}()
		default:
			do()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return restic.ID{}, err
	}
	return r.encodeDir(ctx, dir)
}

// encodeDir stores the tree of a folder whose entries are all done
// (subfolders written, files read), counts them and frees them.
func (r *run) encodeDir(ctx context.Context, dir *entry) (restic.ID, error) {
	tree := &restic.Tree{Nodes: make([]*restic.Node, 0, len(dir.children))}
	seen := make(map[string]bool, len(dir.children))
	for _, c := range dir.children {
		if c.err != nil {
			r.mu.Lock()
			r.sum.Errors++
			r.mu.Unlock()
			continue
		}
		if c.typ == restic.NodeTypeDir {
			id := c.treeID()
			r.mu.Lock()
			switch {
			case c.psub == nil:
				r.sum.DirsNew++
			case *c.psub == id:
				r.sum.DirsUnmodified++
			default:
				r.sum.DirsChanged++
			}
			r.mu.Unlock()
		} else {
			r.mu.Lock()
			switch c.state {
			case stateNew:
				r.sum.FilesNew++
			case stateChanged:
				r.sum.FilesChanged++
			default:
				r.sum.FilesUnmodified++
			}
			r.sum.TotalFiles++
			r.sum.TotalBytes += int64(c.size)
			r.mu.Unlock()
		}
		if seen[c.name] {
			r.report(c.path, errors.New("a second entry of this name in its folder is left out"))
			continue
		}
		seen[c.name] = true
		tree.Nodes = append(tree.Nodes, r.nodeOf(c))
	}
	b, err := restic.EncodeTree(tree)
	if err != nil {
		return restic.ID{}, fmt.Errorf("backup: /%s: %w", dir.path, err)
	}
	id, isNew, err := r.repo.SaveBlob(ctx, restic.TreeBlob, b)
	if err != nil {
		return restic.ID{}, fmt.Errorf("backup: /%s: %w", dir.path, err)
	}
	if isNew {
		r.mu.Lock()
		r.sum.TreeBlobs++
		r.sum.DataAdded += int64(len(b))
		r.newBlobs = append(r.newBlobs, restic.BlobHandle{ID: id, Type: restic.TreeBlob})
		r.mu.Unlock()
	}
	dir.children = nil
	return id, nil
}

// arm counts what each folder waits for before its tree can be written
// (its files to read, its subfolders to write, and one while arming), so
// that a folder's tree is written, and its entries freed, as soon as its
// last file is read (done), while other files are still being read. The
// trees of folders that wait for no file are written here; what is left
// when reading ends is written by finish.
func (r *run) arm(ctx context.Context, dir *entry) error {
	if dir.same {
		return nil
	}
	dir.pending.Store(1)
	for _, c := range dir.children {
		switch {
		case c.typ == restic.NodeTypeDir && !c.same:
			c.parent = dir
			dir.pending.Add(1)
			if err := r.arm(ctx, c); err != nil {
				return err
			}
		case c.read:
			c.parent = dir
			dir.pending.Add(1)
		}
	}
	return r.done(ctx, dir)
}

// done records that one entry of folder d is finished; the last one
// writes d's tree and finishes d in its own folder.
func (r *run) done(ctx context.Context, d *entry) error {
	for d != nil && d.pending.Add(-1) == 0 {
		id, err := r.encodeDir(ctx, d)
		if err != nil {
			return err
		}
		d.subtree = &id
		d = d.parent
	}
	return nil
}

// finish writes the trees, the packs and index, then the snapshot.
func (r *run) finish(ctx context.Context, host string, snapPaths []string, parent *restic.Snapshot) error {
	topID, err := r.writeTree(ctx, r.top)
	if err != nil {
		return err
	}
	r.top.subtree = &topID
	top := r.nodeOf(r.top)
	top.Subtree = &topID
	if r.top.psub == nil {
		r.sum.DirsNew++
	} else if *r.top.psub == topID {
		r.sum.DirsUnmodified++
	} else {
		r.sum.DirsChanged++
	}
	rootBlob, err := restic.EncodeTree(&restic.Tree{Nodes: []*restic.Node{top}})
	if err != nil {
		return err
	}
	rootID, isNew, err := r.repo.SaveBlob(ctx, restic.TreeBlob, rootBlob)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if isNew {
		r.sum.TreeBlobs++
		r.sum.DataAdded += int64(len(rootBlob))
		r.newBlobs = append(r.newBlobs, restic.BlobHandle{ID: rootID, Type: restic.TreeBlob})
	}
	if err := r.repo.Flush(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	idx := r.repo.Index()
	for _, h := range r.newBlobs {
		if pb, ok := idx.Lookup(h); ok {
			r.sum.DataAddedPacked += int64(pb.Length)
		}
		if h.Type == restic.DataBlob {
			r.sum.DataBlobs++
		}
	}
	r.newBlobs = nil
	r.sum.DataAdded += r.dataAdded.Load()
	r.sum.BytesRead = r.bytesRead.Load()
	r.sum.End = time.Now()

	tags := append(slices.Clone(r.opts.Tags), LayerTags(r.img.Disk())...)
	when := r.opts.Time
	if when.IsZero() {
		when = r.start
	}
	version := r.opts.ProgramVersion
	if version == "" {
		version = "grain"
	}
	sn := &restic.Snapshot{Time: when, Tree: &rootID, Paths: snapPaths, Hostname: host, Tags: tags,
		Excludes: r.opts.Excludes, ProgramVersion: version}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if uid := os.Getuid(); uid > 0 {
		sn.UID, sn.GID = uint32(uid), uint32(os.Getgid())
	}
	if parent != nil {
		id := parent.ID
		sn.Parent = &id
	}
	s := &r.sum
	sn.Summary = &restic.SnapshotSummary{BackupStart: s.Start, BackupEnd: s.End,
		FilesNew: uint(s.FilesNew), FilesChanged: uint(s.FilesChanged), FilesUnmodified: uint(s.FilesUnmodified),
		DirsNew: uint(s.DirsNew), DirsChanged: uint(s.DirsChanged), DirsUnmodified: uint(s.DirsUnmodified),
		DataBlobs: s.DataBlobs, TreeBlobs: s.TreeBlobs, DataAdded: uint64(s.DataAdded), DataAddedPacked: uint64(s.DataAddedPacked),
		TotalFilesProcessed: uint(s.TotalFiles), TotalBytesProcessed: uint64(s.TotalBytes)}
	id, err := r.repo.SaveSnapshot(ctx, sn)
	if err != nil {
		return fmt.Errorf("backup: save snapshot: %w", err)
	}
	r.sum.SnapshotID = id
	return nil
}

// status reports the progress now.
func (r *run) status() Status {
	s := Status{Elapsed: time.Since(r.start), FilesTotal: r.filesTotal.Load(), FilesDone: r.filesDone.Load(),
		BytesTotal: r.bytesTotal.Load(), BytesDone: r.bytesDone.Load(), BytesRead: r.bytesRead.Load(),
		ToRead: r.toRead.Load(), Errors: r.errs.Load()}
	r.mu.Lock()
	for e := range r.current {
		s.Current = append(s.Current, "/"+r.opts.Name+"/"+e.path)
	}
	r.mu.Unlock()
	slices.Sort(s.Current)
	return s
}

func (r *run) startProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	every := r.opts.ProgressInterval
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.opts.Progress(r.status())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		r.opts.Progress(r.status())
	}
}
