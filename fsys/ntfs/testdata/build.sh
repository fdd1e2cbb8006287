# Builds an NTFS test volume with mkntfs and fills it through ntfs-3g.
# Runs in $OUT; writes vol.img there.
cd "$OUT"
truncate -s 96M vol.img
mkntfs -F -Q -q -L "Grain Test" -c 4096 vol.img
mnt=$(mktemp -d)
ntfs-3g -o streams_interface=windows,compression vol.img "$mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
cd "$mnt"
# nested directories
mkdir -p a/b/c/d
echo "hello" > a/hello.txt
echo "deep file" > a/b/c/d/deep.txt
head -c 300000 /dev/urandom > a/b/random.bin
printf 'tiny' > tiny.txt
: > empty.txt
# Unicode and case variants
echo unicode > "Ünïcødé ✓ 日本語.txt"
echo upper > "Case.txt"
echo lower > "case.txt"
# hard links
echo linked > a/link1.txt
ln a/link1.txt a/b/link2.txt
ln a/link1.txt link3.txt
# named streams
echo main > streams.txt
echo "stream one" > "streams.txt:one"
head -c 100000 /dev/urandom > "streams.txt:big"
# sparse file
truncate -s 3M sparse.bin
printf 'middle' | dd of=sparse.bin bs=1 seek=$((1024*1024)) conv=notrunc status=none
printf 'end' | dd of=sparse.bin bs=1 seek=$((3*1024*1024-3)) conv=notrunc status=none
# a large directory (deep B+ tree)
mkdir big
for i in $(seq -w 0 4999); do : > "big/file_$i.dat"; done
echo content > big/file_02500.dat
# deleted file
echo gone > deleted.txt
rm deleted.txt
# many hard links: attribute list
mkdir links
echo many > links/target.txt
for i in $(seq 1 250); do ln links/target.txt "links/hard_link_with_a_long_name_$i.txt"; done
# compressed directory (LZNT1)
mkdir comp
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "system.ntfs_attrib_be", (0x10|0x800).to_bytes(4,"big"))' comp
python3 -c "import sys; sys.stdout.write(('compressible text line\\n'*30000)[:500000])" > comp/text.txt
head -c 70000 /dev/urandom > comp/random.bin
# reparse points: symlinks and a junction
python3 - <<'PY'
import os, struct
def reparse(path, tag, subst, prn, flags=None):
    s = subst.encode('utf-16-le'); p = prn.encode('utf-16-le')
    if flags is None:
        hdr = struct.pack('<HHHH', 0, len(s), len(s)+2, len(p))
        buf = s + b'\0\0' + p + b'\0\0'
    else:
        hdr = struct.pack('<HHHHI', 0, len(s), len(s), len(p), flags)
        buf = s + p
    data = hdr + buf
    os.setxattr(path, 'system.ntfs_reparse_data', struct.pack('<IHH', tag, len(data), 0) + data)
open('rel_link', 'w').close()
reparse('rel_link', 0xA000000C, 'a\\hello.txt', 'a\\hello.txt', 1)
open('abs_link', 'w').close()
reparse('abs_link', 0xA000000C, '\\??\\C:\\Windows\\notepad.exe', 'C:\\Windows\\notepad.exe', 0)
os.mkdir('junction')
reparse('junction', 0xA0000003, '\\??\\C:\\Users', 'C:\\Users')
PY
# DOS 8.3 name
echo longname > "A long file name.txt"
python3 -c 'import os; os.setxattr("A long file name.txt", "system.ntfs_dos_name", "ALONGF~1.TXT".encode())'
# fragmented file (larger than the free MFT zone): fill the volume, free
# every other filler, then write
mkdir fill
i=0
while dd if=/dev/zero of=fill/f$i bs=65536 count=1 status=none 2>/dev/null; do i=$((i+1)); done
for j in $(seq 0 2 $i); do rm -f fill/f$j; done
mkdir heavy
dd if=/dev/urandom of=heavy/fragmented.bin bs=1M count=24 status=none
rm -r fill
# times
touch -d '2001-02-03 04:05:06.789' a/hello.txt
cd /
umount "$mnt"
trap - EXIT
rmdir "$mnt"
