package restic

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"testing"
	"time"
)

// sameTree reports whether two decoded trees are the same: times as
// instants in the same zone, everything else deeply equal.
func sameTree(t *testing.T, a, b *Tree) {
	t.Helper()
	if len(a.Nodes) != len(b.Nodes) || (a.Nodes == nil) != (b.Nodes == nil) {
		t.Fatalf("%d nodes (nil %v), want %d (nil %v)", len(a.Nodes), a.Nodes == nil, len(b.Nodes), b.Nodes == nil)
	}
	sameTime := func(x, y time.Time) bool {
		nx, ox := x.Zone()
		ny, oy := y.Zone()
		return x.Equal(y) && nx == ny && ox == oy
	}
	for i := range a.Nodes {
		x, y := *a.Nodes[i], *b.Nodes[i]
		if !sameTime(x.ModTime, y.ModTime) || !sameTime(x.AccessTime, y.AccessTime) || !sameTime(x.ChangeTime, y.ChangeTime) {
			t.Fatalf("node %d: times differ: %v %v %v, want %v %v %v", i, x.ModTime, x.AccessTime, x.ChangeTime, y.ModTime, y.AccessTime, y.ChangeTime)
		}
		x.ModTime, x.AccessTime, x.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		y.ModTime, y.AccessTime, y.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("node %d differs:\n%#v\nwant\n%#v", i, x, y)
		}
	}
}

// treeFastSeeds are tree blobs as grain encodes them, with the attributes
// NTFS volumes give.
func treeFastSeeds(t testing.TB) [][]byte {
	now := time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)
	local := time.Date(2023, 7, 1, 12, 0, 0, 0, time.FixedZone("", 2*3600))
	sub := Hash([]byte("sub"))
	n1 := &Node{Name: "Users", Type: NodeTypeDir, Mode: fs.ModeDir | 0o755, ModTime: now, AccessTime: now, ChangeTime: local,
		Inode: 5, DeviceID: 1, Links: 1, Subtree: &sub}
	n1.SetGeneric(GenericCreationTime, FileTime{LowDateTime: 123, HighDateTime: 456})
	n1.SetGeneric(GenericFileAttributes, uint32(0x20))
	n2 := &Node{Name: "päth with space", Type: NodeTypeFile, Mode: 0o644, ModTime: now, AccessTime: now, ChangeTime: now,
		UID: 1000, GID: 100, User: "u", Group: "g", Size: 1 << 40, Content: IDs{Hash([]byte("a")), Hash([]byte("b"))}}
	n3 := &Node{Name: "empty", Type: NodeTypeFile, Mode: 0o444, Content: IDs{}}
	n4 := &Node{Name: "link", Type: NodeTypeSymlink, Mode: fs.ModeSymlink | 0o777, LinkTarget: "../x"}
	n5 := &Node{Name: "dev", Type: NodeTypeCharDev, Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Device: 0x0501}
	n6 := &Node{Name: "bad\x01name\xff", Type: NodeTypeFile, ExtendedAttributes: []ExtendedAttribute{{Name: "user.x", Value: []byte("v")}}}
	var out [][]byte
	for _, tr := range []*Tree{{Nodes: []*Node{n1, n2, n3, n4, n5}}, {Nodes: []*Node{n6, n2}}, {}} {
		b, err := EncodeTree(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(` { "nodes" : [ { "name" : "a" , "mode" : 420 , "generic_attributes" : { "k" : { "A" : 1 , "B" : 2 } } } ] } `),
		[]byte(`{"nodes":[{"name":"a","Name":"b"}]}`), []byte(`{"nodes":[{"size":01}]}`), []byte(`{"nodes":null}`))
}

// TestTreeFast: the fast decoder takes grain's tree blobs and decodes them
// as encoding/json does.
func TestTreeFast(t *testing.T) {
	for i, b := range treeFastSeeds(t) {
		want, werr := parseTreeJSON(b)
		got, ok := parseTreeFast(b)
		if i < 1 && !ok {
			t.Fatalf("seed %d: fast path refused grain's own tree:\n%s", i, b)
		}
		if !ok {
			continue
		}
		if werr != nil {
			t.Fatalf("seed %d: fast path took a tree encoding/json refuses (%v):\n%s", i, werr, b)
		}
		sameTree(t, got, want)
	}
}

