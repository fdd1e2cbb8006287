package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/grainvm/grain/fsys"

	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/internal/testutil"
)

// checkTarStream reads a stream Tar wrote with archive/tar's Reader and,
// for every entry, compares the header bytes in the stream with what
// archive/tar's Writer writes for the fields read back (the SCHILY.xattr
// records among them): the headers are archive/tar's, byte for byte. It
// returns how many entries of each type flag it saw.
func checkTarStream(t *testing.T, stream []byte) map[byte]int {
	t.Helper()
	seen := map[byte]int{}
	tr := tar.NewReader(bytes.NewReader(stream))
	pos := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("at byte %d: %v", pos, err)
		}
		// This entry's header bytes: an extended header and its data,
		// then the ustar block.
		start := pos
		if pos+tarBlock > len(stream) {
			t.Fatalf("%s: header beyond the end", hdr.Name)
		}
		if stream[pos+156] == tar.TypeXHeader {
			n, err := strconv.ParseInt(strings.TrimRight(string(stream[pos+124:pos+135]), "\x00"), 8, 64)
			if err != nil {
				t.Fatalf("%s: extended header size: %v", hdr.Name, err)
			}
			pos += tarBlock + int(n+tarPad(n))
		}
		pos += tarBlock
		h := tarHeader{
			typ: hdr.Typeflag, name: hdr.Name, link: hdr.Linkname, mode: hdr.Mode,
			uid: int64(hdr.Uid), gid: int64(hdr.Gid), size: hdr.Size,
			mtime: hdr.ModTime, atime: hdr.AccessTime, ctime: hdr.ChangeTime,
		}
		for k, v := range hdr.PAXRecords {
			if key, ok := strings.CutPrefix(k, paxXattr); ok {
				h.xattrs = append(h.xattrs, tarXattr{key, []byte(v)})
			}
		}
		want, err := tarOracle(&h)
		if err != nil {
			t.Fatalf("%s: archive/tar refuses the header read back: %v", hdr.Name, err)
		}
		if got := stream[start:pos]; !bytes.Equal(got, want) {
			t.Errorf("%s: header of %d bytes differs from archive/tar's (%d bytes)", hdr.Name, len(got), len(want))
		}
		seen[hdr.Typeflag]++
		if !headerOnly(hdr.Typeflag) {
			if n, err := io.Copy(io.Discard, tr); err != nil || n != hdr.Size {
				t.Fatalf("%s: content: %d bytes, %v", hdr.Name, n, err)
			}
			pos += int(hdr.Size + tarPad(hdr.Size))
		}
	}
	if end := stream[pos:]; len(end) != 2*tarBlock || !bytes.Equal(end, make([]byte, 2*tarBlock)) {
		t.Errorf("the stream ends with %d bytes after its last entry, want two zero blocks", len(end))
	}
	return seen
}

