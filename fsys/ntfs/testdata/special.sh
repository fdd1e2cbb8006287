# An NTFS volume with what Linux tools cannot make natively, crafted from
# the documentation: WOF-compressed files (their data in the
# WofCompressedData stream, taken from WIM resources that wimlib wrote in
# the same chunk format), a Data Deduplication reparse point and an
# EFS-encrypted file.
cd "$OUT"
mkdir src
seq 1 30000 > src/numbers.txt
head -c 50000 /dev/urandom > src/random.bin
(seq 1 3000; head -c 20000 /dev/zero; seq 1 500) > src/mixed.bin
for spec in XPRESS:4096 XPRESS:8192 XPRESS:16384 LZX:32768; do
  wimcapture src "${spec%%:*}-${spec##*:}.wim" --compress="${spec%%:*}" --chunk-size="${spec##*:}" >/dev/null
done
# Extract each file's compressed resource (chunk table + chunks) from the WIM.
python3 - <<'PY'
import hashlib, os, struct
srcs = {hashlib.sha1(open('src/'+n,'rb').read()).digest(): n for n in os.listdir('src')}
for wim in sorted(f for f in os.listdir('.') if f.endswith('.wim')):
    b = open(wim, 'rb').read()
    assert b[:8] == b'MSWIM\0\0\0'
    size = int.from_bytes(b[48:55], 'little'); off, orig = struct.unpack_from('<QQ', b, 56)
    lt = b[off:off+size]
    for i in range(0, len(lt) - 49, 50):
        rsize = int.from_bytes(lt[i:i+7], 'little'); flags = lt[i+7]
        roff, rorig = struct.unpack_from('<QQ', lt, i+8)
        sha = lt[i+30:i+50]
        if sha in srcs and flags & 4:
            open(wim[:-4] + '-' + srcs[sha] + '.res', 'wb').write(b[roff:roff+rsize])
PY
ls *.res | wc -l
truncate -s 8M vol.img
mkntfs -F -Q -q -c 4096 vol.img
mnt=$(mktemp -d)
ntfs-3g -o streams_interface=windows vol.img "$mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
python3 - "$mnt" <<'PY'
import os, struct, sys
mnt = sys.argv[1]
algos = {'XPRESS-4096': 0, 'LZX-32768': 1, 'XPRESS-8192': 2, 'XPRESS-16384': 3}
os.mkdir(mnt + '/wof')
for res in sorted(f for f in os.listdir('.') if f.endswith('.res')):
    parts = res[:-4].split('-', 2)
    kind, name = parts[:2], parts[2]
    algo = algos['-'.join(kind)]
    path = mnt + '/wof/' + '-'.join(kind) + '-' + name
    size = os.path.getsize('src/' + name)
    with open(path, 'wb') as f:
        f.truncate(size)
    with open(path + ':WofCompressedData', 'wb') as f:
        f.write(open(res, 'rb').read())
    data = struct.pack('<IIII', 1, 2, 1, algo)
    os.setxattr(path, 'system.ntfs_reparse_data', struct.pack('<IHH', 0x80000017, len(data), 0) + data)
# Data Deduplication: reparse tag, the file itself holds no data.
p = mnt + '/dedup.bin'
with open(p, 'wb') as f:
    f.truncate(100000)
data = bytes(range(40))
os.setxattr(p, 'system.ntfs_reparse_data', struct.pack('<IHH', 0x80000013, len(data), 0) + data)
# To become EFS-encrypted after unmount (its $STANDARD_INFORMATION patched).
with open(mnt + '/efs.txt', 'w') as f:
    f.write('ciphertext would be here\n')
PY
cd /
umount "$mnt"
trap - EXIT
rmdir "$mnt"
cd "$OUT"
# Mark efs.txt encrypted: FILE_ATTRIBUTE_ENCRYPTED in $STANDARD_INFORMATION
# and in its $DATA attribute flags.
python3 - <<'PY'
import struct
b = bytearray(open('vol.img', 'rb').read())
cs = struct.unpack_from('<H', b, 11)[0] * b[13]
mft = struct.unpack_from('<Q', b, 0x30)[0] * cs
name = 'efs.txt'.encode('utf-16-le')
for i in range(16, 256):
    off = mft + i * 1024
    rec = b[off:off+1024]
    if rec[:4] != b'FILE' or name not in rec:
        continue
    a = struct.unpack_from('<H', rec, 0x14)[0]
    while True:
        t, l = struct.unpack_from('<II', rec, a)
        if t == 0xFFFFFFFF:
            break
        if t == 0x10:
            vo = struct.unpack_from('<H', rec, a + 0x14)[0]
            fa = struct.unpack_from('<I', rec, a + vo + 0x20)[0]
            struct.pack_into('<I', b, off + a + vo + 0x20, fa | 0x4000)
        if t == 0x80:
            fl = struct.unpack_from('<H', rec, a + 0x0C)[0]
            struct.pack_into('<H', b, off + a + 0x0C, fl | 0x4000)
        a += l
    break
else:
    raise SystemExit('efs.txt not found')
open('vol.img', 'wb').write(b)
PY
python3 - <<'PY' > sums.txt
import hashlib, os
for n in sorted(os.listdir('src')):
    print(n, hashlib.sha256(open('src/'+n,'rb').read()).hexdigest())
PY
