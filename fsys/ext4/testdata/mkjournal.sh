#!/bin/bash
# Makes journal.img.gz, the seed image of the journal fuzz target and
# hostile tests: a 4 MiB ext4 volume (1 KiB blocks, 64bit, metadata_csum,
# so a v3-checksummed 64-bit journal of 1024 blocks) copied while mounted
# with data=journal, after changes committed by fsync but not yet written
# in place: the copy needs recovery, and its journal holds descriptor,
# commit blocks and an escaped data block. Run as root.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'umount $tmp/mnt 2>/dev/null || true; rm -rf $tmp' EXIT
src=$tmp/src
mkdir -p $src/docs $src/gone $tmp/mnt
echo "Hello from ext4." > $src/docs/hello.txt
for i in $(seq 1 20); do echo $i > $src/gone/f$i; done
truncate -s 4M $tmp/j.img
mkfs.ext4 -q -F -b 1024 -N 128 -J size=1 -O 64bit,metadata_csum -L journal -U 5d3c1b2a-4e5f-4a6b-8c7d-9e0f1a2b3c4d \
  -E root_owner=0:0,hash_seed=2c3d4e5f-6071-4283-94a5-b6c7d8e9f0a1 -d $src $tmp/j.img
mount -o loop,data=journal,commit=60 $tmp/j.img $tmp/mnt
m=$tmp/mnt
mkdir $m/new $m/new/sub
for i in $(seq 1 40); do echo "sub $i" > $m/new/sub/file_with_a_long_name_$i; done
for i in $(seq 1 30); do echo "new $i" > $m/new/n$i; done
{ printf '\xc0\x3b\x39\x98'; head -c 3000 /dev/zero | tr '\0' 'm'; } > $m/new/magic.bin
sync $m/new/magic.bin
rm -rf $m/gone $m/new/n1* $m/new/sub
mv $m/docs/hello.txt $m/new/hello.txt
echo appended >> $m/new/hello.txt
sync $m/new/hello.txt
cp $tmp/j.img $tmp/copy.img
umount $tmp/mnt
dumpe2fs -h $tmp/copy.img 2>/dev/null | grep -q needs_recovery
gzip -9n < $tmp/copy.img > journal.img.gz
