package lzx

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/compress/internal/wimtest"
	"github.com/grainvm/grain/internal/testutil"
)

// The same files captured by wimlib (an independent LZX encoder) with
// 32 KiB chunks, the LZX variant WOF uses, at three compression levels:
// wimlib's fast, default and near-optimal parsers choose differently
// between verbatim and aligned offset blocks. x86 binaries exercise the E8
// translation.
const wimScript = `
mkdir src
seq 1 200000 > src/numbers.txt
head -c 300000 /dev/urandom > src/random.bin
cp /bin/bash src/bash
cp /usr/bin/wimlib-imagex src/wimlib-imagex
head -c 200000 /dev/zero > src/zeros.bin
(yes 'LZX test line, repeated' || true) | head -c 150000 > src/lines.txt
(seq 1 2000; head -c 70000 /dev/zero; head -c 3000 /dev/urandom; seq 1 100) > src/mixed.bin
# Random and text in alternating small pieces: blocks mixing both.
for i in $(seq 1 40); do head -c 700 /dev/urandom; seq $i 3 $((i*300)); done > src/pieces.bin
printf 'tiny' > src/tiny.txt
for level in 20 50 100; do
  wimcapture src lzx-$level.wim --compress=LZX:$level --chunk-size=32768 >/dev/null
done
`

func wimlibDir(t testing.TB) string {
	return testutil.Build(t, "lzx-wimlib", wimScript)
}

func TestWimlib(t *testing.T) {
	testutil.RequireTool(t, "wimcapture")
	dir := wimlibDir(t)
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
	if len(wims) != 3 {
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
		if w.Flags&wimtest.HdrLZX == 0 || w.ChunkSize != WindowSize {
			t.Fatalf("%s: not LZX with 32 KiB chunks (flags %#x, chunk %d)", path, w.Flags, w.ChunkSize)
		}
		decoded, sums, err := w.Check(Decompress)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		for sum, name := range want {
			if !sums[sum] {
				t.Errorf("%s: %s not found", filepath.Base(path), name)
			}
		}
		t.Logf("%s: %d chunks decoded", filepath.Base(path), decoded)
	}
}

// bitWriter writes an LZX bit stream (16-bit little-endian words, most
// significant bit first) for hand-made edge cases.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nacc++
		if w.nacc == 16 {
			w.out = binary.LittleEndian.AppendUint16(w.out, uint16(w.acc))
			w.acc, w.nacc = 0, 0
		}
	}
}

// uncompressedChunk makes a chunk of one uncompressed block, after
// skipBits bits of padding before the header bits so that alignment is
// exercised both on and off a word boundary.
func uncompressedChunk(data []byte, r0 uint32) []byte {
	var w bitWriter
	w.put(blockUncompressed, 3)
	if len(data) == defaultBlockSize {
		w.put(1, 1)
	} else {
		w.put(0, 1)
		w.put(uint32(len(data)), 16)
	}
	// Pad to the next word boundary (1 to 16 bits: a whole word when
	// already aligned).
	w.put(0, 16-w.nacc)
	out := w.out
	out = binary.LittleEndian.AppendUint32(out, r0)
	out = binary.LittleEndian.AppendUint32(out, 1)
	out = binary.LittleEndian.AppendUint32(out, 1)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func TestUncompressedBlock(t *testing.T) {
	// An E8 call whose absolute target 0x20 at position 3 becomes
	// relative 0x20-3; one in the last 10 bytes stays as it is.
	data := []byte{1, 2, 3, 0xe8, 0x20, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 0xe8, 1, 0, 0, 0, 5}
	want := append([]byte{}, data...)
	binary.LittleEndian.PutUint32(want[4:], 0x20-3)
	for _, d := range [][]byte{data, data[:20]} {
		dst := make([]byte, len(d))
		n, err := Decompress(dst, uncompressedChunk(d, 1))
		if err != nil || n != len(d) || !bytes.Equal(dst, want[:len(d)]) {
			t.Fatalf("len %d: %d %v\n% x\n% x", len(d), n, err, dst, want[:len(d)])
		}
	}
	// Two uncompressed blocks in a row: the second starts after the
	// first's padding byte.
	a, b := []byte("odd"), []byte("second block")
	src := append(uncompressedChunk(a, 1), uncompressedChunk(b, 1)...)
	dst := make([]byte, len(a)+len(b))
	if n, err := Decompress(dst, src); err != nil || string(dst[:n]) != "oddsecond block" {
		t.Fatalf("two blocks: %d %v %q", n, err, dst)
	}
	// A recent offset of 0 is invalid.
	if _, err := Decompress(make([]byte, 3), uncompressedChunk(a, 0)); !errors.Is(err, ErrFormat) {
		t.Fatalf("R0 = 0: err %v", err)
	}
	// A block larger than the chunk, and a truncated block.
	if _, err := Decompress(make([]byte, 2), uncompressedChunk(a, 1)); !errors.Is(err, ErrFormat) {
		t.Fatalf("block beyond chunk: err %v", err)
	}
	c := uncompressedChunk(b, 1)
	if _, err := Decompress(make([]byte, len(b)), c[:len(c)-3]); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated: err %v", err)
	}
}

func TestBadInput(t *testing.T) {
	for name, src := range map[string][]byte{
		"empty":          nil,
		"block type 0":   {0x00, 0x10, 0, 0},
		"block type 7":   {0x00, 0xf0, 0, 0},
		"zero pretree":   {0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"all ones input": bytes.Repeat([]byte{0xff}, 300),
	} {
		if _, err := Decompress(make([]byte, 100), src); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	if _, err := Decompress(make([]byte, WindowSize+1), nil); err == nil {
		t.Error("chunk larger than the window accepted")
	}
}

func TestE8(t *testing.T) {
	// Negative targets within reach of the start become target+12000000
	// ("compensating translation"); others stay.
	b := make([]byte, 32)
	b[5] = 0xe8
	binary.LittleEndian.PutUint32(b[6:], uint32(0xfffffffe)) // -2, position 5
	b[15] = 0xe8
	binary.LittleEndian.PutUint32(b[16:], uint32(0xfffffff0)) // -16 < -15: unchanged
	undoE8(b)
	if got := binary.LittleEndian.Uint32(b[6:]); got != e8FileSize-2 {
		t.Errorf("compensating translation: %d", got)
	}
	if got := binary.LittleEndian.Uint32(b[16:]); got != 0xfffffff0 {
		t.Errorf("out of range target changed: %#x", got)
	}
}

func FuzzLZX(f *testing.F) {
	f.Add(uncompressedChunk([]byte("odd"), 1), 3)
	f.Add(append(uncompressedChunk([]byte("odd"), 1), uncompressedChunk([]byte("even"), 2)...), 7)
	if _, err := exec.LookPath("wimcapture"); err == nil {
		dir := wimlibDir(f)
		for _, level := range []string{"20", "100"} {
			b, err := os.ReadFile(filepath.Join(dir, "lzx-"+level+".wim"))
			if err != nil {
				continue
			}
			if w, err := wimtest.Parse(b); err == nil {
				for _, c := range w.Seeds(10) {
					f.Add(c.Data, c.Size)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, size int) {
		if size < 0 || size > WindowSize || len(src) > 1<<17 {
			return
		}
		n, err := Decompress(make([]byte, size), src)
		if n < 0 || n > size || (err == nil && n != size) {
			t.Fatalf("n %d of %d, err %v", n, size, err)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
	})
}