// TestTarHeadersOnImages: every header Tar writes for the demo image
// (FAT and NTFS, named streams as records and entries) and for an ext4
// image (long and non-ASCII names, links, owners, extended attributes,
// nanosecond times) is the one archive/tar writes.
func TestTarHeadersOnImages(t *testing.T) {
	t.Run("demo", func(t *testing.T) {
		img, err := guest.Open(testutil.DemoImage(t, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		var out bytes.Buffer
		if _, err := Tar(&out, img, []string{"."}, &Options{Streams: true}); err != nil {
			t.Fatal(err)
		}
		seen := checkTarStream(t, out.Bytes())
		if !bytes.Contains(out.Bytes(), []byte("SCHILY.xattr.user.grain.stream.")) {
			t.Error("no named stream written as a record")
		}
		if seen[tar.TypeReg] < 3 || seen[tar.TypeDir] < 3 {
			t.Errorf("entries: %v", seen)
		}
	})
	t.Run("ext4", func(t *testing.T) {
		testutil.RequireTool(t, "mkfs.ext4", "python3")
		dir := testutil.Build(t, "extract-tar-headers-ext4", `
mkdir -p src/docs/deep "src/unicode ünïcødé 名前" src/$(printf 'd%.0s' $(seq 1 120))
long=$(printf 'n%.0s' $(seq 1 200))
printf 'hello\n' > src/docs/hello.txt
printf 'long\n' > "src/docs/$long"
head -c 70000 /dev/urandom > "src/unicode ünïcødé 名前/file"
ln src/docs/hello.txt src/docs/hard.txt
ln -s ../docs/hello.txt src/docs/rel-link
ln -s "$(printf 't%.0s' $(seq 1 150))" src/docs/long-link
ln -s "ünï" src/docs/unicode-link
chmod 0600 src/docs/hello.txt
python3 -c 'import os; os.setxattr("src/docs/hello.txt", "user.comment", b"a=b\x00c"); os.setxattr("src/docs/deep", "user.z", b"z")'
touch -h -d '2023-04-05 06:07:08.123456789' src/docs/* src/docs
touch -d '2021-01-01 00:00:00' src/docs/deep
mkfs.ext4 -q -F -d src -b 4096 -I 256 disk.img 32M
`)
		img, err := guest.Open(filepath.Join(dir, "disk.img"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		var out bytes.Buffer
		if _, err := Tar(&out, img, []string{"disk"}, &Options{}); err != nil {
			t.Fatal(err)
		}
		seen := checkTarStream(t, out.Bytes())
		for _, typ := range []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink} {
			if seen[typ] == 0 {
				t.Errorf("no entry of type %q: %v", typ, seen)
			}
		}
		if !bytes.Contains(out.Bytes(), []byte("SCHILY.xattr.user.comment=a=b\x00c\n")) {
			t.Error("the extended attribute is not in the stream")
		}
	})
}

// streamSource is a MapFS with NTFS-like named streams: each file's Meta
// (MapFile.Sys) lists them, and their content is the file's own repeated.
type streamSource struct{ fstest.MapFS }

func (s streamSource) Walk(root string, fn func(string, fs.FileInfo) error) error {
	return fs.WalkDir(s.MapFS, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, info)
	})
}

func (s streamSource) OpenStream(name, stream string) (fsys.File, error) {
	f := s.MapFS[name]
	for _, st := range fsys.MetaOf(mapInfo{f}).Streams {
		if st.Name == stream {
			if stream == "broken" {
				return nil, &fs.PathError{Op: "open", Path: name + ":" + stream, Err: fs.ErrPermission}
			}
			m := fstest.MapFS{"s": {Data: bytes.Repeat(f.Data, int(st.Size)/max(1, len(f.Data)))}}
			g, err := m.Open("s")
			if err != nil {
				return nil, err
			}
			return g.(fsys.File), nil
		}
	}
	return nil, fs.ErrNotExist
}

type mapInfo struct{ f *fstest.MapFile }

func (m mapInfo) Name() string       { return "" }
func (m mapInfo) Size() int64        { return int64(len(m.f.Data)) }
func (m mapInfo) Mode() fs.FileMode  { return m.f.Mode }
func (m mapInfo) ModTime() time.Time { return m.f.ModTime }
func (m mapInfo) IsDir() bool        { return false }
func (m mapInfo) Sys() any           { return m.f.Sys }

// TestTarStreams: with Streams, a file's small named streams are records
// of its header, large ones entries of their own ("FILE%3ASTREAM") after
// it, a stream that cannot be read is reported; every header is still
// archive/tar's.
func TestTarStreams(t *testing.T) {
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123, time.UTC)
	meta := &fsys.Meta{Access: mtime, Change: mtime, Streams: []fsys.Stream{
		{Name: "Zone.Identifier", Size: 100}, {Name: "big", Size: 200000}, {Name: "broken", Size: 10},
	}}
	src := streamSource{fstest.MapFS{
		"d/f.txt":   {Data: []byte("0123456789"), ModTime: mtime, Sys: meta},
		"d/g.txt":   {Data: []byte("plain"), ModTime: mtime},
		"d/e/h.bin": {Data: bytes.Repeat([]byte{7}, 70000), ModTime: mtime},
	}}
	var out bytes.Buffer
	var reports []string
	sum, err := Tar(&out, src, []string{"d"}, &Options{Streams: true, Report: func(p string, err error) { reports = append(reports, p) }})
	if !errors.Is(err, ErrFailed) || sum.Failed != 1 || len(reports) != 1 || reports[0] != "/d/f.txt" {
		t.Errorf("%+v, %v, reports %v", sum, err, reports)
	}
	checkTarStream(t, out.Bytes())
	// The same to a file (gathered writes on Linux).
	f, err := os.CreateTemp(t.TempDir(), "streams.tar")
	if err != nil {
		t.Fatal(err)
	}
	Tar(f, src, []string{"d"}, &Options{Streams: true})
	f.Close()
	if b, _ := os.ReadFile(f.Name()); !bytes.Equal(b, out.Bytes()) {
		t.Errorf("to a file: %d bytes, not the %d written to a buffer", len(b), out.Len())
	}
	tr := tar.NewReader(&out)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		b, _ := io.ReadAll(tr)
		switch hdr.Name {
		case "d/f.txt":
			if v := hdr.PAXRecords["SCHILY.xattr.user.grain.stream.Zone.Identifier"]; v != strings.Repeat("0123456789", 10) {
				t.Errorf("small stream record %q", v)
			}
			if _, ok := hdr.PAXRecords["SCHILY.xattr.user.grain.stream.big"]; ok {
				t.Error("large stream written as a record")
			}
		case "d/f.txt%3Abig":
			if !bytes.Equal(b, bytes.Repeat([]byte("0123456789"), 20000)) {
				t.Errorf("large stream entry: %d bytes", len(b))
			}
		}
	}
	want := []string{"d/", "d/e/", "d/f.txt", "d/f.txt%3Abig", "d/g.txt", "d/e/h.bin", "d/", "d/e/"}
	slices.Sort(want[2:6])
	got := slices.Clone(names)
	slices.Sort(got[2:6])
	if !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q (files in any order)", names, want)
	}
}

// TestTarRefusedHeader: a file whose header archive/tar would refuse (an
// extended attribute name with "=") is reported and left out; the rest
// of the archive is written.
func TestTarRefusedHeader(t *testing.T) {
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	src := streamSource{fstest.MapFS{
		"d/bad":  {Data: []byte("bad"), ModTime: mtime, Sys: &fsys.Meta{Xattrs: []fsys.Xattr{{Name: "user.a=b", Value: []byte("v")}}}},
		"d/good": {Data: []byte("good"), ModTime: mtime},
	}}
	var out bytes.Buffer
	var reports []string
	sum, err := Tar(&out, src, []string{"d"}, &Options{Report: func(p string, err error) { reports = append(reports, p) }})
	if !errors.Is(err, ErrFailed) || sum.Failed != 1 || sum.Files != 1 || len(reports) != 1 || reports[0] != "/d/bad" {
		t.Errorf("%+v, %v, reports %v", sum, err, reports)
	}
	seen := checkTarStream(t, out.Bytes())
	if seen[tar.TypeReg] != 1 || !bytes.Contains(out.Bytes(), []byte("good")) {
		t.Errorf("entries %v", seen)
	}
}
