package xfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/internal/testutil"
)

// oracleEntry is what the kernel reports for one path of a mounted volume.
type oracleEntry struct {
	st     syscall.Stat_t
	birth  string // stat %.9W
	sha    string
	link   string
	xattrs map[string]string
}

// kernelListing walks a mounted volume through the kernel.
func kernelListing(t *testing.T, root string, births bool) map[string]*oracleEntry {
	t.Helper()
	out := map[string]*oracleEntry{}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		e := &oracleEntry{xattrs: map[string]string{}}
		if err := syscall.Lstat(p, &e.st); err != nil {
			return err
		}
		switch e.st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			e.sha = hex.EncodeToString(s[:])
		case syscall.S_IFLNK:
			if e.link, err = os.Readlink(p); err != nil {
				// mkfs.xfs 6.1 writes v5 remote links from a protofile
				// that the kernel refuses; such links are checked apart.
				t.Logf("kernel: %v", err)
				e.link = "?"
			}
		}
		if e.st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			buf := make([]byte, 1<<16)
			n, err := syscall.Listxattr(p, buf)
			if err == nil {
				for _, name := range strings.Split(string(buf[:n]), "\x00") {
					if name == "" {
						continue
					}
					v := make([]byte, 1<<16)
					m, err := syscall.Getxattr(p, name, v)
					if err != nil {
						return err
					}
					e.xattrs[name] = string(v[:m])
				}
			}
		}
		out[rel] = e
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if births {
		// Birth times through statx, as coreutils stat prints them.
		for i := 0; i < len(paths); i += 500 {
			j := min(i+500, len(paths))
			args := append([]string{"-c", "%i %.9W"}, paths[i:j]...)
			res := testutil.Run(t, "stat", args...)
			lines := strings.Split(strings.TrimSpace(string(res)), "\n")
			for k, l := range lines {
				rel, _ := filepath.Rel(root, paths[i+k])
				out[filepath.ToSlash(rel)].birth = strings.Fields(l)[1]
			}
		}
	}
	return out
}

type compareOpts struct {
	inodes bool // inode numbers and times are comparable (same volume)
}

func tsString(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond() + 1e9)[1:]
}

