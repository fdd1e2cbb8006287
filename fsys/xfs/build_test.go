package xfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// mkfsEnv lets mkfs.xfs make volumes under 300 MB (its fstests override).
const mkfsEnv = `export TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1
`

// populateScript fills the mounted XFS in the current directory.
const populateScript = `
mkdir -p a/b/c/d
echo hello > a/b/c/d/deep.txt
ln a/b/c/d/deep.txt hardlink.txt
mkdir small; for i in 1 2 3; do echo "small $i" > small/f$i; done
mkdir block; for i in $(seq 1 20); do echo "file $i" > block/file-$i; done
mkdir big; for i in $(seq 1 3200); do : > big/entry-with-a-rather-long-name-number-$i; done
head -c 300000 /dev/urandom > rand.bin
cp --reflink=always rand.bin rand-reflink.bin
: > empty
xfs_io -f -c 'pwrite -S 0x41 0 4k' -c 'pwrite -S 0x42 1m 4k' -c 'truncate 10m' sparse.bin >/dev/null
args=(); for i in $(seq 0 299); do args+=(-c "pwrite -S $((i%250+1)) $((i*8))k 4k"); done
xfs_io -f "${args[@]}" manyext.bin >/dev/null
for i in $(seq 1 40); do
  xfs_io -f -c "pwrite -S $i $(((i-1)*4096)) 4096" -c fsync frag1.bin >/dev/null
  xfs_io -f -c "pwrite -S $((i+100)) $(((i-1)*4096)) 4096" -c fsync frag2.bin >/dev/null
done
xfs_io -f -c 'falloc 0 1m' -c 'pwrite -S 0x55 256k 4k' unwritten.bin >/dev/null
xfs_io -f -c 'pwrite -S 0x66 0 8k' -c 'falloc -k 8k 64k' prealloc.bin >/dev/null
ln -s a/b/c/d/deep.txt short-link
ln -s "$(printf 'x%.0s' $(seq 1 600))/target" long-link
mknod chr c 1 3; mknod blk b 8 1; mkfifo fifo
echo owned > owned; chown 1234:5678 owned; chmod 4755 owned
mkdir sticky; chmod 1777 sticky
echo sg > sgid; chmod 2711 sgid
touch -d '1960-01-01 12:00:00.5' old
touch -d '2100-01-01 00:00:00.123456789' future
touch -d '2020-02-29 01:02:03.987654321' leap
: > xattr-small; : > xattr-large; : > xattr-many; mkdir xattr-dir
`

// attrScript sets extended attributes with xfs_db on the unmounted $img
// (short-form, leaf with remote values, node-format forks).
const attrScript = `
xfs_db -x -c 'path /xattr-small' -c 'attr_set -u -v 20 small' -c 'attr_set -r -v 5 tr' -c 'attr_set -s -v 7 sec' \
  -c 'path /xattr-large' -c 'attr_set -u -v 3000 large' -c 'attr_set -u -v 40000 larger' -c 'attr_set -u -v 10 tiny' \
  -c 'path /xattr-dir' -c 'attr_set -u -v 100 d' "$img" >/dev/null
args=(); for i in $(seq 1 300); do args+=(-c "attr_set -u -v $((i%50+1)) attribute-number-$i"); done
xfs_db -x -c 'path /xattr-many' "${args[@]}" "$img" >/dev/null
`

// attrScriptProto is attrScript without the cases that crash xfs_db 6.1
// on v4 volumes (a 3000-byte value, an attribute on a directory).
const attrScriptProto = `
xfs_db -x -c 'path /xattr-small' -c 'attr_set -u -v 20 small' -c 'attr_set -r -v 5 tr' -c 'attr_set -s -v 7 sec' \
  -c 'path /xattr-large' -c 'attr_set -u -v 40000 larger' -c 'attr_set -u -v 10 tiny' "$img" >/dev/null
args=(); for i in $(seq 1 300); do args+=(-c "attr_set -u -v $((i%50+1)) attribute-number-$i"); done
xfs_db -x -c 'path /xattr-many' "${args[@]}" "$img" >/dev/null
`

