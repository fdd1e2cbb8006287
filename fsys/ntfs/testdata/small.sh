# A small NTFS volume (2 MiB, 1 KiB clusters) for fuzzing: a few files, a
# directory with an index allocation, a stream, a link, a compressed file.
cd "$OUT"
truncate -s 2M small.img
mkntfs -F -Q -q -c 1024 -L small small.img
mnt=$(mktemp -d)
ntfs-3g -o streams_interface=windows,compression small.img "$mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
cd "$mnt"
mkdir d
for i in $(seq 1 40); do echo "file $i" > "d/f$i.txt"; done
echo hi > s.txt
echo stream > "s.txt:x"
head -c 5000 /dev/urandom > r.bin
ln r.bin d/r2.bin
mkdir c
python3 -c 'import os; os.setxattr("c", "system.ntfs_attrib_be", (0x10|0x800).to_bytes(4,"big"))'
python3 -c "import sys; sys.stdout.write('abcabcabd'*3000)" > c/t.txt
python3 - <<'PY'
import os, struct
s = 'd\\f1.txt'.encode('utf-16-le')
data = struct.pack('<HHHHI', 0, len(s), len(s), len(s), 1) + s + s
open('l', 'w').close()
os.setxattr('l', 'system.ntfs_reparse_data', struct.pack('<IHH', 0xA000000C, len(data), 0) + data)
PY
cd /
umount "$mnt"
trap - EXIT
rmdir "$mnt"
