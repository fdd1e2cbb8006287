package fat

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/grainvm/grain/fsys/internal/drivertest"
	"github.com/grainvm/grain/internal/testutil"
)

// treeScript makes the source tree every test volume is filled with: long
// and Unicode names, lower-case 8.3 names, a deep tree, empty and
// multi-megabyte files, times set to known values.
const treeScript = `
export TZ=UTC
mkdir -p src/deep/a/b/c/d/e/f/g/h src/docs "src/Long Directory Name With Spaces"
echo hello > src/readme.txt
echo upper > src/UPPER.TXT
echo mixed > src/Mixed.Txt
echo base > src/lower.TXT
echo ext > src/docs/LOWER.txt
echo long > "src/Long Directory Name With Spaces/A file with a rather long name.text"
printf 'unicode\n' > "src/ünïcödé-名前.txt"
printf 'greek\n' > "src/Ωμέγα.dat"
: > src/empty.bin
head -c 3145728 /dev/urandom > src/multi.bin
head -c 70000 /dev/urandom > src/docs/odd-size.bin
echo deep > src/deep/a/b/c/d/e/f/g/h/leaf.txt
touch -d '2001-02-03 04:05:06' src/readme.txt
touch -d '2019-12-31 23:59:58' src/multi.bin
touch -d '1999-07-04 12:00:00' src/deep/a/b/c/d/e/f/g/h/leaf.txt
touch -d '2030-06-15 08:30:44' src/docs/odd-size.bin
`

// buildVolume makes a FAT image with mkfs.fat and fills it with mtools.
// mkfs are the mkfs.fat options and kib the size in KiB; extra runs after
// the tree was copied (with $IMG set).
func buildVolume(t testing.TB, name, mkfs string, kib int, extra string) string {
	t.Helper()
	testutil.RequireTool(t, "mkfs.fat", "mcopy", "mmd", "mdel")
	script := treeScript + `
IMG=$OUT/vol.img
mkfs.fat -C ` + mkfs + ` -i 1234ABCD "$IMG" ` + strconv.Itoa(kib) + ` >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -s -m -i "$IMG" src/* ::/
# fragmentation: fill, delete every other, write again
mmd -i "$IMG" ::/frag
for i in $(seq 1 16); do head -c 20000 /dev/urandom > f$i; mcopy -m -i "$IMG" f$i ::/frag/f$i; done
for i in $(seq 1 2 16); do mdel -i "$IMG" ::/frag/f$i; done
head -c 150000 /dev/urandom > fragmented.bin
mcopy -m -i "$IMG" fragmented.bin ::/frag/fragmented.bin
` + extra
	return filepath.Join(testutil.Build(t, name, script), "vol.img")
}

// bigDirScript adds a directory of 3,000 entries.
const bigDirScript = `
mkdir big
for i in $(seq 1 3000); do printf "%d\n" $i > "big/$(printf %04d $i) entry with a long name.txt"; done
mcopy -s -m -i "$IMG" big ::/
`

type volSpec struct {
	name  string
	mkfs  string
	kib   int
	extra string
	kind  string
}

var volSpecs = []volSpec{
	{"fat12-2k", "-F 12 -s 4 -n FAT12LBL", 8000, "", "fat12"},
	{"fat12-1k", "-F 12 -s 2", 4050, "", "fat12"},
	{"fat16-1k", "-F 16 -s 2", 40000, "", "fat16"},
	{"fat16-8k", "-F 16 -s 16 -n BIGCLUS", 120000, "", "fat16"},
	{"fat32-512", "-F 32 -s 1 -n FAT32LBL", 80000, bigDirScript, "fat32"},
	{"fat32-1k", "-F 32 -s 2", 100000, "mlabel -i \"$IMG\" ::ROOTLBL\n", "fat32"},
}

func openImage(t testing.TB, path string) (*FS, *os.File) {
	t.Helper()
	return drivertest.OpenImage(t, path, Open)
}