// buildMounted makes a 100 MB XFS with mkfs.xfs options opts, fills it
// through a kernel loop mount and returns the image path.
func buildMounted(t *testing.T, name, opts string) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mkfs.xfs", "xfs_io", "xfs_db", "mount", "umount")
	script := mkfsEnv + `
img=$OUT/xfs.img
truncate -s 100M "$img"
mkfs.xfs -q -f -L grain-xfs ` + opts + ` "$img"
mnt=$(mktemp -d)
mount -o loop,allocsize=4096 "$img" "$mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
(cd "$mnt" && set -e && ` + "\n" + populateScript + `)
umount "$mnt"
` + attrScript
	return filepath.Join(testutil.Build(t, "xfs-"+name, script), "xfs.img")
}

// protoScript writes a protofile (and the source files it names) for
// mkfs.xfs -p, describing the tree used for v4 volumes, which the kernel
// no longer mounts.
const protoScript = `
src=$OUT/src; mkdir -p "$src"
seq 1 40000 > "$src/rand"
echo hello > "$src/hello"
: > "$src/empty"
{
echo /dev/null
echo 0 0
echo 'd--755 0 0'
echo 'a d--750 10 20'
echo ' b d--755 0 0'
echo '  deep.txt ---644 0 0 '"$src/hello"
echo ' $'
echo '$'
echo 'small d--755 0 0'
for i in 1 2 3; do echo " f$i ---644 0 0 $src/hello"; done
echo '$'
echo 'block d--755 0 0'
for i in $(seq 1 20); do echo " file-$i ---600 7 8 $src/hello"; done
echo '$'
echo 'big d--755 0 0'
for i in $(seq 1 3200); do echo " entry-with-a-rather-long-name-number-$i ---644 0 0 $src/empty"; done
echo '$'
echo "rand.bin ---644 0 0 $src/rand"
echo "empty ---644 0 0 $src/empty"
echo "owned -u-755 1234 5678 $src/hello"
echo "sgid --g711 0 0 $src/hello"
echo 'short-link l--777 0 0 a/b/deep.txt'
echo "long-link l--777 0 0 $(printf 'y%.0s' $(seq 1 700))"
echo 'chr c--644 0 0 1 3'
echo 'blk b--660 0 6 8 1'
echo 'fifo p--644 0 0'
echo "xattr-small ---644 0 0 $src/empty"
echo "xattr-large ---644 0 0 $src/empty"
echo "xattr-many ---644 0 0 $src/empty"
echo 'xattr-dir d--755 0 0'
echo '$'
echo '$'
} > "$OUT/proto"
`

// buildProto makes a volume from the protofile with mkfs options opts and
// sets the attributes; the same tree made as v5 is the mountable twin.
func buildProto(t *testing.T, name, opts string) string {
	t.Helper()
	testutil.RequireTool(t, "mkfs.xfs", "xfs_db")
	script := mkfsEnv + protoScript + `
img=$OUT/xfs.img
truncate -s 100M "$img"
mkfs.xfs -q -f -L proto ` + opts + ` -p "$OUT/proto" "$img" 2>&1 | grep -v deprecated || true
` + attrScriptProto + `
rm -rf "$OUT/src"
`
	return filepath.Join(testutil.Build(t, "xfs-"+name, script), "xfs.img")
}

// mountRO loop-mounts img read-only (no log recovery) for the test.
func mountRO(t *testing.T, img string) string {
	return mountROAt(t, img, 0)
}

// mountROAt mounts the volume starting at byte off of img.
func mountROAt(t *testing.T, img string, off int64) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mount", "umount")
	dir := t.TempDir()
	testutil.Run(t, "mount", "-o", fmt.Sprintf("loop,ro,norecovery,offset=%d", off), img, dir)
	t.Cleanup(func() {
		testutil.Run(t, "umount", dir)
	})
	return dir
}

func openImage(t *testing.T, img string) *FS {
	t.Helper()
	return openImageAt(t, img, 0)
}

// openImageAt opens the volume starting at byte off of img.
func openImageAt(t *testing.T, img string, off int64) *FS {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	x, err := Open(io.NewSectionReader(f, off, st.Size()-off), st.Size()-off)
	if err != nil {
		t.Fatalf("Open %s: %v", img, err)
	}
	return x
}
