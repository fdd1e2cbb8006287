package ext4

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// TestMain doubles as a helper program for the image scripts: setting
// extended attributes needs no attr package that way.
func TestMain(m *testing.M) {
	if len(os.Args) == 5 && os.Args[1] == "ext4-helper-setxattr" {
		if err := setxattr(os.Args[2], os.Args[3], []byte(os.Args[4])); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	if exe, err := os.Executable(); err == nil {
		os.Setenv("EXT4_HELPER", exe)
	}
	os.Exit(m.Run())
}

// imageScript builds a source tree and, from it, one image per variant,
// then writes more through a kernel loop mount of some of them.
const imageScript = `
src=$OUT/src
mkdir -p $src/a/b/c $src/big $src/modes $src/dev
X() { "$EXT4_HELPER" ext4-helper-setxattr "$@"; }
echo hello > $src/a/b/c/hello.txt
printf 'x%.0s' $(seq 1 300) > $src/a/medium.txt
for i in $(seq 1 3100); do echo "entry $i" > $src/big/file_with_a_longish_name_$i; done
head -c 3000000 /dev/urandom > $src/large.bin
truncate -s 50M $src/sparse.bin
printf 'middle' | dd of=$src/sparse.bin bs=1 seek=20000000 conv=notrunc status=none
printf 'end' | dd of=$src/sparse.bin bs=1 seek=52428797 conv=notrunc status=none
ln $src/a/b/c/hello.txt $src/hardlink.txt
ln -s a/b/c/hello.txt $src/short_link
longdir=dir_with_a_name_long_enough_to_push_the_link_over_sixty_bytes
mkdir -p $src/$longdir/sub
echo target > $src/$longdir/sub/target.txt
ln -s $longdir/sub/target.txt $src/long_link
ln -s /a/b/c/hello.txt $src/abs_link
ln -s ../medium.txt $src/a/b/up_link
echo attrs > $src/attrs.txt
X $src/attrs.txt user.color blue
X $src/attrs.txt user.empty ""
X $src/attrs.txt trusted.secret s3cr3t
X $src/attrs.txt security.label lbl
X $src/attrs.txt user.big "$(head -c 700 /dev/zero | tr '\0' 'z')"
X $src/a user.dir yes
echo m > $src/modes/setuid; chmod 4755 $src/modes/setuid
echo m > $src/modes/setgid; chmod 2750 $src/modes/setgid
mkdir $src/modes/sticky; chmod 1777 $src/modes/sticky
echo m > $src/modes/owned; chown 1234:5678 $src/modes/owned; chmod 600 $src/modes/owned
echo m > $src/modes/bigid; chown 70000:80000 $src/modes/bigid
mknod $src/dev/null c 1 3
mknod $src/dev/sda1 b 8 1
mknod $src/dev/big c 300 70000
mkfifo $src/dev/fifo
echo "tiny" > $src/tiny.txt
touch -d '2001-02-03 04:05:06.123456789' $src/a/medium.txt
mk() { name=$1; shift; truncate -s 40M $OUT/$name.img; "$@" -q -F -N 8192 -L "lbl-$name" -d $src $OUT/$name.img; }
mk ext4 mkfs.ext4 -b 4096
mk ext4-1k mkfs.ext4 -b 1024
mk ext2 mkfs.ext2 -b 1024
# Without filetype, directory entries record no type: every listing
# must read the inodes.
mk ext2-notype mkfs.ext2 -b 1024 -O ^filetype
mk ext3 mkfs.ext3 -b 4096
mk ext4-no64 mkfs.ext4 -O ^64bit
mk ext4-nocsum mkfs.ext4 -O ^metadata_csum,uninit_bg
mk ext4-inline mkfs.ext4 -O inline_data
mk ext4-i128 mkfs.ext4 -I 128
mk ext4-metabg mkfs.ext4 -O meta_bg,^resize_inode -b 1024
mk ext4-casefold mkfs.ext4 -O casefold,^metadata_csum

# Kernel writes: fragmented files, uninitialized extents, deep extent
# trees, dates past 2038, triple indirect blocks.
mnt=$OUT/mnt
mkdir $mnt
kernel() {
	img=$1; shift
	mount -o loop $OUT/$img.img $mnt
	"$@" || { umount $mnt; return 1; }
	umount $mnt
}
frag() {
	mkdir $mnt/k
	for i in $(seq 1 200); do
		head -c 4096 /dev/urandom >> $mnt/k/frag1; head -c 4096 /dev/urandom >> $mnt/k/frag2; sync
	done
	fallocate -l 1M $mnt/k/prealloc
	fallocate -l 2M $mnt/k/prealloc_written
	printf 'in the middle' | dd of=$mnt/k/prealloc_written bs=1 seek=700000 conv=notrunc status=none
	head -c 8192 /dev/urandom > $mnt/k/future; touch -d '2200-06-07 08:09:10.5' $mnt/k/future
	touch -d '1950-01-01 00:00:00.25' $mnt/k/hello_past 
	rm -f $mnt/big/file_with_a_longish_name_1*
	htree
}
htree() {
	mkdir -p $mnt/k/htree
	(cd $mnt/k/htree && seq 1 3000 | sed 's/^/entry_with_a_long_name_for_the_hash_tree_/' | xargs touch)
	rm -f $mnt/k/htree/entry_with_a_long_name_for_the_hash_tree_2*
}
kernel ext4 frag
kernel ext4-1k frag
kernel ext4-nocsum frag
triple() {
	mkdir $mnt/k
	printf 'far' | dd of=$mnt/k/triple bs=1024 seek=70000 conv=notrunc status=none
	for i in $(seq 1 50); do head -c 1024 /dev/urandom >> $mnt/k/frag1; head -c 1024 /dev/urandom >> $mnt/k/frag2; sync; done
	htree
}
kernel ext2 triple
kernel ext3 triple
# e2fsck -D rebuilds every directory as a hash tree.
cp $OUT/ext4-1k.img $OUT/ext4-1k-dx.img
e2fsck -fyD $OUT/ext4-1k-dx.img >/dev/null 2>&1 || [ $? -le 2 ]
for i in ext4 ext4-1k-dx ext3; do debugfs -R 'htree k/htree' $OUT/$i.img 2>/dev/null | grep -q 'Number of entries' ; done
rm -rf $src $mnt
`

// images builds (once) the test images and returns their folder.
func images(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mkfs.ext4", "mkfs.ext3", "mkfs.ext2", "debugfs", "mount", "umount", "losetup", "blkid", "dumpe2fs", "fallocate")
	return testutil.Build(t, "ext4-images", imageScript)
}

var variants = []string{"ext4", "ext4-1k", "ext2", "ext2-notype", "ext3", "ext4-no64", "ext4-nocsum", "ext4-inline", "ext4-i128", "ext4-metabg", "ext4-casefold", "ext4-1k-dx"}

func imagePath(dir, name string) string { return filepath.Join(dir, name+".img") }
