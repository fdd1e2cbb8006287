package ntfs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/ntfs"
	"github.com/grainvm/grain/internal/testutil"
)

// buildVolume builds (once, cached) the test volume of testdata/build.sh.
func buildVolume(t *testing.T) string {
	t.Helper()
	testutil.RequireTool(t, "mkntfs", "ntfs-3g", "python3")
	testutil.RequireRoot(t)
	script, err := os.ReadFile("testdata/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(testutil.Build(t, "ntfs-volume", string(script)), "vol.img")
}

func openImage(t testing.TB, path string) *ntfs.FS {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ntfs.Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mountRO mounts the image read-only with ntfs-3g.
func mountRO(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.Run(t, "ntfs-3g", "-o", "ro,streams_interface=windows", img, dir)
	t.Cleanup(func() {
		for i := 0; i < 20; i++ {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not unmount %s", dir)
	})
	return dir
}

func sha(t testing.TB, r io.Reader) string {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestConformance(t *testing.T) {
	v := openImage(t, buildVolume(t))
	// fstest reads every file byte by byte: leave out heavy/ (24 MiB).
	if err := fstest.TestFS(hideHeavy{v}, "a/hello.txt", "big/file_02500.dat", "links/target.txt", "comp/text.txt"); err != nil {
		t.Fatal(err)
	}
}

// hideHeavy leaves the root's "heavy" directory out of listings.
type hideHeavy struct{ *ntfs.FS }

func (h hideHeavy) ReadDir(name string) ([]fs.DirEntry, error) {
	l, err := h.FS.ReadDir(name)
	if name == "." {
		l = slices.DeleteFunc(l, func(e fs.DirEntry) bool { return e.Name() == "heavy" })
	}
	return l, err
}

func (h hideHeavy) Open(name string) (fs.File, error) {
	f, err := h.FS.Open(name)
	if err != nil || name != "." {
		return f, err
	}
	return hideHeavyDir{f.(fs.ReadDirFile)}, nil
}

type hideHeavyDir struct{ fs.ReadDirFile }

func (d hideHeavyDir) ReadDir(n int) ([]fs.DirEntry, error) {
	l, err := d.ReadDirFile.ReadDir(n)
	for i := 0; i < len(l); i++ {
		if l[i].Name() == "heavy" {
			l = slices.Delete(l, i, i+1)
			if n > 0 && len(l) == 0 {
				return d.ReadDir(n)
			}
		}
	}
	return l, err
}

// TestAgainstNTFS3G compares every file with an ntfs-3g read-only mount:
// names, types, sizes, times, link counts, link targets, and the sha256 of
// contents and named streams.
func TestAgainstNTFS3G(t *testing.T) {
	compareNTFS3G(t, buildVolume(t))
}

// bigClusterScript makes a volume with 128 KiB clusters (sectors per
// cluster encoded as 2^(256-0xF8)) and a few files.
const bigClusterScript = `
truncate -s 64M vol.img
mkntfs -F -Q -q -c 131072 -L big vol.img >/dev/null 2>&1
mnt=$(mktemp -d)
ntfs-3g -o streams_interface=windows vol.img "$mnt"
mkdir "$mnt/d"
head -c 300000 /dev/urandom > "$mnt/d/r.bin"
echo small > "$mnt/s.txt"
echo stream > "$mnt/s.txt:x"
truncate -s 1M "$mnt/sparse"
echo x >> "$mnt/sparse"
umount "$mnt"
rmdir "$mnt"
`

func TestBigClusters(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g")
	testutil.RequireRoot(t)
	img := filepath.Join(testutil.Build(t, "ntfs-128k", bigClusterScript), "vol.img")
	if v := openImage(t, img); v.ClusterSize() != 128<<10 {
		t.Fatalf("cluster size %d", v.ClusterSize())
	}
	compareNTFS3G(t, img)
}

func compareNTFS3G(t *testing.T, img string) {
	v := openImage(t, img)
	mnt := mountRO(t, img)
	want := map[string]bool{}
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		want[rel] = true
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		info, err := v.Lstat(rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		m := fsys.MetaOf(info)
		if info.Mode().Type() != st.Mode().Type() {
			t.Errorf("%s: type %v, ntfs-3g %v", rel, info.Mode().Type(), st.Mode().Type())
			return nil
		}
		if !info.ModTime().Equal(st.ModTime()) {
			t.Errorf("%s: mtime %v, ntfs-3g %v", rel, info.ModTime(), st.ModTime())
		}
		if !hasExtra(m, "short_name") || st.Mode().IsDir() {
			if n := statNlink(st); !st.IsDir() && n != 0 && uint32(n) != m.Nlink {
				t.Errorf("%s: nlink %d, ntfs-3g %d", rel, m.Nlink, n)
			}
		}
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got, err := v.ReadLink(rel)
			if err != nil {
				t.Errorf("%s: ReadLink: %v", rel, err)
				return nil
			}
			g := strings.ReplaceAll(got, `\`, "/")
			if i := strings.Index(target, "/.NTFS-3G/"); i >= 0 {
				target = target[i+len("/.NTFS-3G/"):]
			}
			if g != target {
				t.Errorf("%s: link target %q, ntfs-3g %q", rel, got, target)
			}
		case st.Mode().IsRegular():
			if info.Size() != st.Size() {
				t.Errorf("%s: size %d, ntfs-3g %d", rel, info.Size(), st.Size())
			}
			f, err := v.Open(rel)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
			got := sha(t, f.(io.Reader))
			f.Close()
			if w := testutil.FileSHA256(t, p); got != w {
				t.Errorf("%s: content sha256 %s, ntfs-3g %s", rel, got, w)
			}
			for _, s := range m.Streams {
				sf, err := v.OpenStream(rel, s.Name)
				if err != nil {
					t.Errorf("%s:%s: %v", rel, s.Name, err)
					continue
				}
				got := sha(t, sf)
				sf.Close()
				if w := testutil.FileSHA256(t, p+":"+s.Name); got != w {
					t.Errorf("%s:%s: sha256 %s, ntfs-3g %s", rel, s.Name, got, w)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing more than ntfs-3g lists, walking either way.
	got := map[string]bool{}
	if err := fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." {
			got[p] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for p := range got {
		if !want[p] {
			t.Errorf("%s listed, ntfs-3g does not list it", p)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("%s not listed (ntfs-3g lists it)", p)
		}
	}
	// Usage as ntfs-3g's statfs reports it.
	out := string(testutil.Run(t, "df", "-B1", "--output=size,used", mnt))
	f := strings.Fields(out)
	total, used, ok := v.Usage()
	if !ok || len(f) < 4 || strconv.FormatInt(total, 10) != f[2] || strconv.FormatInt(used, 10) != f[3] {
		t.Errorf("usage %d/%d (%v), df says %q", used, total, ok, out)
	}
}

func hasExtra(m *fsys.Meta, key string) bool {
	for _, kv := range m.Extra {
		if kv.Key == key {
			return true
		}
	}
	return false
}

func extra(m *fsys.Meta, key string) string {
	for _, kv := range m.Extra {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// TestWalk checks that the MFT-pass Walk gives exactly what a directory
// descent gives.
func TestWalk(t *testing.T) {
	v := openImage(t, buildVolume(t))
	type ent struct {
		mode fs.FileMode
		size int64
		ino  uint64
	}
	descent := map[string]ent{}
	if err := fs.WalkDir(v, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		descent[p] = ent{info.Mode(), info.Size(), fsys.MetaOf(info).Inode}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	walked := map[string]ent{}
	seen := map[string]bool{}
	if err := v.Walk(".", func(p string, info fs.FileInfo) error {
		if dir := pathDir(p); p != "." && !seen[dir] {
			t.Errorf("%s walked before its directory", p)
		}
		seen[p] = true
		walked[p] = ent{info.Mode(), info.Size(), fsys.MetaOf(info).Inode}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != len(descent) {
		t.Errorf("Walk gave %d entries, WalkDir %d", len(walked), len(descent))
	}
	for p, e := range descent {
		if walked[p] != e {
			t.Errorf("%s: Walk %+v, WalkDir %+v", p, walked[p], e)
		}
	}
	// SkipDir.
	n := 0
	if err := v.Walk(".", func(p string, info fs.FileInfo) error {
		n++
		if p == "big" || p == "links" {
			return fs.SkipDir
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(descent)-5001-251 {
		t.Errorf("Walk with SkipDir gave %d entries, want %d", n, len(descent)-5001-251)
	}
	// A subtree.
	n = 0
	if err := v.Walk("a/b", func(p string, info fs.FileInfo) error {
		if !strings.HasPrefix(p, "a/b") {
			t.Errorf("Walk(a/b) gave %s", p)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("Walk(a/b) gave %d entries, want 6", n)
	}
}

func pathDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

var flsLine = regexp.MustCompile(`^(\S)/(\S) (\*? ?)(\d+)(?:-(\d+)-(\d+))?:\t(.*)$`)

// TestAgainstSleuthkit compares the tree with fls, times and attributes
// with istat, and content with icat.
func TestAgainstSleuthkit(t *testing.T) {
	testutil.RequireTool(t, "fls", "istat", "icat", "fsstat")
	img := buildVolume(t)
	v := openImage(t, img)
	ours := map[string]*fsys.Meta{}
	if err := v.Walk(".", func(p string, info fs.FileInfo) error {
		ours[p] = fsys.MetaOf(info)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := string(testutil.Run(t, "fls", "-r", "-p", img))
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		mm := flsLine.FindStringSubmatch(line)
		if mm == nil {
			t.Fatalf("fls line %q not understood", line)
		}
		name := mm[7]
		if strings.HasPrefix(name, "$") || mm[3] != "" {
			continue // metadata files, deleted entries
		}
		inode, _ := strconv.ParseUint(mm[4], 10, 64)
		path, stream, _ := strings.Cut(name, ":")
		m := ours[path]
		if m == nil {
			t.Errorf("fls lists %s, Walk does not", path)
			continue
		}
		if m.Inode != inode {
			t.Errorf("%s: MFT record %d, fls %d", path, m.Inode, inode)
		}
		if stream != "" && !slices.ContainsFunc(m.Streams, func(s fsys.Stream) bool { return s.Name == stream }) {
			t.Errorf("%s: stream %q not listed", path, stream)
		}
		checked++
	}
	if checked < 100 {
		t.Errorf("only %d fls entries compared", checked)
	}
	// Deleted entries are never listed.
	if _, err := v.Stat("deleted.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted.txt: %v, want not found", err)
	}
	// istat times and attributes; icat content.
	for _, p := range []string{"a/hello.txt", "a/b/random.bin", "heavy/fragmented.bin", "sparse.bin", "comp/text.txt", "comp/random.bin", "links/target.txt", "streams.txt", "tiny.txt"} {
		info, err := v.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		m := fsys.MetaOf(info)
		ist := string(testutil.Run(t, "istat", img, strconv.FormatUint(m.Inode, 10)))
		si := ist[strings.Index(ist, "$STANDARD_INFORMATION"):]
		si = si[:strings.Index(si, "$FILE_NAME")]
		for _, c := range []struct {
			label string
			tm    time.Time
		}{{"Created", m.Birth}, {"File Modified", m.Modify}, {"MFT Modified", m.Change}, {"Accessed", m.Access}} {
			w := regexp.MustCompile(c.label + `:\s+(\S+ \S+) \(UTC\)`).FindStringSubmatch(si)
			if w == nil {
				t.Fatalf("istat %s: no %s", p, c.label)
			}
			if got := c.tm.UTC().Format("2006-01-02 15:04:05.000000000"); got != w[1] {
				t.Errorf("%s: %s %s, istat %s", p, c.label, got, w[1])
			}
		}
		if w := regexp.MustCompile(`Sequence: (\d+)`).FindStringSubmatch(ist); w == nil || w[1] != strconv.Itoa(int(m.Generation)) {
			t.Errorf("%s: sequence %d, istat %v", p, m.Generation, w)
		}
		f, err := v.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got := sha(t, f.(io.Reader))
		f.Close()
		w := sha(t, bytes.NewReader(testutil.Run(t, "icat", img, strconv.FormatUint(m.Inode, 10))))
		if got != w {
			t.Errorf("%s: sha256 %s, icat %s", p, got, w)
		}
	}
	// Label and serial as fsstat prints them.
	fst := string(testutil.Run(t, "fsstat", img))
	serial := regexp.MustCompile(`Volume Serial Number: ([0-9A-F]+)`).FindStringSubmatch(fst)
	if serial == nil || len(serial[1]) != 16 {
		t.Fatalf("fsstat serial not found")
	}
	if want := serial[1][8:12] + "-" + serial[1][12:]; v.ID() != want {
		t.Errorf("ID %s, fsstat serial %s", v.ID(), serial[1])
	}
	if !strings.Contains(fst, "Volume Name: "+v.Label()+"\n") || v.Label() == "" {
		t.Errorf("label %q, fsstat:\n%s", v.Label(), fst)
	}
}

// TestNames checks case-insensitive look-ups, DOS names, hard links and
// the large directory.
func TestNames(t *testing.T) {
	v := openImage(t, buildVolume(t))
	for _, c := range []struct{ path, want string }{
		{"A/HELLO.TXT", "hello\n"},
		{"a/Hello.Txt", "hello\n"},
		{"Case.txt", "upper\n"},
		{"case.txt", "lower\n"},
		{"BIG/FILE_02500.DAT", "content\n"},
		{"ALONGF~1.TXT", "longname\n"},
		{"ünïcødé ✓ 日本語.TXT", "unicode\n"},
	} {
		b, err := fs.ReadFile(v, c.path)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.path, b, err, c.want)
		}
	}
	ents, err := v.ReadDir("big")
	if err != nil || len(ents) != 5001 {
		t.Fatalf("big: %d entries, %v", len(ents), err)
	}
	root, _ := v.ReadDir(".")
	for _, e := range root {
		if strings.HasPrefix(e.Name(), "$") || e.Name() == "ALONGF~1.TXT" {
			t.Errorf("root lists %s", e.Name())
		}
	}
	info, err := v.Stat("A long file name.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := extra(fsys.MetaOf(info), "short_name"); got != "ALONGF~1.TXT" {
		t.Errorf("short name %q", got)
	}
	info, err = v.Stat("links/target.txt")
	if err != nil {
		t.Fatal(err)
	}
	if m := fsys.MetaOf(info); m.Nlink != 251 {
		t.Errorf("links/target.txt: nlink %d, want 251", m.Nlink)
	}
	links, _ := v.ReadDir("links")
	if len(links) != 251 {
		t.Errorf("links: %d entries, want 251", len(links))
	}
	// Metadata files are reachable by exact name.
	if info, err := v.Stat("$MFT"); err != nil || fsys.MetaOf(info).Inode != 0 {
		t.Errorf("$MFT: %v", err)
	}
}

// TestMeta checks the metadata grain reports against what the volume was
// built with.
func TestMeta(t *testing.T) {
	v := openImage(t, buildVolume(t))
	info, err := v.Stat("sparse.bin")
	if err != nil {
		t.Fatal(err)
	}
	m := fsys.MetaOf(info)
	if m.Attributes&ntfs.FileAttributeSparseFile == 0 && m.Allocated >= m.Size {
		t.Errorf("sparse.bin: attributes 0x%x, allocated %d of %d", m.Attributes, m.Allocated, m.Size)
	}
	var sum int64
	for _, e := range m.Extents {
		sum += e.Length
	}
	if sum > m.Allocated || len(m.Extents) == 0 {
		t.Errorf("sparse.bin: extents %v, allocated %d", m.Extents, m.Allocated)
	}
	info, _ = v.Stat("heavy/fragmented.bin")
	m = fsys.MetaOf(info)
	if len(m.Extents) < 2 {
		t.Errorf("fragmented.bin: %d extents, want several", len(m.Extents))
	}
	// Extents really hold the data.
	f, _ := os.Open(buildVolume(t))
	defer f.Close()
	data, _ := fs.ReadFile(v, "heavy/fragmented.bin")
	for _, e := range m.Extents {
		b := make([]byte, e.Length)
		if _, err := f.ReadAt(b, e.Physical); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data[e.Logical:e.Logical+e.Length]) {
			t.Errorf("fragmented.bin: extent %+v does not hold the data", e)
		}
	}
	info, _ = v.Lstat("junction")
	m = fsys.MetaOf(info)
	if m.ReparseTag != ntfs.TagMountPoint || m.LinkTarget != `C:\Users` || info.Mode().Type() != fs.ModeSymlink {
		t.Errorf("junction: tag 0x%x target %q mode %v", m.ReparseTag, m.LinkTarget, info.Mode())
	}
	info, _ = v.Stat("comp/text.txt")
	m = fsys.MetaOf(info)
	if !m.Compressed || m.Attributes&ntfs.FileAttributeCompressed == 0 || m.Allocated >= m.Size {
		t.Errorf("comp/text.txt: compressed %v attributes 0x%x allocated %d", m.Compressed, m.Attributes, m.Allocated)
	}
	info, _ = v.Stat("streams.txt")
	m = fsys.MetaOf(info)
	if fmt.Sprint(m.Streams) != "[{big 100000 102400} {one 11 0}]" && fmt.Sprint(m.Streams) != "[{one 11 0} {big 100000 102400}]" {
		t.Errorf("streams.txt: streams %v", m.Streams)
	}
}
