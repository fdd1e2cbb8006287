package exfat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys/internal/drivertest"
	"github.com/grainvm/grain/internal/testutil"
)

// fillScript writes the test tree into the exfat-fuse mount $M: long and
// Unicode names, case variants, a deep tree, empty and multi-megabyte
// files, fragmented files, times set to known values (exfat-fuse keeps
// even seconds).
const fillScript = `
export TZ=UTC
mkdir -p "$M/deep/a/b/c/d/e/f/g/h" "$M/docs" "$M/Long Directory Name With Spaces"
echo hello > "$M/readme.txt"
echo upper > "$M/UPPER.TXT"
echo long > "$M/Long Directory Name With Spaces/A file with a rather long name, longer than fifteen.text"
printf 'unicode\n' > "$M/ünïcödé-名前.txt"
printf 'greek\n' > "$M/Ωμέγα.dat"
: > "$M/empty.bin"
head -c 3145728 /dev/urandom > "$M/multi.bin"
head -c 70001 /dev/urandom > "$M/docs/odd-size.bin"
echo deep > "$M/deep/a/b/c/d/e/f/g/h/leaf.txt"
mkdir "$M/frag"
for i in $(seq 1 16); do head -c 20000 /dev/urandom > "$M/frag/f$i"; done
for i in $(seq 1 2 16); do rm "$M/frag/f$i"; done
head -c 150000 /dev/urandom > "$M/frag/fragmented.bin"
touch -d '2001-02-03 04:05:06' "$M/readme.txt"
touch -d '2019-12-31 23:59:58' "$M/multi.bin"
touch -d '1999-07-04 12:00:00' "$M/deep/a/b/c/d/e/f/g/h/leaf.txt"
touch -d '2030-06-15 08:30:44' "$M/docs/odd-size.bin"
`

const bigDirScript = `
mkdir "$M/big"
for i in $(seq 1 3000); do echo $i > "$M/big/$i entry with a long name.txt"; done
`

// buildVolume makes an exFAT image with mkfs.exfat on a loop device and
// fills it through exfat-fuse.
func buildVolume(t testing.TB, name, mkfs string, mib int, extra string) string {
	t.Helper()
	testutil.RequireTool(t, "mkfs.exfat", "mount.exfat-fuse", "losetup", "fusermount")
	testutil.RequireRoot(t)
	script := `
IMG=$OUT/vol.img
truncate -s ` + strings.TrimSpace(strconv.Itoa(mib)) + `M "$IMG"
LOOP=$(losetup -f --show "$IMG")
M=$(mktemp -d)
cleanup() { umount "$M" 2>/dev/null || true; losetup -d "$LOOP"; rmdir "$M"; }
trap cleanup EXIT
mkfs.exfat ` + mkfs + ` "$LOOP" >/dev/null
mount.exfat-fuse "$LOOP" "$M" 2>/dev/null
` + fillScript + extra + `
umount "$M"
`
	return filepath.Join(testutil.Build(t, name, script), "vol.img")
}

type volSpec struct {
	name  string
	mkfs  string
	mib   int
	extra string
}

var volSpecs = []volSpec{
	{"exfat-4k", "-L EXLABEL -c 4K", 64, bigDirScript},
	{"exfat-512", "-c 512", 40, ""},
	{"exfat-128k", "-L Ünïcödé -c 128K", 200, ""},
}

func openImage(t testing.TB, path string) (*FS, *os.File) {
	t.Helper()
	return drivertest.OpenImage(t, path, Open)
}

// mountRO mounts img read-only through exfat-fuse on a read-only loop
// device, unmounted in t.Cleanup.
func mountRO(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-r", "-f", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(out))
	dir := t.TempDir()
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	if b, err := exec.Command("mount.exfat-fuse", "-o", "ro", loop, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount.exfat-fuse: %v\n%s", err, b)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}