// FuzzTreeFast: whatever the fast decoder accepts, encoding/json decodes
// alike.
func FuzzTreeFast(f *testing.F) {
	for _, b := range treeFastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		got, ok := parseTreeFast(b)
		if !ok {
			return
		}
		want, err := parseTreeJSON(b)
		if err != nil {
			t.Fatalf("fast path took a tree encoding/json refuses (%v):\n%q", err, b)
		}
		sameTree(t, got, want)
		var v any
		if json.Unmarshal(b, &v) != nil {
			t.Fatalf("fast path took invalid JSON:\n%q", b)
		}
	})
}

func indexFastSeeds(t testing.TB) [][]byte {
	pack := Hash([]byte("pack"))
	idx := IndexJSON{Supersedes: IDs{Hash([]byte("old"))}, Packs: []PackJSON{{ID: pack, Blobs: []BlobJSON{
		{ID: Hash([]byte("a")), Type: DataBlob, Offset: 0, Length: 100, UncompressedLength: 200},
		{ID: Hash([]byte("b")), Type: TreeBlob, Offset: 100, Length: 1 << 33}}}, {ID: pack, Blobs: []BlobJSON{}}}}
	b, err := json.Marshal(&idx)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{b, []byte(`{}`), []byte(`{"packs":[]}`), []byte(` {"packs":[{"id":"` + pack.String() + `","blobs":[]} {"id":1}]} `),
		[]byte(`{"packs":null,"supersedes":null}`)}
}

// TestIndexFast: the fast decoder takes grain's index files and decodes
// them as encoding/json does.
func TestIndexFast(t *testing.T) {
	for i, b := range indexFastSeeds(t) {
		got, ok := parseIndexFast(b)
		if i < 3 && !ok {
			t.Fatalf("seed %d: fast path refused:\n%s", i, b)
		}
		if !ok {
			continue
		}
		var want IndexJSON
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("seed %d: fast path took an index encoding/json refuses (%v)", i, err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("seed %d: %#v, want %#v", i, got, &want)
		}
	}
}

// FuzzIndexFast: whatever the fast decoder accepts, encoding/json decodes
// alike.
func FuzzIndexFast(f *testing.F) {
	for _, b := range indexFastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		got, ok := parseIndexFast(b)
		if !ok {
			return
		}
		var want IndexJSON
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path took an index encoding/json refuses (%v):\n%q", err, b)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("%#v, want %#v\n%q", got, &want, b)
		}
	})
}

// TestMarshalGeneric: the generic attributes encoded without reflection
// are what json.Marshal gives.
func TestMarshalGeneric(t *testing.T) {
	for _, v := range []any{FileTime{}, FileTime{LowDateTime: 1<<32 - 1, HighDateTime: 30000000}, uint32(0), uint32(1<<32 - 1), uint32(0x2020), "x", 1.5} {
		got, err := marshalGeneric(v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Errorf("%#v: %s, want %s", v, got, want)
		}
	}
}

// TestEncodeTreeAsMarshal: EncodeTree's nodes (MarshalJSON's output taken
// as it is) are what json.Marshal of the node gives.
func TestEncodeTreeAsMarshal(t *testing.T) {
	nodes := []*Node{{Name: "a<b>&c\u2028d\u2029", Type: NodeTypeSymlink, LinkTarget: "<&>\xff", User: "x\"y\\z", Error: "\x00\x1f"}}
	for _, b := range treeFastSeeds(t) {
		if tr, err := parseTreeJSON(b); err == nil {
			nodes = append(nodes, tr.Nodes...)
		}
	}
	for _, n := range nodes {
		got, err := n.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("MarshalJSON %s\njson.Marshal %s", got, want)
		}
	}
}
