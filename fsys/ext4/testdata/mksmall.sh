#!/bin/bash
# Makes small.img.gz, the seed image of the fuzz targets and the image of
# the package Example: a 512 KiB ext4 volume with 1 KiB blocks holding a
# little of everything (inline data, an htree directory, a fragmented file
# with a depth-1 extent tree, symlinks, xattrs, a device node). Run as root.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'umount $tmp/mnt 2>/dev/null || true; rm -rf $tmp' EXIT
src=$tmp/src
mkdir -p $src/docs $src/many $tmp/mnt
echo "Hello from ext4." > $src/docs/hello.txt
head -c 3000 /dev/zero | tr '\0' 'a' > $src/docs/blocks.txt
echo tiny > $src/tiny
for i in $(seq 1 80); do echo $i > $src/many/a_file_name_of_some_length_$i; done
ln -s docs/hello.txt $src/link
ln -s docs/../many/../docs/../many/../docs/../many/../docs/./././hello.txt $src/longlink
mknod $src/null c 1 3
python3 -c "import os; os.setxattr('$src/docs/hello.txt', 'user.note', b'seed')"
truncate -s 512K $tmp/small.img
mkfs.ext4 -q -F -b 1024 -N 128 -O ^has_journal,inline_data -L small -U 8b1e2a43-5c6d-4e7f-8a9b-0c1d2e3f4a5b \
  -E root_owner=0:0,hash_seed=1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0 -d $src $tmp/small.img
mount -o loop $tmp/small.img $tmp/mnt
for i in $(seq 1 12); do head -c 1024 /dev/urandom >> $tmp/mnt/frag; head -c 1024 /dev/urandom >> $tmp/mnt/frag.b; sync; done
rm $tmp/mnt/frag.b
umount $tmp/mnt
e2fsck -fyD $tmp/small.img >/dev/null 2>&1 || [ $? -le 2 ]
debugfs -w -R 'set_inode_field docs/hello.txt mtime 20300102030405' $tmp/small.img 2>/dev/null
gzip -9n < $tmp/small.img > small.img.gz
