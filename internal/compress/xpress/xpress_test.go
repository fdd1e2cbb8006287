package xpress

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/compress/internal/wimtest"
	"github.com/grainvm/grain/internal/testutil"
)

// The examples of [MS-XCA] section 3.

// plainVectors are section 3.1's Plain LZ77 examples.
var plainVectors = []struct {
	name       string
	plain, enc []byte
}{
	{"alphabet", []byte("abcdefghijklmnopqrstuvwxyz"), append([]byte{0x3f, 0x00, 0x00, 0x00}, "abcdefghijklmnopqrstuvwxyz"...)},
	{"abc x100", bytes.Repeat([]byte("abc"), 100), []byte{0xff, 0xff, 0xff, 0x1f, 0x61, 0x62, 0x63, 0x17, 0x00, 0x0f, 0xff, 0x26, 0x01}},
}

// huffTable builds the 256-byte table of section 3.2's examples from the
// (symbol, length) pairs the specification lists.
func huffTable(lens map[int]byte) []byte {
	t := make([]byte, 256)
	for sym, l := range lens {
		t[sym/2] |= l << (4 * (sym % 2))
	}
	return t
}

// huffVectors are section 3.2's LZ77+Huffman examples.
func huffVectors() []struct {
	name       string
	plain, enc []byte
} {
	alpha := map[int]byte{256: 4}
	for c := 'a'; c <= 'v'; c++ {
		alpha[int(c)] = 5
	}
	for c := 'w'; c <= 'z'; c++ {
		alpha[int(c)] = 4
	}
	abc := map[int]byte{'a': 3, 'b': 3, 'c': 2, 256: 2, 287: 2}
	return []struct {
		name       string
		plain, enc []byte
	}{
		{"alphabet", []byte("abcdefghijklmnopqrstuvwxyz"), append(huffTable(alpha),
			0xd8, 0x52, 0x3e, 0xd7, 0x94, 0x11, 0x5b, 0xe9, 0x19, 0x5f,
			0xf9, 0xd6, 0x7c, 0xdf, 0x8d, 0x04, 0x00, 0x00, 0x00, 0x00)},
		{"abc x100", bytes.Repeat([]byte("abc"), 100), append(huffTable(abc),
			0xa8, 0xdc, 0x00, 0x00, 0xff, 0x26, 0x01)},
	}
}

func TestSpecTables(t *testing.T) {
	// The tables as the specification prints them (nonzero bytes).
	for i, want := range []map[int]byte{
		{48: 0x50, 49: 0x55, 50: 0x55, 51: 0x55, 52: 0x55, 53: 0x55, 54: 0x55, 55: 0x55, 56: 0x55, 57: 0x55, 58: 0x55, 59: 0x45, 60: 0x44, 61: 0x04, 128: 0x04},
		{48: 0x30, 49: 0x23, 128: 0x02, 143: 0x20},
	} {
		table := huffVectors()[i].enc[:256]
		for j, b := range table {
			if b != want[j] {
				t.Fatalf("vector %d: table byte %d = %#x, want %#x", i, j, b, want[j])
			}
		}
	}
}

func TestSpecHuffman(t *testing.T) {
	for _, v := range huffVectors() {
		dst := make([]byte, len(v.plain))
		n, err := DecompressHuffman(dst, v.enc)
		if err != nil || n != len(v.plain) || !bytes.Equal(dst, v.plain) {
			t.Errorf("%s: %d %v %q", v.name, n, err, dst[:n])
		}
		// One byte more than the data holds: the end-of-data symbol is
		// no match that fits, or the input runs out.
		if _, err := DecompressHuffman(make([]byte, len(v.plain)+1), v.enc); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: longer dst: err %v", v.name, err)
		}
		// Every truncation fails cleanly (or decodes what it can).
		for i := range v.enc {
			DecompressHuffman(make([]byte, len(v.plain)), v.enc[:i])
		}
	}
}

func TestSpecPlain(t *testing.T) {
	for _, v := range plainVectors {
		dst := make([]byte, len(v.plain)+100)
		n, err := Decompress(dst, v.enc)
		if err != nil || n != len(v.plain) || !bytes.Equal(dst[:n], v.plain) {
			t.Errorf("%s: %d %v %q", v.name, n, err, dst[:n])
		}
		if _, err := Decompress(make([]byte, len(v.plain)-1), v.enc); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: short dst: err %v", v.name, err)
		}
	}
}

