package cli

import (
	"encoding/json"
	"testing"
	"time"
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