// compare checks every path of the kernel's listing against x.
func compare(t *testing.T, x *FS, want map[string]*oracleEntry, o compareOpts) {
	t.Helper()
	got := map[string]bool{}
	err := fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		got[p] = true
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	for p := range want {
		if !got[p] {
			t.Errorf("%s: missing", p)
		}
	}
	for p := range got {
		if want[p] == nil {
			t.Errorf("%s: not in the kernel's listing", p)
		}
	}
	var names []string
	for p := range want {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		w := want[p]
		if !got[p] {
			continue
		}
		info, err := x.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		m := fsys.MetaOf(info)
		if m.UnixMode != w.st.Mode || m.UID != w.st.Uid || m.GID != w.st.Gid || m.Nlink != uint32(w.st.Nlink) {
			t.Errorf("%s: mode/uid/gid/nlink %o %d %d %d, kernel %o %d %d %d", p, m.UnixMode, m.UID, m.GID, m.Nlink, w.st.Mode, w.st.Uid, w.st.Gid, w.st.Nlink)
		}
		sizeMatters := o.inodes || w.st.Mode&syscall.S_IFMT != syscall.S_IFDIR // directory sizes depend on the format
		if sizeMatters && info.Size() != w.st.Size && w.st.Mode&syscall.S_IFMT != syscall.S_IFCHR && w.st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
			t.Errorf("%s: size %d, kernel %d", p, info.Size(), w.st.Size)
		}
		if m.Rdev != w.st.Rdev {
			t.Errorf("%s: rdev %#x, kernel %#x", p, m.Rdev, w.st.Rdev)
		}
		if o.inodes {
			if m.Inode != w.st.Ino {
				t.Errorf("%s: inode %d, kernel %d", p, m.Inode, w.st.Ino)
			}
			if m.Allocated != w.st.Blocks*512 {
				t.Errorf("%s: allocated %d, kernel %d", p, m.Allocated, w.st.Blocks*512)
			}
			for _, c := range []struct {
				name string
				got  time.Time
				sec  int64
				nsec int64
			}{
				{"atime", m.Access, w.st.Atim.Sec, w.st.Atim.Nsec},
				{"mtime", m.Modify, w.st.Mtim.Sec, w.st.Mtim.Nsec},
				{"ctime", m.Change, w.st.Ctim.Sec, w.st.Ctim.Nsec},
			} {
				if !c.got.Equal(time.Unix(c.sec, c.nsec)) {
					t.Errorf("%s: %s %v, kernel %v", p, c.name, c.got, time.Unix(c.sec, c.nsec))
				}
			}
			if !info.ModTime().Equal(m.Modify) {
				t.Errorf("%s: ModTime %v != Meta.Modify %v", p, info.ModTime(), m.Modify)
			}
			if w.birth != "" && w.birth != "-" && w.birth != tsString(m.Birth) {
				t.Errorf("%s: birth %s, kernel %s", p, tsString(m.Birth), w.birth)
			}
		}
		if w.sha != "" {
			f, err := x.Open(p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				t.Errorf("%s: read: %v", p, err)
			}
			f.Close()
			if s := hex.EncodeToString(h.Sum(nil)); s != w.sha {
				t.Errorf("%s: sha256 %s, kernel %s", p, s, w.sha)
			}
		}
		if w.link != "" && w.link != "?" {
			l, err := x.ReadLink(p)
			if err != nil || l != w.link || m.LinkTarget != w.link {
				t.Errorf("%s: link %q (%v), meta %q, kernel %q", p, l, err, m.LinkTarget, w.link)
			}
		}
		gx := map[string]string{}
		for _, a := range m.Xattrs {
			gx[a.Name] = string(a.Value)
		}
		if len(gx) != len(w.xattrs) {
			t.Errorf("%s: %d xattrs, kernel %d", p, len(gx), len(w.xattrs))
		}
		for k, v := range w.xattrs {
			if gx[k] != v {
				t.Errorf("%s: xattr %s: %d bytes %.20q, kernel %d bytes %.20q", p, k, len(gx[k]), gx[k], len(v), v)
			}
		}
	}
}

// checkExtents compares Meta.Extents of regular files with the data read
// straight from the volume.
func checkDataExtents(t *testing.T, x *FS, img string, paths ...string) {
	t.Helper()
	vol, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		info, err := x.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		content, err := fs.ReadFile(x, p)
		if err != nil {
			t.Fatal(err)
		}
		var last int64 = -1
		for _, e := range fsys.MetaOf(info).Extents {
			if e.Logical <= last {
				t.Errorf("%s: extents out of order", p)
			}
			last = e.Logical
			end := min(e.Logical+e.Length, int64(len(content)))
			if !bytes.Equal(vol[e.Physical:e.Physical+end-e.Logical], content[e.Logical:end]) {
				t.Errorf("%s: extent %+v does not hold the file's data", p, e)
			}
		}
	}
}

