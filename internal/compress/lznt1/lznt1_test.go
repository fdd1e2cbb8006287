package lznt1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// The worked example of [MS-XCA] section 3.3: 142 bytes of text (its
// terminating NUL included) in one 59-byte compressed chunk.
var (
	xcaPlain = []byte("F# F# G A A G F# E D D E F# F# E E F# F# G A A G F# E D D E F# E D D E E F# D E F# G F# D E F# G F# E D E A F# F# G A A G F# E D D E F# E D D\x00")
	xcaChunk = []byte{
		0x38, 0xb0, 0x88, 0x46, 0x23, 0x20, 0x00, 0x20,
		0x47, 0x20, 0x41, 0x00, 0x10, 0xa2, 0x47, 0x01,
		0xa0, 0x45, 0x20, 0x44, 0x00, 0x08, 0x45, 0x01,
		0x50, 0x79, 0x00, 0xc0, 0x45, 0x20, 0x05, 0x24,
		0x13, 0x88, 0x05, 0xb4, 0x02, 0x4a, 0x44, 0xef,
		0x03, 0x58, 0x02, 0x8c, 0x09, 0x16, 0x01, 0x48,
		0x45, 0x00, 0xbe, 0x00, 0x9e, 0x00, 0x04, 0x01,
		0x18, 0x90, 0x00,
	}
)

func TestSpecExample(t *testing.T) {
	if len(xcaPlain) != 142 {
		t.Fatalf("example text is %d bytes, the specification says 142", len(xcaPlain))
	}
	for _, size := range []int{142, 4096, 65536} {
		dst := make([]byte, size)
		n, err := Decompress(dst, xcaChunk)
		if err != nil {
			t.Fatalf("dst %d: %v", size, err)
		}
		if n != len(xcaPlain) || !bytes.Equal(dst[:n], xcaPlain) {
			t.Fatalf("dst %d: got %d bytes %q", size, n, dst[:n])
		}
	}
	// Followed by a zero header, and by garbage after it: both end the unit.
	src := append(append([]byte{}, xcaChunk...), 0, 0, 0xff, 0xff)
	if n, err := Decompress(make([]byte, 200), src); err != nil || n != 142 {
		t.Fatalf("with end marker: %d, %v", n, err)
	}
	// Too small a destination is an error, never a panic.
	if _, err := Decompress(make([]byte, 141), xcaChunk); !errors.Is(err, ErrFormat) {
		t.Fatalf("short dst: err %v", err)
	}
}

