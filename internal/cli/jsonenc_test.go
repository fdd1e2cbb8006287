package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/guest"
	"github.com/grainvm/grain/internal/testutil"
)

func TestAppendEntryJSONMatchesEncodingJSON(t *testing.T) {
	uid, gid := uint32(1000), uint32(0)
	entries := []entryJSON{
		{Path: "/", Name: "/", Type: "dir", Mode: "dr-xr-xr-x"},
		{Path: "/p1/a <b> & \"c\"\\\n\t\x01\x7f", Name: "ünï\u2028\u2029\xff\xfe名", Type: "file", Size: 12345, Mode: "-rw-r--r--",
			Modified: stamp{time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)}, Accessed: stamp{time.Unix(1, 0)},
			Changed: stamp{time.Unix(0, 1).In(time.FixedZone("x", 3600))}, Created: stamp{time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)}, Allocated: 4096,
			Inode: 1 << 40, Generation: 7, Nlink: 2, UnixMode: "100644", UID: &uid, GID: &gid, Rdev: 259,
			Attributes: []string{"hidden", "system"}, Target: "../t", ReparseTag: "0xa000000c", Special: "encrypted",
			Streams: []streamJSON{{Name: "Zone.Identifier", Size: 26}, {Name: "s", Size: 1, Allocated: 8}},
			Xattrs:  map[string]string{"user.b": "2", "user.a": "1 <"}, Extents: 3, Compressed: true,
			Extra: map[string]string{"short_name": "REPORT~1.TXT", "object_id": "x"}},
	}
	for _, e := range entries {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEntryJSON(nil, &e); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("<&>\"\\\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// fakeInfo is a FileInfo with a chosen Meta.
type fakeInfo struct {
	name  string
	mode  fs.FileMode
	size  int64
	mtime time.Time
	meta  *fsys.Meta
}

func (f *fakeInfo) Name() string       { return f.name }
func (f *fakeInfo) Size() int64        { return f.size }
func (f *fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f *fakeInfo) ModTime() time.Time { return f.mtime }
func (f *fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *fakeInfo) Sys() any {
	if f.meta == nil {
		return nil
	}
	return f.meta
}

// checkInfoEncoder compares the --json line the find fast path writes
// with the general encoder's, for each path and info in turn (one
// encoder, so what it remembers between entries is exercised too).
func checkInfoEncoder(t *testing.T, enc *infoEncoder, p string, info fs.FileInfo) {
	t.Helper()
	e := describeEntry(p, info, false)
	want := appendEntryJSON(nil, &e)
	if got := enc.appendInfo(nil, p, info); string(got) != string(want) {
		t.Fatalf("%q:\ngot  %s\nwant %s", p, got, want)
	}
}

func TestInfoEncoderMatchesDescribeEntry(t *testing.T) {
	zone := time.FixedZone("x", -5*3600)
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(-1, 999), time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 100, zone), time.Date(2024, 3, 1, 0, 0, 0, 120000000, time.UTC),
		time.Date(30828, 9, 14, 2, 48, 5, 477580700, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	metas := []*fsys.Meta{nil,
		{},
		{Inode: 66, Generation: 1, Nlink: 1, Allocated: 4096, Attributes: 0x20 | 0x800 | 0x40000000, Extents: []fsys.Extent{{}, {}}},
		{Inode: 1 << 40, UnixMode: 0o100644, UID: 1000, GID: 0, Rdev: 259, LinkTarget: "../t <&>", ReparseTag: 0xA000000C, Special: "encrypted",
			Streams: []fsys.Stream{{Name: "Zone.Identifier", Size: 26}, {Name: "s\x00", Size: 1, Allocated: 8}}, Compressed: true,
			Extra: []fsys.KV{{Key: "usn", Value: "1"}}},
		{UnixMode: 0o7777777},
		{Xattrs: []fsys.Xattr{{Name: "user.b", Value: []byte("2")}, {Name: "user.a", Value: nil}}},
	}
	paths := []string{".", "", "p1", "/p1/a.txt", "p1/d/a.txt", "p1/d/b.txt", "p1/e/b.txt", "p1/d/", "/",
		"p1/dir <&>\"\\\n/ünï\u2028\xff名", "p1/dir <&>\"\\\n/x", "a//b"}
	modes := []fs.FileMode{0o444, fs.ModeDir | 0o555, fs.ModeSymlink | 0o777, fs.ModeDevice | fs.ModeCharDevice | 0o600, fs.ModeNamedPipe, fs.ModeSocket | fs.ModeSetuid | fs.ModeSticky}
	var enc infoEncoder
	i := 0
	for _, p := range paths {
		for _, m := range metas {
			for _, mode := range modes {
				i++
				info := &fakeInfo{name: "ignored", mode: mode, size: int64(i * 1000), mtime: times[i%len(times)]}
				if m != nil {
					mm := *m
					mm.Modify, mm.Access, mm.Change, mm.Birth = times[(i+1)%len(times)], times[(i+2)%len(times)], times[(i+3)%len(times)], times[i%3]
					info.meta = &mm
				}
				checkInfoEncoder(t, &enc, p, info)
			}
		}
	}
}

// TestInfoEncoderOnDemoImage compares the fast path with the general
// encoder on every entry of the demo image (NTFS and FAT volumes), and
// find --json with the lines the general encoder writes in walk order.
func TestInfoEncoderOnDemoImage(t *testing.T) {
	img := testutil.DemoImage(t, "")
	g, err := guest.Open(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var enc infoEncoder
	var want []byte
	if err := g.Walk(".", func(p string, info fs.FileInfo) error {
		checkInfoEncoder(t, &enc, p, info)
		if p != "." {
			e := describeEntry(p, info, false)
			want = append(appendEntryJSON(want, &e), '\n')
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := Main([]string{"find", "--json", img}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("find --json: exit %d: %s", code, errs.String())
	}
	if out.String() != string(want) {
		t.Errorf("find --json:\n%s\nwant\n%s", out.String(), want)
	}
}

func FuzzInfoEncoder(f *testing.F) {
	f.Add("p1/a/b.txt", int64(0), int64(0), uint32(0x20), false)
	f.Add("p1/<a>/\xff\u2028", int64(-1e12), int64(999999999), uint32(0xffffffff), true)
	f.Fuzz(func(t *testing.T, p string, sec, nsec int64, attrs uint32, dir bool) {
		if len(p) > 4096 {
			return
		}
		tm := time.Unix(sec, nsec)
		mode := fs.FileMode(0o444)
		if dir {
			mode = fs.ModeDir | 0o555
		}
		info := &fakeInfo{mode: mode, mtime: tm, meta: &fsys.Meta{Access: tm, Birth: tm.Add(time.Duration(nsec)), Attributes: attrs}}
		var enc infoEncoder
		checkInfoEncoder(t, &enc, p, info)
		checkInfoEncoder(t, &enc, p+"/x", info)
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestFindJSONWriteError checks that a failing output stops find --json
// with the error (and does not hang the encoders).
func TestFindJSONWriteError(t *testing.T) {
	img := testutil.DemoImage(t, "")
	a := &app{stdout: failWriter{}, stderr: io.Discard, json: true}
	if err := a.find(img, "", &findQuery{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("find --json to a failing writer: %v", err)
	}
}