func testMounted(t *testing.T, name, opts string) {
	img := buildMounted(t, name, opts)
	done := testutil.Unchanged(t, img)
	defer done()
	x := openImage(t, img)
	mnt := mountRO(t, img)
	want := kernelListing(t, mnt, true)
	if len(want) < 3200 || len(want["xattr-many"].xattrs) != 300 || want["xattr-large"].xattrs["user.larger"] == "" {
		t.Fatalf("kernel listing incomplete: %d paths", len(want))
	}
	compare(t, x, want, compareOpts{inodes: true})
	checkDataExtents(t, x, img, "manyext.bin", "frag1.bin", "unwritten.bin", "rand-reflink.bin", "sparse.bin")
	if err := fstest.TestFS(x, "a/b/c/d/deep.txt", "big/entry-with-a-rather-long-name-number-3200", "long-link", "xattr-many"); err != nil {
		t.Error(err)
	}
	if x.Label() != "grain-xfs" {
		t.Errorf("label %q", x.Label())
	}
	blkid := strings.TrimSpace(string(testutil.Run(t, "blkid", "-o", "value", "-s", "UUID", img)))
	if x.ID() != blkid {
		t.Errorf("ID %s, blkid %s", x.ID(), blkid)
	}
	checkUsage(t, x, mnt)
	if w := x.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

// checkUsage compares Usage with xfs_db's superblock counters.
func checkUsage(t *testing.T, x *FS, mnt string) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	total, used, ok := x.Usage()
	if !ok {
		t.Fatal("Usage not ok")
	}
	// statfs reports the data device less the internal log, and the free
	// blocks less the reserved pool; compare the used bytes loosely.
	free := int64(st.Bfree) * st.Bsize
	if total < int64(st.Blocks)*st.Bsize || used < 0 || used > total || total-used < free {
		t.Errorf("usage total %d used %d; statfs blocks %d free %d", total, used, int64(st.Blocks)*st.Bsize, free)
	}
}

func TestV5Default(t *testing.T) { testMounted(t, "v5", "") }

func TestV5Small(t *testing.T) {
	testMounted(t, "v5-1k", "-b size=1024 -m bigtime=0 -i nrext64=1")
}

func TestV5BigInodes(t *testing.T) {
	testMounted(t, "v5-isize1k", "-i size=1024 -n size=16384")
}

