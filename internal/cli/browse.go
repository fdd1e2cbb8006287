package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/grainvm/grain/guest"
)

// treePath turns a user's path ("/p2/Users", "p2\Users", "") into an
// io/fs path ("p2/Users", ".").
func treePath(p string) (string, error) {
	p = strings.ReplaceAll(p, `\`, "/")
	p = strings.Trim(p, "/")
	if p == "" {
		return ".", nil
	}
	clean := path.Clean(p)
	if !fs.ValidPath(clean) {
		return "", usageError{fmt.Errorf("invalid path %q", p)}
	}
	return clean, nil
}

// openAt opens an image and turns the user's path in it into a tree path.
func (a *app) openAt(image, p string) (*guest.Image, string, error) {
	name, err := treePath(p)
	if err != nil {
		return nil, "", err
	}
	img, err := a.openImage(image)
	return img, name, err
}

func (a *app) lsCommand() *cobra.Command {
	var long, recursive, all bool
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "ls [-l] [-R] [-a] IMAGE [PATH] | ls --repo REPO SNAPSHOT [PATH]",
		Short: "List a directory of the image (default /: the volumes), or of a backup snapshot",
		Args:  args(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rf.repo != "" {
				return a.lsRepo(cmd.Context(), &rf, args, long, recursive)
			}
			p := ""
			if len(args) == 2 {
				p = args[1]
			}
			return a.ls(args[0], p, long, recursive, all)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&long, "long", "l", false, "show type, size and modification time")
	f.BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	f.BoolVarP(&all, "all", "a", false, "show hidden entries (dot files, hidden and system files)")
	f.BoolVar(&a.json, "json", false, "print one JSON object per entry")
	rf.add(cmd)
	return cmd
}

func (a *app) ls(image, p string, long, recursive, all bool) error {
	img, name, err := a.openAt(image, p)
	if err != nil {
		return err
	}
	defer img.Close()
	info, err := img.Stat(name)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return a.printEntry(img, name, info, long)
	}
	var failed int
	err = fs.WalkDir(img, name, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(a.stderr, "grain: %v\n", err)
			failed++
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if q == name {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			fmt.Fprintf(a.stderr, "grain: %s: %v\n", q, err)
			failed++
			return nil
		}
		if !all && hidden(info) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := a.printEntry(img, q, info, long); err != nil {
			return err
		}
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("ls: %d entries could not be read", failed)
	}
	return nil
}

func (a *app) printEntry(img *guest.Image, p string, info fs.FileInfo, long bool) error {
	if a.json {
		return a.emitEntry(describeEntry(p, info, false))
	}
	display := "/" + p
	if !long {
		if info.IsDir() {
			display += "/"
		}
		_, err := fmt.Fprintln(a.stdout, display)
		return err
	}
	line := fmt.Sprintf("%-11s %12d %s %s", info.Mode().String(), info.Size(), info.ModTime().UTC().Format("2006-01-02 15:04:05"), display)
	if info.Mode()&fs.ModeSymlink != 0 {
		if t, err := img.ReadLink(p); err == nil {
			line += " -> " + t
		}
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

func (a *app) statCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stat IMAGE PATH",
		Short: "Show everything grain knows about a file",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.stat(args[0], args[1])
		},
	}
	cmd.Flags().BoolVar(&a.json, "json", false, "print one JSON object")
	return cmd
}

func (a *app) stat(image, p string) error {
	img, name, err := a.openAt(image, p)
	if err != nil {
		return err
	}
	defer img.Close()
	info, err := img.Lstat(name)
	if err != nil {
		return err
	}
	j := describeEntry(name, info, true)
	if a.json {
		return a.emit(j)
	}
	w := a.stdout
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-12s %s\n", k+":", v)
		}
	}
	row("path", j.Path)
	row("type", j.Type)
	row("size", fmt.Sprintf("%d", j.Size))
	if j.Allocated > 0 {
		row("allocated", fmt.Sprintf("%d", j.Allocated))
	}
	row("mode", j.Mode)
	row("unix mode", j.UnixMode)
	if j.UID != nil {
		row("owner", fmt.Sprintf("uid %d, gid %d", *j.UID, *j.GID))
	}
	row("attributes", strings.Join(j.Attributes, ", "))
	row("created", j.Created.String())
	row("modified", j.Modified.String())
	row("accessed", j.Accessed.String())
	row("changed", j.Changed.String())
	if j.Inode != 0 {
		row("inode", fmt.Sprintf("%d (generation %d)", j.Inode, j.Generation))
	}
	if j.Nlink != 0 {
		row("links", fmt.Sprintf("%d", j.Nlink))
	}
	if j.Rdev != 0 {
		row("device", fmt.Sprintf("%d, %d", j.Rdev>>8&0xfff, j.Rdev&0xff|(j.Rdev>>12)&0xfff00))
	}
	row("target", j.Target)
	row("reparse tag", j.ReparseTag)
	row("special", j.Special)
	if j.Compressed {
		row("compressed", "yes")
	}
	for _, s := range j.Streams {
		row("stream", fmt.Sprintf("%s (%d bytes)", s.Name, s.Size))
	}
	for _, k := range sortedKeys(j.Xattrs) {
		row("xattr", k+" = "+j.Xattrs[k])
	}
	if j.Extents > 0 {
		row("extents", fmt.Sprintf("%d", j.Extents))
	}
	for _, k := range sortedKeys(j.Extra) {
		row(k, j.Extra[k])
	}
	return nil
}

func (a *app) catCommand() *cobra.Command {
	var stream string
	cmd := &cobra.Command{
		Use:   "cat IMAGE PATH",
		Short: "Write a file's contents (or a named data stream) to standard output",
		Args:  args(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cat(args[0], args[1], stream)
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "", "read this named data stream (NTFS alternate data stream)")
	return cmd
}

func (a *app) cat(image, p, stream string) error {
	img, name, err := a.openAt(image, p)
	if err != nil {
		return err
	}
	defer img.Close()
	var f fs.File
	if stream != "" {
		f, err = img.OpenStream(name, stream)
	} else {
		f, err = img.Open(name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("cat: /%s is a directory", name)
	}
	// A large buffer: reading is limited by the storage, not by syscalls.
	buf := make([]byte, catBlock)
	if _, err := io.CopyBuffer(onlyWriter{a.stdout}, onlyReader{f}, buf); err != nil {
		return fmt.Errorf("cat: /%s: %w", name, err)
	}
	return nil
}

// catBlock is the unit cat reads and writes. cat reads and writes in
// turn on one goroutine: reading ahead on others was tried, and cost more
// CPU (the data written is then in another core's cache) without being
// faster on two cores.
const catBlock = 1 << 20

// onlyReader and onlyWriter hide ReadFrom/WriteTo so CopyBuffer uses the
// buffer it is given.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func (a *app) findCommand() *cobra.Command {
	var q findQuery
	var types, size, newer, older string
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "find IMAGE [PATH] | find --repo REPO NAME-GLOB",
		Short: "Search the image by name, type, size and time",
		Long: `find lists every file below PATH (default: the whole image) that matches
all the conditions given. --size takes [+|-]N[K|M|G|T] (+ larger than,
- smaller than, bare: exactly); --newer and --older take a date
(2006-01-02), a time (2006-01-02T15:04:05Z) or an age (90m, 36h, 7d).`,
		Args: args(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rf.repo != "" {
				return a.findRepo(cmd.Context(), &rf, args[0], false)
			}
			if err := q.parse(types, size, newer, older, time.Now()); err != nil {
				return usageError{err}
			}
			p := ""
			if len(args) == 2 {
				p = args[1]
			}
			return a.find(args[0], p, &q)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.name, "name", "", "file name matches this glob (case-sensitive)")
	f.StringVar(&q.iname, "iname", "", "file name matches this glob, ignoring case")
	f.StringVar(&types, "type", "", "types to list: f (file), d (directory), l (link), comma-separated")
	f.StringVar(&size, "size", "", "size condition, [+|-]N[K|M|G|T]")
	f.StringVar(&newer, "newer", "", "modified after this time")
	f.StringVar(&older, "older", "", "modified before this time")
	f.BoolVar(&a.json, "json", false, "print one JSON object per match, with all metadata")
	rf.add(cmd)
	return cmd
}

type findQuery struct {
	name, iname  string
	types        map[string]bool
	sizeOp       byte // '+', '-', '='
	size         int64
	newer, older time.Time
}

func (q *findQuery) parse(types, size, newer, older string, now time.Time) error {
	if q.name != "" {
		if _, err := path.Match(q.name, ""); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
	}
	if q.iname != "" {
		q.iname = strings.ToLower(q.iname)
		if _, err := path.Match(q.iname, ""); err != nil {
			return fmt.Errorf("--iname: %w", err)
		}
	}
	if types != "" {
		q.types = map[string]bool{}
		for _, t := range strings.Split(types, ",") {
			switch strings.TrimSpace(t) {
			case "f":
				q.types["file"] = true
			case "d":
				q.types["dir"] = true
			case "l":
				q.types["symlink"] = true
			default:
				return fmt.Errorf("--type: unknown type %q (use f, d, l)", t)
			}
		}
	}
	if size != "" {
		q.sizeOp = '='
		if size[0] == '+' || size[0] == '-' {
			q.sizeOp, size = size[0], size[1:]
		}
		n, err := parseSize(size)
		if err != nil {
			return fmt.Errorf("--size: %w", err)
		}
		q.size = n
	}
	var err error
	if q.newer, err = parseWhen(newer, now); err != nil {
		return fmt.Errorf("--newer: %w", err)
	}
	if q.older, err = parseWhen(older, now); err != nil {
		return fmt.Errorf("--older: %w", err)
	}
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	if s != "" {
		switch strings.ToUpper(s[len(s)-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("not a time or age: %q", s)
}

func (q *findQuery) match(info fs.FileInfo) bool {
	return q.matchName(info.Name(), info.Mode().Type()) && q.matchInfo(info)
}

// matchEntry is match for a walk's entry, reading its Info only when a
// size or time test needs it.
func (q *findQuery) matchEntry(d fs.DirEntry) (bool, error) {
	if !q.matchName(d.Name(), d.Type()) {
		return false, nil
	}
	if q.sizeOp == 0 && q.newer.IsZero() && q.older.IsZero() {
		return true, nil
	}
	info, err := d.Info()
	if err != nil {
		return false, err
	}
	return q.matchInfo(info), nil
}

// matchName tests the name and type.
func (q *findQuery) matchName(name string, typ fs.FileMode) bool {
	if q.name != "" {
		if ok, _ := path.Match(q.name, name); !ok {
			return false
		}
	}
	if q.iname != "" {
		if ok, _ := path.Match(q.iname, strings.ToLower(name)); !ok {
			return false
		}
	}
	return q.types == nil || q.types[fileType(typ)]
}

// matchInfo tests the size and times.
func (q *findQuery) matchInfo(info fs.FileInfo) bool {
	if q.sizeOp != 0 {
		s := info.Size()
		switch q.sizeOp {
		case '+':
			if s <= q.size {
				return false
			}
		case '-':
			if s >= q.size {
				return false
			}
		default:
			if s != q.size {
				return false
			}
		}
	}
	mt := info.ModTime()
	if !q.newer.IsZero() && !mt.After(q.newer) {
		return false
	}
	if !q.older.IsZero() && !mt.Before(q.older) {
		return false
	}
	return true
}

func (a *app) find(image, p string, q *findQuery) error {
	img, root, err := a.openAt(image, p)
	if err != nil {
		return err
	}
	defer img.Close()
	if a.json {
		return a.findJSON(img, root, q)
	}
	// The lines go into 1 MiB chunks, not a string each (a volume lists
	// hundreds of thousands) nor one buffer that is copied as it grows.
	// Output is sorted for people; drivers whose walk already gives that
	// order (ext4, XFS) need no sort, and then no index of the lines
	// either: it is made only once a line comes out of order.
	type lineRef struct{ chunk, start, end int }
	var chunks [][]byte
	var refs []lineRef // nil while the lines are in order
	var last []byte    // the previous line, without "/" and newline
	sorted := true
	err = img.WalkDir(root, func(fp string, d fs.DirEntry) error {
		if fp == "." {
			return nil
		}
		if ok, err := q.matchEntry(d); err != nil || !ok {
			return err
		}
		if sorted && last != nil && string(last) > fp {
			sorted = false
			for c, b := range chunks {
				for start := 0; start < len(b); {
					end := start + bytes.IndexByte(b[start:], '\n') + 1
					refs = append(refs, lineRef{c, start, end})
					start = end
				}
			}
		}
		need := len(fp) + 2
		if len(chunks) == 0 || cap(chunks[len(chunks)-1])-len(chunks[len(chunks)-1]) < need {
			chunks = append(chunks, make([]byte, 0, max(1<<20, need)))
		}
		c := len(chunks) - 1
		b := chunks[c]
		start := len(b)
		b = append(b, '/')
		b = append(b, fp...)
		b = append(b, '\n')
		chunks[c] = b
		last = b[start+1 : len(b)-1]
		if !sorted {
			refs = append(refs, lineRef{c, start, len(b)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !sorted {
		line := func(r lineRef) []byte { return chunks[r.chunk][r.start:r.end] }
		// Compare without the newline, so "/a" sorts before "/a-b".
		sort.Slice(refs, func(i, j int) bool {
			a, b := line(refs[i]), line(refs[j])
			return string(a[:len(a)-1]) < string(b[:len(b)-1])
		})
		w := bufio.NewWriterSize(a.stdout, 1<<20)
		for _, r := range refs {
			w.Write(line(r))
		}
		return w.Flush()
	}
	for _, c := range chunks {
		if _, err := a.stdout.Write(c); err != nil {
			return err
		}
	}
	return nil
}

// findBatch is a run of matches encoded together.
type findBatch struct {
	paths []string
	infos []fs.FileInfo
	out   []byte
	done  chan struct{} // closed when out is ready
}

// findBatchSize is how many matches are encoded together.
const findBatchSize = 512

// findJSON prints the --json line of each match in walk order. The walk
// runs on this goroutine; batches of matches are encoded on the others
// (a whole volume lists hundreds of thousands) and written in order by a
// writer. At most a few batches are in flight, so memory stays bounded.
func (a *app) findJSON(img *guest.Image, root string, q *findQuery) error {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *findBatch, workers)
	ordered := make(chan *findBatch, 2*workers+2)
	free := make(chan *findBatch, 2*workers+4)
	stop := make(chan struct{}) // closed by the writer when a write fails
	var writeErr error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := range ordered {
			<-b.done
			if writeErr == nil {
				if _, err := a.stdout.Write(b.out); err != nil {
					writeErr = err
					close(stop)
				}
			}
			clear(b.paths)
			clear(b.infos)
			b.paths, b.infos, b.out = b.paths[:0], b.infos[:0], b.out[:0]
			select {
			case free <- b:
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc infoEncoder
			for b := range work {
				for i, p := range b.paths {
					b.out = append(enc.appendInfo(b.out, p, b.infos[i]), '\n')
				}
				close(b.done)
			}
		}()
	}
	newBatch := func() *findBatch {
		select {
		case b := <-free:
			b.done = make(chan struct{})
			return b
		default:
			return &findBatch{
				paths: make([]string, 0, findBatchSize),
				infos: make([]fs.FileInfo, 0, findBatchSize),
				// Room for typical lines: growing it would copy it.
				out:  make([]byte, 0, findBatchSize*512),
				done: make(chan struct{}),
			}
		}
	}
	send := func(b *findBatch) error {
		select {
		case ordered <- b:
		case <-stop:
			return writeErr
		}
		work <- b
		return nil
	}
	cur := newBatch()
	err := img.Walk(root, func(fp string, info fs.FileInfo) error {
		if fp == "." || !q.match(info) {
			return nil
		}
		cur.paths = append(cur.paths, fp)
		cur.infos = append(cur.infos, info)
		if len(cur.paths) < findBatchSize {
			return nil
		}
		if err := send(cur); err != nil {
			return err
		}
		cur = newBatch()
		return nil
	})
	// What was matched before a walk error is printed too, as the walk
	// gave it.
	if len(cur.paths) > 0 {
		if serr := send(cur); err == nil {
			err = serr
		}
	}
	close(work)
	close(ordered)
	wg.Wait()
	<-writerDone
	if err == nil {
		err = writeErr
	}
	return err
}
