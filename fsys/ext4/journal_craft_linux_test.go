package ext4

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// craftScript writes journals with debugfs's journal commands: escaped
// blocks, a revoke record, an uncommitted transaction, and each checksum
// format (none, v1 crc32, v2 with 16-bit tag checksums, v3), on 32- and
// 64-bit file systems. NAME.fixed.img is NAME.img recovered by e2fsck,
// NAME.kfixed.img by the kernel.
const craftScript = `
src=$OUT/src
mkdir -p $src $OUT/mnt
head -c 16384 /dev/urandom > $src/a.bin
head -c 8192 /dev/urandom > $src/b.bin
echo hello > $src/c.txt
{ printf '\xc0\x3b\x39\x98'; head -c 16380 /dev/urandom; } > $OUT/new1
head -c 16384 /dev/urandom > $OUT/new2
head -c 16384 /dev/urandom > $OUT/new3
craft() {
	name=$1 mk=$2 jo=$3
	img=$OUT/$name.img
	truncate -s 16M $img
	$mk -q -F -d $src $img
	bm() { debugfs -R "bmap $1 $2" $img 2>/dev/null; }
	a0=$(bm a.bin 0) a1=$(bm a.bin 1) b0=$(bm b.bin 0) b1=$(bm b.bin 1)
	debugfs -w -f - $img > $OUT/$name.debugfs 2>&1 <<CMDS
$jo
jw -b $a0,$a1 $OUT/new1
jw -r $a1 /dev/null
jw -b $b0,$b1 $OUT/new2
jw -b $a1 -c $OUT/new3
jc
CMDS
	dumpe2fs -h $img 2>/dev/null | grep -q needs_recovery
	debugfs -R 'logdump -a' $img > $OUT/$name.logdump 2>&1
	cp $img $OUT/$name.fixed.img
	e2fsck -y -E journal_only $OUT/$name.fixed.img > $OUT/$name.fsck 2>&1
	cp $img $OUT/$name.kfixed.img
	# the kernel refuses some of debugfs's v1-checksum journals
	if mount -o loop $OUT/$name.kfixed.img $OUT/mnt; then umount $OUT/mnt; else rm $OUT/$name.kfixed.img; fi
}
craft jd-none "mkfs.ext4 -b 4096 -O ^metadata_csum" "jo"
craft jd-v1 "mkfs.ext4 -b 4096 -O ^metadata_csum,^64bit" "jo -c"
craft jd-v2 "mkfs.ext4 -b 1024 -O ^64bit" "jo -c -v 2"
craft jd-v3 "mkfs.ext4 -b 4096" "jo -c -v 3"
craft jd-ext3 "mkfs.ext3 -b 2048" "jo"
rm -rf $src $OUT/mnt $OUT/new*
`

// TestJournalCrafted: replay of debugfs-written journals equals what
// e2fsck and the kernel recover.
func TestJournalCrafted(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mkfs.ext4", "mkfs.ext3", "debugfs", "dumpe2fs", "e2fsck", "mount", "umount")
	dir := testutil.Build(t, "ext4-journal-craft", craftScript)
	for _, name := range []string{"jd-none", "jd-v1", "jd-v2", "jd-v3", "jd-ext3"} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(dir, name+".img")
			v := openImageOpts(t, img, OpenOptions{})
			js := v.Journal()
			t.Logf("%+v", js)
			if !js.Replayed || js.Error != "" {
				t.Fatalf("journal state %+v, want a replay", js)
			}
			for _, oracle := range []string{".fixed.img", ".kfixed.img"} {
				if _, err := os.Stat(filepath.Join(dir, name+oracle)); err != nil {
					t.Logf("no %s: the kernel did not recover it", oracle)
					continue
				}
				mnt := mountRO(t, filepath.Join(dir, name+oracle))
				n := compareFiles(t, v, mnt)
				if n < 3 {
					t.Errorf("%s: compared %d files", oracle, n)
				}
			}
			raw := openImageOpts(t, img, OpenOptions{IgnoreJournal: true})
			if bytes.Equal(readFile(t, raw, "a.bin"), readFile(t, v, "a.bin")) {
				t.Errorf("a.bin reads the same with and without replay")
			}
		})
	}
}

func readFile(t *testing.T, v *FS, name string) []byte {
	t.Helper()
	f, err := v.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compareFiles checks names, modes, sizes and contents of every file
// under mnt against v; it returns how many it compared.
func compareFiles(t *testing.T, v *FS, mnt string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		rel = filepath.ToSlash(rel)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		info, err := v.Lstat(rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if info.Mode() != st.Mode() || !d.IsDir() && info.Size() != st.Size() || !info.ModTime().Equal(st.ModTime()) {
			t.Errorf("%s: %v %d %v, kernel %v %d %v", rel, info.Mode(), info.Size(), info.ModTime(), st.Mode(), st.Size(), st.ModTime())
		}
		if st.Mode().IsRegular() {
			checkContent(t, v, rel, p)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