// A second chunk starts at output offset 4096: the short first chunk is
// padded with zeros.
func TestChunkPadding(t *testing.T) {
	stored := []byte{0x02, 0x30, 'x', 'y', 'z'} // stored chunk of 3 bytes
	src := append(append([]byte{}, xcaChunk...), stored...)
	dst := bytes.Repeat([]byte{0xaa}, 8192)
	n, err := Decompress(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4099 || !bytes.Equal(dst[:142], xcaPlain) || string(dst[4096:4099]) != "xyz" {
		t.Fatalf("n %d, %q", n, dst[4096:4099])
	}
	for i := 142; i < 4096; i++ {
		if dst[i] != 0 {
			t.Fatalf("byte %d not zero-filled", i)
		}
	}
	if _, err := Decompress(make([]byte, 4097), src); !errors.Is(err, ErrFormat) {
		t.Fatalf("second chunk past dst: err %v", err)
	}
}

func TestBadInput(t *testing.T) {
	for name, src := range map[string][]byte{
		"size beyond input":   {0x10, 0xb0, 0x00, 'a'},
		"offset before chunk": {0x03, 0xb0, 0x01, 0x00, 0x00}, // copy token first
		"truncated token":     {0x03, 0xb0, 0x02, 'a', 0x00},
	} {
		if _, err := Decompress(make([]byte, 4096), src); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	// A run of one byte repeated to fill the chunk (offset 1, length 4095).
	run := []byte{0x03, 0xb0, 0x02, 'A', 0xfc, 0x0f}
	dst := make([]byte, 4096)
	if n, err := Decompress(dst, run); err != nil || n != 4096 || !bytes.Equal(dst, bytes.Repeat([]byte("A"), 4096)) {
		t.Fatalf("run: %d %v", n, err)
	}
	// The same run with one byte more overflows the chunk.
	over := []byte{0x03, 0xb0, 0x02, 'A', 0xfd, 0x0f}
	if _, err := Decompress(make([]byte, 8192), over); !errors.Is(err, ErrFormat) {
		t.Fatalf("chunk overflow: err %v", err)
	}
}

// helperEnv makes the test binary act as a tiny setfattr: the image build
// script needs to set the NTFS compressed attribute on a directory through
// ntfs-3g's system.ntfs_attrib_be extended attribute, and Debian's attr
// package is not among the installed tools.
const helperEnv = "GRAIN_LZNT1_SETATTR_COMPRESSED"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		if err := setCompressed(dir); err != nil {
			fmt.Fprintln(os.Stderr, "setxattr:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The script writes files into a directory with the compressed attribute
// through ntfs-3g -o compression, then copies them back out through a
// fresh read-only mount (ntfs-3g's own decompression): the expected
// content.
const ntfsScript = `
truncate -s 48M ntfs.img
mkntfs -F -f -q -c 4096 -L lznt1 ntfs.img >/dev/null 2>&1
mkdir mnt expected
ntfs-3g -o compression ntfs.img mnt
trap 'umount mnt 2>/dev/null || true' EXIT
mkdir mnt/c
GRAIN_LZNT1_SETATTR_COMPRESSED=mnt/c "$GRAIN_LZNT1_HELPER" -test.run=NONE
seq 1 90000 > mnt/c/text.txt
head -c 150000 /dev/urandom > mnt/c/random.bin
# 4 KiB pieces alternating random and text: units mixing stored and
# compressed chunks; then zeros (a sparse unit); then a short tail.
for i in $(seq 1 24); do head -c 4096 /dev/urandom; (seq $((i*1000)) $((i*1000+900)) || true) | head -c 4096; done > mnt/c/mixed.bin
head -c 200000 /dev/zero >> mnt/c/mixed.bin
seq 1 3000 >> mnt/c/mixed.bin
head -c 777 /dev/urandom >> mnt/c/mixed.bin
(yes 'a fairly repetitive line of text for LZNT1' || true) | head -c 70001 > mnt/c/lines.txt
# Short chunks: text with runs of zeros inside a chunk and a unit that
# ends mid-chunk.
(seq 1 700; head -c 9000 /dev/zero; seq 5 5 9000) > mnt/c/holes.txt
sync
umount mnt
ntfs-3g -o ro ntfs.img mnt
cp mnt/c/* expected/
umount mnt
trap - EXIT
rmdir mnt
`

var (
	reDataAttr = regexp.MustCompile(`^Type: \$DATA \(128-\d+\)\s+Name: N/A\s+Non-Resident, Compressed\s+size: (\d+)`)
	reRun      = regexp.MustCompile(`^\s*Starting address: (\d+|X), length: (\d+)\s*(Sparse)?`)
)

type run struct {
	lcn    int64 // -1 for sparse
	length int64
}

// dataRuns parses the compressed $DATA attribute's run list from istat -r.
func dataRuns(t *testing.T, out []byte) (size int64, runs []run) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if m := reDataAttr.FindStringSubmatch(line); m != nil {
			size, _ = strconv.ParseInt(m[1], 10, 64)
			in = true
			continue
		}
		if !in {
			continue
		}
		m := reRun.FindStringSubmatch(line)
		if m == nil {
			break
		}
		r := run{lcn: -1}
		r.length, _ = strconv.ParseInt(m[2], 10, 64)
		if m[1] != "X" {
			r.lcn, _ = strconv.ParseInt(m[1], 10, 64)
		}
		runs = append(runs, r)
	}
	if !in {
		t.Fatalf("istat output has no compressed non-resident $DATA:\n%s", out)
	}
	return size, runs
}

// TestNTFS3G decompresses every compression unit of files ntfs-3g wrote
// compressed and compares them with what ntfs-3g reads back.
func TestNTFS3G(t *testing.T) {
	testutil.RequireTool(t, "mkntfs", "ntfs-3g", "istat", "fls")
	testutil.RequireRoot(t)
	t.Setenv("GRAIN_LZNT1_HELPER", os.Args[0])
	dir := testutil.Build(t, "lznt1-ntfs3g", ntfsScript)
	img := filepath.Join(dir, "ntfs.img")
	defer testutil.Unchanged(t, img)()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	const cluster, unit = 4096, 16 * 4096

	// Inode numbers from fls.
	inodes := map[string]string{}
	for _, line := range strings.Split(string(testutil.Run(t, "fls", "-r", "-p", img)), "\n") {
		// "r/r 65-128-2:	c/text.txt"
		f := strings.SplitN(line, "\t", 2)
		if len(f) != 2 || !strings.HasPrefix(f[1], "c/") {
			continue
		}
		parts := strings.Fields(f[0])
		inodes[strings.TrimPrefix(f[1], "c/")] = strings.SplitN(strings.TrimSuffix(parts[len(parts)-1], ":"), "-", 2)[0]
	}
	names, _ := filepath.Glob(filepath.Join(dir, "expected", "*"))
	if len(names) < 5 {
		t.Fatalf("expected files missing: %v", names)
	}
	var compressedUnits, storedChunks int
	for _, path := range names {
		name := filepath.Base(path)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inum, ok := inodes[name]
		if !ok {
			t.Fatalf("%s not listed by fls", name)
		}
		size, runs := dataRuns(t, testutil.Run(t, "istat", "-r", img, inum))
		if size != int64(len(want)) {
			t.Fatalf("%s: istat size %d, file %d", name, size, len(want))
		}
		// Clusters by VCN: LCN or -1.
		var vcns []int64
		for _, r := range runs {
			for i := int64(0); i < r.length; i++ {
				if r.lcn < 0 {
					vcns = append(vcns, -1)
				} else {
					vcns = append(vcns, r.lcn+i)
				}
			}
		}
		got := make([]byte, 0, len(want))
		for u := 0; int64(u)*unit < size; u++ {
			first := u * unit / cluster
			last := min(first+unit/cluster, len(vcns))
			var data []byte
			sparse := 0
			for _, lcn := range vcns[first:last] {
				if lcn < 0 {
					sparse++
					continue
				}
				data = append(data, raw[lcn*cluster:(lcn+1)*cluster]...)
			}
			dst := make([]byte, min(unit, int(size)-u*unit))
			// A unit is stored as is only when all 16 of its clusters
			// are real. ntfs-3g writes a file's last, partial unit in
			// LZNT1 form even when that saves nothing (only real
			// clusters, fewer than 16): sleuthkit and ntfs-3g read that
			// as compressed.
			switch {
			case sparse == 0 && len(data) == unit: // stored as is
				copy(dst, data)
			case len(data) == 0: // all zeros
			default:
				compressedUnits++
				storedChunks += countStored(data)
				n, err := Decompress(dst, data)
				if err != nil {
					t.Fatalf("%s unit %d: %v", name, u, err)
				}
				clear(dst[n:])
			}
			got = append(got, dst...)
		}
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: differs from ntfs-3g at byte %d", name, i)
				}
			}
		}
	}
	if compressedUnits < 10 || storedChunks == 0 {
		t.Fatalf("test image too weak: %d compressed units, %d stored chunks", compressedUnits, storedChunks)
	}
	t.Logf("%d compressed units (%d stored chunks inside them) match ntfs-3g", compressedUnits, storedChunks)
}

// countStored counts chunks stored uncompressed in a compression unit.
func countStored(src []byte) int {
	n := 0
	for in := 0; len(src)-in >= 2; {
		h := int(src[in]) | int(src[in+1])<<8
		if h == 0 {
			break
		}
		if h&headerCompressed == 0 {
			n++
		}
		in += h&headerSizeMask + 3
	}
	return n
}

func FuzzLZNT1(f *testing.F) {
	f.Add(xcaChunk, 4096)
	f.Add(append(append([]byte{}, xcaChunk...), 0x02, 0x30, 'x', 'y', 'z'), 8192)
	f.Add([]byte{0x03, 0xb0, 0x02, 'A', 0xfc, 0x0f}, 4096)
	f.Fuzz(func(t *testing.T, src []byte, size int) {
		if size < 0 || size > 1<<16 || len(src) > 1<<17 {
			return
		}
		dst := make([]byte, size)
		n, err := Decompress(dst, src)
		if n < 0 || n > size {
			t.Fatalf("n %d of %d", n, size)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error not ErrFormat: %v", err)
		}
	})
}
