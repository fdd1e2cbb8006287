//go:build linux

package ext4

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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

// mountRO loop-mounts img read-only without journal replay.
func mountRO(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	opts := "ro,noload,loop"
	if strings.HasSuffix(img, "ext2.img") || strings.HasSuffix(img, "ext2-notype.img") {
		opts = "ro,loop" // no journal: noload is refused
	}
	testutil.Run(t, "mount", "-o", opts, img, dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func openImage(t *testing.T, img string) *FS {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(fh, st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	return v
}

func tsTime(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec).UTC() }

// birthTimes asks stat(1) (statx) for the birth times under dir.
func birthTimes(t *testing.T, dir string) map[string]string {
	out := testutil.Run(t, "find", dir, "-exec", "stat", "-c", "%n|%.9W", "{}", "+")
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i := strings.LastIndexByte(line, '|'); i > 0 {
			m[line[:i]] = line[i+1:]
		}
	}
	return m
}

func kernelXattrs(path string) map[string]string {
	m := map[string]string{}
	buf := make([]byte, 64<<10)
	n, err := syscall.Listxattr(path, buf)
	if err != nil {
		return m
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		k, err := syscall.Getxattr(path, name, v)
		if err != nil {
			continue
		}
		m[name] = string(v[:k])
	}
	return m
}

func TestCompareWithKernel(t *testing.T) {
	dir := images(t)
	for _, name := range variants {
		t.Run(name, func(t *testing.T) {
			img := imagePath(dir, name)
			done := testutil.Unchanged(t, img)
			defer done()
			v := openImage(t, img)
			full := true
			mnt := ""
			if name == "ext4-casefold" {
				// The kernel here has no CONFIG_UNICODE: compare with the
				// same tree in another image, less what differs by image.
				full = false
				mnt = mountRO(t, imagePath(dir, "ext4-i128"))
			} else {
				mnt = mountRO(t, img)
			}
			compareTree(t, v, mnt, full)
			if full {
				checkVolumeFacts(t, v, img)
			}
			for _, w := range v.Warnings() {
				t.Errorf("warning: %s", w)
			}
		})
	}
}

func compareTree(t *testing.T, v *FS, mnt string, full bool) {
	births := birthTimes(t, mnt)
	count := 0
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		rel = filepath.ToSlash(rel)
		if rel == "lost+found" {
			return nil
		}
		count++
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		info, err := v.Lstat(rel)
		if err != nil {
			t.Errorf("%s: Lstat: %v", rel, err)
			return nil
		}
		m := fsys.MetaOf(info)
		if m == nil {
			t.Fatalf("%s: no Meta", rel)
		}
		for _, kv := range m.Extra {
			if kv.Key == "error" {
				t.Errorf("%s: meta error: %s", rel, kv.Value)
			}
		}
		check := func(what string, got, want any) {
			if got != want {
				t.Errorf("%s: %s = %v, kernel says %v", rel, what, got, want)
			}
		}
		if full {
			check("inode", m.Inode, st.Ino)
			check("nlink", uint64(m.Nlink), uint64(st.Nlink))
			check("allocated", m.Allocated, st.Blocks*512)
			check("mtime", m.Modify, tsTime(st.Mtim))
			check("atime", m.Access, tsTime(st.Atim))
			check("ctime", m.Change, tsTime(st.Ctim))
			check("ModTime", info.ModTime(), tsTime(st.Mtim))
			if b := births[p]; b != "" && b != "0.000000000" && b != "0" {
				got := strconv.FormatInt(m.Birth.Unix(), 10) + "." + strconv.FormatInt(int64(m.Birth.Nanosecond())+1e9, 10)[1:]
				check("birth", got, b)
			} else if !m.Birth.IsZero() && b == "0" {
				t.Errorf("%s: birth %v, kernel has none", rel, m.Birth)
			}
		}
		check("mode", m.UnixMode, st.Mode)
		check("uid", m.UID, st.Uid)
		check("gid", m.GID, st.Gid)
		if !full && mode(st.Mode)&fs.ModeDir != 0 {
			st.Size = m.Size // directory sizes differ by layout
		}
		check("size", m.Size, st.Size)
		check("Size()", info.Size(), st.Size)
		check("rdev", m.Rdev, st.Rdev)
		mode := info.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := v.ReadLink(rel)
			check("readlink err", err, nil)
			check("readlink", got, want)
			check("LinkTarget", m.LinkTarget, want)
		case mode.IsRegular():
			checkContent(t, v, rel, p)
		case mode.IsDir():
			want, _ := os.ReadDir(p)
			got, err := v.ReadDir(rel)
			if err != nil {
				t.Errorf("%s: ReadDir: %v", rel, err)
				break
			}
			var wn, gn []string
			for _, e := range want {
				wn = append(wn, e.Name()+" "+e.Type().String())
			}
			for _, e := range got {
				gn = append(gn, e.Name()+" "+e.Type().String())
			}
			sort.Strings(wn)
			if strings.Join(wn, ",") != strings.Join(gn, ",") {
				t.Errorf("%s: ReadDir lists %d entries, kernel %d", rel, len(gn), len(wn))
			}
		}
		if mode&fs.ModeSymlink == 0 {
			want := kernelXattrs(p)
			got := map[string]string{}
			for _, x := range m.Xattrs {
				got[x.Name] = string(x.Value)
			}
			if len(got) != len(want) {
				t.Errorf("%s: xattrs %q, kernel %q", rel, got, want)
			}
			for k, wv := range want {
				if gv, ok := got[k]; !ok || gv != wv {
					t.Errorf("%s: xattr %s = %q, kernel %q", rel, k, gv, wv)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count < 1500 {
		t.Errorf("walked only %d files", count)
	}
}

func mode(m uint32) fs.FileMode { return fileMode(uint16(m)) }

func checkContent(t *testing.T, v *FS, rel, p string) {
	want := testutil.FileSHA256(t, p)
	f, err := v.Open(rel)
	if err != nil {
		t.Errorf("%s: Open: %v", rel, err)
		return
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Errorf("%s: read: %v", rel, err)
		return
	}
	if got := hexString(h.Sum(nil)); got != want {
		t.Errorf("%s: sha256 %s, kernel %s", rel, got, want)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// checkVolumeFacts compares type, label, UUID (blkid) and usage (dumpe2fs).
func checkVolumeFacts(t *testing.T, v *FS, img string) {
	blk := func(tag string) string {
		return strings.TrimSpace(string(testutil.Run(t, "blkid", "-p", "-o", "value", "-s", tag, img)))
	}
	if got, want := v.Type(), blk("TYPE"); got != want {
		t.Errorf("Type = %q, blkid %q", got, want)
	}
	if got, want := v.Label(), blk("LABEL"); got != want {
		t.Errorf("Label = %q, blkid %q", got, want)
	}
	if got, want := v.ID(), blk("UUID"); got != want {
		t.Errorf("ID = %q, blkid %q", got, want)
	}
	out := string(testutil.Run(t, "dumpe2fs", "-h", img))
	field := func(name string) int64 {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, name+":") {
				n, _ := strconv.ParseInt(strings.TrimSpace(line[len(name)+1:]), 10, 64)
				return n
			}
		}
		t.Fatalf("dumpe2fs: no %s", name)
		return 0
	}
	total, used, ok := v.Usage()
	bs := field("Block size")
	if !ok || total != field("Block count")*bs || used != total-field("Free blocks")*bs {
		t.Errorf("Usage = %d, %d, %v; dumpe2fs: %d blocks, %d free, of %d", total, used, ok, field("Block count"), field("Free blocks"), bs)
	}
}

// TestFSContract runs testing/fstest over a whole built volume.
func TestFSContract(t *testing.T) {
	dir := images(t)
	for _, name := range []string{"ext4", "ext2", "ext4-inline"} {
		t.Run(name, func(t *testing.T) {
			v := openImage(t, imagePath(dir, name))
			if err := fstest.TestFS(v, "a/b/c/hello.txt", "big/file_with_a_longish_name_2999", "long_link", "attrs.txt"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestExtents compares Meta.Extents with the kernel's FIEMAP (filefrag).
func TestExtents(t *testing.T) {
	testutil.RequireTool(t, "filefrag")
	dir := images(t)
	for _, name := range []string{"ext4", "ext3"} {
		img := imagePath(dir, name)
		v := openImage(t, img)
		mnt := mountRO(t, img)
		for _, rel := range []string{"k/frag1", "large.bin", "sparse.bin", "k/prealloc_written"} {
			if name == "ext3" && strings.HasPrefix(rel, "k/prealloc") {
				continue
			}
			info, err := v.Stat(rel)
			if err != nil {
				t.Fatal(err)
			}
			m := fsys.MetaOf(info)
			out := string(testutil.Run(t, "filefrag", "-e", "-b1", filepath.Join(mnt, rel)))
			var want []fsys.Extent
			for _, line := range strings.Split(out, "\n") {
				fl := strings.Fields(strings.NewReplacer(":", " ", "..", " ").Replace(line))
				if len(fl) < 6 {
					continue
				}
				if _, err := strconv.Atoi(fl[0]); err != nil || strings.Contains(line, "unwritten") {
					continue
				}
				lo, _ := strconv.ParseInt(fl[1], 10, 64)
				po, _ := strconv.ParseInt(fl[3], 10, 64)
				n, _ := strconv.ParseInt(fl[5], 10, 64)
				if k := len(want) - 1; k >= 0 && want[k].Logical+want[k].Length == lo && want[k].Physical+want[k].Length == po {
					want[k].Length += n
				} else {
					want = append(want, fsys.Extent{Logical: lo, Physical: po, Length: n})
				}
			}
			var got bytes.Buffer
			var exp bytes.Buffer
			for _, e := range m.Extents {
				got.WriteString(strconv.FormatInt(e.Logical, 10) + "+" + strconv.FormatInt(e.Length, 10) + "@" + strconv.FormatInt(e.Physical, 10) + " ")
			}
			for _, e := range want {
				exp.WriteString(strconv.FormatInt(e.Logical, 10) + "+" + strconv.FormatInt(e.Length, 10) + "@" + strconv.FormatInt(e.Physical, 10) + " ")
			}
			if got.String() != exp.String() {
				t.Errorf("%s %s: extents\n got %s\nwant %s", name, rel, got.String(), exp.String())
			}
		}
	}
}