// testProto compares a protofile-made volume (v4) with the same tree made
// as v5 and read through the kernel.
func testProto(t *testing.T, name, opts string) {
	img := buildProto(t, name, opts)
	twin := buildProto(t, "proto-v5", "")
	x := openImage(t, img)
	if x.Version() != 4 {
		t.Fatalf("version %d", x.Version())
	}
	want := kernelListing(t, mountRO(t, twin), false)
	compare(t, x, want, compareOpts{})
	if l, err := x.ReadLink("long-link"); err != nil || l != strings.Repeat("y", 700) {
		t.Errorf("long-link: %q, %v; want the protofile's 700 y", l, err)
	}
	if err := fstest.TestFS(x, "a/b/deep.txt", "big/entry-with-a-rather-long-name-number-1", "long-link"); err != nil {
		t.Error(err)
	}
	if w := x.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

func TestV4(t *testing.T) { testProto(t, "v4", "-m crc=0") }

func TestV4NoFtype(t *testing.T) { testProto(t, "v4-noftype", "-m crc=0 -n ftype=0 -b size=1024") }

// TestSample reads the Windows-made xfs.vhdx, flattened by qemu-img.
func TestSample(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	src := testutil.Sample(t, "xfs.vhdx")
	dir := testutil.Build(t, "xfs-sample", `qemu-img convert -f vhdx -O raw "`+src+`" "$OUT/xfs.raw"`)
	img := filepath.Join(dir, "xfs.raw")
	done := testutil.Unchanged(t, src)
	defer done()
	// The disk holds a GPT; the XFS is its first partition (sfdisk says
	// where).
	testutil.RequireTool(t, "sfdisk", "blkid")
	var pt struct {
		PartitionTable struct {
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct {
				Node  string `json:"node"`
				Start int64  `json:"start"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(testutil.Run(t, "sfdisk", "-J", img), &pt); err != nil || len(pt.PartitionTable.Partitions) == 0 {
		t.Fatalf("sfdisk -J: %v", err)
	}
	ss := pt.PartitionTable.SectorSize
	if ss == 0 {
		ss = 512
	}
	off := pt.PartitionTable.Partitions[0].Start * ss
	x := openImageAt(t, img, off)
	// The sample is a v4 volume, which the kernel no longer mounts: the
	// oracle is xfs_db on a read-only loop device.
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "losetup", "xfs_db")
	dev := strings.TrimSpace(string(testutil.Run(t, "losetup", "-f", "--show", "-r", "-o", strconv.FormatInt(off, 10), img)))
	t.Cleanup(func() { testutil.Run(t, "losetup", "-d", dev) })
	compareXFSDB(t, x, dev)
	// The root holds a 400 MB file, too slow for fstest: test a subtree.
	sub, _ := fs.Sub(x, "folder")
	if err := fstest.TestFS(sub, "file.1000"); err != nil {
		t.Error(err)
	}
	blkid := strings.TrimSpace(string(testutil.Run(t, "blkid", "-p", "-O", strconv.FormatInt(off, 10), "-o", "value", "-s", "UUID", img)))
	if x.ID() != blkid {
		t.Errorf("ID %s, blkid %s", x.ID(), blkid)
	}
	if w := x.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
}

var lsLine = regexp.MustCompile(`^\s*\d+\s+(\d+)\s+\S+\s+0x[0-9a-f]+\s+\d+\s+(.*) \((good|bad)\)$`)

// compareXFSDB checks every directory's entries and every inode's core
// fields against xfs_db (ls, inode/print).
func compareXFSDB(t *testing.T, x *FS, dev string) {
	t.Helper()
	type ent struct {
		path string
		ino  uint64
	}
	dirs := []string{"/"}
	var all []ent
	for len(dirs) > 0 {
		var args []string
		for _, d := range dirs {
			args = append(args, "-c", "ls "+d)
		}
		out := string(testutil.Run(t, "xfs_db", append(append([]string{"-r"}, args...), dev)...))
		next := dirs[:0:0]
		cur := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasSuffix(l, ":") && strings.HasPrefix(l, "/") {
				cur = strings.TrimSuffix(l, ":")
				continue
			}
			m := lsLine.FindStringSubmatch(l)
			if m == nil || m[2] == "." || m[2] == ".." {
				continue
			}
			ino, _ := strconv.ParseUint(m[1], 10, 64)
			p := strings.TrimPrefix(cur+"/"+m[2], "/")
			p = strings.TrimPrefix(p, "/")
			all = append(all, ent{p, ino})
			info, err := x.Lstat(p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			if got := fsys.MetaOf(info).Inode; got != ino {
				t.Errorf("%s: inode %d, xfs_db %d", p, got, ino)
			}
			if info.IsDir() {
				next = append(next, "/"+p)
			}
		}
		dirs = next
	}
	n := 0
	fs.WalkDir(x, ".", func(p string, d fs.DirEntry, err error) error {
		if p != "." {
			n++
		}
		return nil
	})
	if n != len(all) || n == 0 {
		t.Errorf("%d paths, xfs_db lists %d", n, len(all))
	}
	// Core fields, a batch of inodes per xfs_db run.
	for i := 0; i < len(all); i += 400 {
		batch := all[i:min(i+400, len(all))]
		var args []string
		for _, e := range batch {
			args = append(args, "-c", fmt.Sprintf("inode %d", e.ino), "-c", "print core.mode core.uid core.gid core.size core.nlinkv2 core.mtime.nsec core.atime.nsec core.gen")
		}
		out := strings.Split(strings.TrimSpace(string(testutil.Run(t, "xfs_db", append(append([]string{"-r"}, args...), dev)...))), "\n")
		if len(out) != 8*len(batch) {
			t.Fatalf("xfs_db printed %d lines for %d inodes", len(out), len(batch))
		}
		for k, e := range batch {
			info, err := x.Lstat(e.path)
			if err != nil {
				continue
			}
			m := fsys.MetaOf(info)
			got := []string{fmt.Sprintf("0%o", m.UnixMode), fmt.Sprint(m.UID), fmt.Sprint(m.GID), fmt.Sprint(m.Size),
				fmt.Sprint(m.Nlink), fmt.Sprint(m.Modify.Nanosecond()), fmt.Sprint(m.Access.Nanosecond()), fmt.Sprint(m.Generation)}
			for f := 0; f < 8; f++ {
				l := out[8*k+f]
				v := l[strings.Index(l, "= ")+2:]
				if v != got[f] && !(f == 3 && info.Mode()&fs.ModeDevice != 0) {
					t.Errorf("%s: %s, got %s", e.path, l, got[f])
				}
			}
		}
	}
}