func TestBadHuffman(t *testing.T) {
	// An incomplete code: only 'a', one bit.
	bad := huffTable(map[int]byte{'a': 1})
	bad = append(bad, 0, 0, 0, 0)
	if _, err := DecompressHuffman(make([]byte, 4), bad); !errors.Is(err, ErrFormat) {
		t.Fatalf("incomplete code: err %v", err)
	}
	// Over-subscribed: three one-bit codes.
	bad = huffTable(map[int]byte{'a': 1, 'b': 1, 'c': 1})
	if _, err := DecompressHuffman(make([]byte, 4), append(bad, 0, 0, 0, 0)); !errors.Is(err, ErrFormat) {
		t.Fatalf("over-subscribed code: err %v", err)
	}
	// A match reaching before the start of the output.
	v := huffVectors()[1].enc
	v = append(append([]byte{}, v[:256]...), 0x00, 0x80, 0, 0) // symbol 287 first
	if _, err := DecompressHuffman(make([]byte, 300), v); !errors.Is(err, ErrFormat) {
		t.Fatalf("match before start: err %v", err)
	}
}

// The WIM images: the same files captured by wimlib (an independent
// XPRESS encoder) at every chunk size WOF uses, and at WIM's default.
const wimScript = `
mkdir src
seq 1 200000 > src/numbers.txt
head -c 300000 /dev/urandom > src/random.bin
cp /bin/bash src/bash
head -c 200000 /dev/zero > src/zeros.bin
(yes 'XPRESS Huffman test line, repeated' || true) | head -c 150000 > src/lines.txt
(seq 1 2000; head -c 70000 /dev/zero; head -c 3000 /dev/urandom; seq 1 100) > src/mixed.bin
printf 'tiny' > src/tiny.txt
for cs in 4096 8192 16384 32768 65536; do
  wimcapture src xpress-$cs.wim --compress=XPRESS --chunk-size=$cs >/dev/null
done
wimcapture src xpress-max.wim --compress=XPRESS:100 --chunk-size=16384 >/dev/null
`

func TestWimlib(t *testing.T) {
	testutil.RequireTool(t, "wimcapture")
	dir := testutil.Build(t, "xpress-wimlib", wimScript)
	// SHA-1 of each source file: every one must come out of each WIM.
	files, _ := filepath.Glob(filepath.Join(dir, "src", "*"))
	want := map[[20]byte]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want[sha1.Sum(b)] = filepath.Base(f)
	}
	wims, _ := filepath.Glob(filepath.Join(dir, "*.wim"))
	if len(wims) != 6 {
		t.Fatalf("found %d WIM files", len(wims))
	}
	for _, path := range wims {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := wimtest.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if w.Flags&wimtest.HdrXPRESS == 0 {
			t.Fatalf("%s: not XPRESS (flags %#x)", path, w.Flags)
		}
		decoded, sums, err := w.Check(DecompressHuffman)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		for sum, name := range want {
			if !sums[sum] {
				t.Errorf("%s: %s not found", filepath.Base(path), name)
			}
		}
		t.Logf("%s: %d chunks decoded, chunk size %d", filepath.Base(path), decoded, w.ChunkSize)
	}
}

func FuzzXpressHuffman(f *testing.F) {
	for _, v := range huffVectors() {
		f.Add(v.enc, len(v.plain))
	}
	// Real chunks from wimlib, when it is there.
	if _, err := exec.LookPath("wimcapture"); err == nil {
		dir := testutil.Build(f, "xpress-wimlib", wimScript)
		if b, err := os.ReadFile(filepath.Join(dir, "xpress-4096.wim")); err == nil {
			if w, err := wimtest.Parse(b); err == nil {
				for _, c := range w.Seeds(12) {
					f.Add(c.Data, c.Size)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, size int) {
		if size < 0 || size > 1<<17 || len(src) > 1<<17 {
			return
		}
		n, err := DecompressHuffman(make([]byte, size), src)
		if n < 0 || n > size || (err == nil && n != size) {
			t.Fatalf("n %d of %d, err %v", n, size, err)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
	})
}

func FuzzXpress(f *testing.F) {
	for _, v := range plainVectors {
		f.Add(v.enc, len(v.plain))
	}
	f.Fuzz(func(t *testing.T, src []byte, size int) {
		if size < 0 || size > 1<<17 || len(src) > 1<<17 {
			return
		}
		n, err := Decompress(make([]byte, size), src)
		if n < 0 || n > size {
			t.Fatalf("n %d of %d", n, size)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
	})
}
