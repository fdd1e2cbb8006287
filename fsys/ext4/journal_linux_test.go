package ext4

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// journalScript makes, per variant, a copy of a volume taken while it is
// mounted and written to (NAME.img: needs recovery, as a snapshot of a
// running VM) and that copy recovered by e2fsck (NAME.fixed.img).
const journalScript = `
src=$OUT/src
mkdir -p $src/many $src/d
for i in $(seq 1 1600); do echo "n $i" > $src/many/f$i; done
head -c 300000 /dev/urandom > $src/d/big.bin
echo keep > $src/d/keep.txt
mnt=$OUT/mnt
mkdir -p $mnt
changes() {
	m=$mnt
	# fsync of one file commits the running transaction, metadata of
	# every change in it, without writing that metadata in place (sync
	# would): the copy then holds the recent state in the journal only.
	commit() { sync $m/d/keep.txt 2>/dev/null || sync $m/new/moved.txt; }
	mkdir $m/new $m/new/sub
	for i in $(seq 1 40); do echo "created $i" > $m/new/c$i; done
	head -c 70000 /dev/urandom > $m/new/sub/data.bin
	# blocks starting with the jbd2 magic are escaped in the journal
	{ printf '\xc0\x3b\x39\x98'; head -c 20000 /dev/urandom; } > $m/new/magic.bin
	sync
	echo again >> $m/new/c6
	commit
	mv $m/d/keep.txt $m/new/moved.txt
	rm -f $m/many/f1[0-9][0-9]
	rm -f $m/d/big.bin
	ln -s ../new/c1 $m/d/link
	ln $m/new/c2 $m/d/hard
	chmod 600 $m/new/c3; chown 1000:1000 $m/new/c4
	touch -d '2030-01-02 03:04:05.5' $m/new/c5
	truncate -s 5000 $m/new/sub/data.bin
	echo appended >> $m/many/f2
	sync $m/many/f2 $m/new/sub/data.bin
	# a transaction per file: the log wraps around the journal's end
	for i in $(seq 1 300); do echo "w $i" > $m/many/w_$i; sync $m/many/w_$i; done
	commit
	rm -rf $m/new/sub
	for i in $(seq 1 300); do echo "late $i" > $m/many/late_$i; done
	{ printf '\xc0\x3b\x39\x98'; head -c 9000 /dev/urandom; } > $m/d/magic2.bin
	sync $m/d/magic2.bin
	commit
}
# mkj NAME MKFS-ARGS MOUNT-OPTIONS: a copy taken while mounted (NAME.img,
# needs recovery) and that copy recovered by e2fsck (NAME.fixed.img).
mkj() {
	name=$1 mk=$2 opts=$3
	truncate -s 48M $OUT/w.img
	$mk -q -F -N 4096 -d $src $OUT/w.img
	cp $OUT/w.img $OUT/base.img
	for try in 1 2 3 4 5; do
		cp $OUT/base.img $OUT/w.img
		mount -o loop,commit=60,$opts $OUT/w.img $mnt
		changes
		cp --sparse=always $OUT/w.img $OUT/$name.img
		umount $mnt
		if dumpe2fs -h $OUT/$name.img 2>/dev/null | grep -q needs_recovery &&
			debugfs -R logdump $OUT/$name.img 2>/dev/null | grep -q 'commit block'; then
			break
		fi
	done
	dumpe2fs -h $OUT/$name.img 2>/dev/null | grep -q needs_recovery
	debugfs -R logdump $OUT/$name.img > $OUT/$name.logdump 2>&1
	# e2fsprogs' recovery, and nothing else (a full check would also
	# rebuild directories)
	cp --sparse=always $OUT/$name.img $OUT/$name.fixed.img
	e2fsck -y -E journal_only $OUT/$name.fixed.img > $OUT/$name.fsck 2>&1 || [ $? -le 2 ]
	# the kernel's recovery (a read-write mount)
	cp --sparse=always $OUT/$name.img $OUT/$name.kfixed.img
	mount -o loop $OUT/$name.kfixed.img $mnt
	umount $mnt
	! dumpe2fs -h $OUT/$name.fixed.img 2>/dev/null | grep -q needs_recovery
	! dumpe2fs -h $OUT/$name.kfixed.img 2>/dev/null | grep -q needs_recovery
	rm -f $OUT/w.img $OUT/base.img
}
mkj j-ext4 "mkfs.ext4 -b 4096" data=ordered
mkj j-ext4-1k "mkfs.ext4 -b 1024 -O ^64bit" data=journal
mkj j-nocsum "mkfs.ext4 -b 4096 -O ^metadata_csum,^64bit" data=journal
mkj j-async "mkfs.ext4 -b 1024 -O ^metadata_csum" data=writeback,journal_async_commit
mkj j-v1csum "mkfs.ext4 -b 4096 -O ^metadata_csum" journal_checksum
mkj j-ext3 "mkfs.ext3 -b 1024" data=journal
rm -rf $src $mnt
`

var journalVariants = []string{"j-ext4", "j-ext4-1k", "j-nocsum", "j-async", "j-v1csum", "j-ext3"}

func journalImages(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "mkfs.ext4", "mkfs.ext3", "debugfs", "dumpe2fs", "e2fsck", "mount", "umount")
	return testutil.Build(t, "ext4-journal", journalScript)
}

func openImageOpts(t *testing.T, img string, opts OpenOptions) *FS {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	v, err := OpenWith(fh, st.Size(), opts)
	if err != nil {
		t.Fatalf("OpenWith(%s): %v", img, err)
	}
	return v
}

// TestJournalReplay: the unrecovered copy read with replay equals the
// copy e2fsck recovered, mounted by the kernel.
func TestJournalReplay(t *testing.T) {
	dir := journalImages(t)
	for _, name := range journalVariants {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(dir, name+".img")
			v := openImageOpts(t, img, OpenOptions{})
			js := v.Journal()
			t.Logf("%+v", js)
			if !js.NeedsRecovery || !js.Replayed || js.Transactions == 0 || js.Blocks == 0 || js.Error != "" {
				t.Fatalf("journal state %+v, want a replay", js)
			}
			for _, w := range v.Warnings() {
				if !strings.Contains(w, "replayed in memory") && !strings.Contains(w, "not cleanly unmounted") {
					t.Errorf("warning: %s", w)
				}
			}
			for _, oracle := range []string{".fixed.img", ".kfixed.img"} {
				mnt := mountRO(t, filepath.Join(dir, name+oracle))
				compareTree(t, v, mnt, true)
			}
			agree(t, v, ".", nil)

			// Read as is, the copy lacks what only the journal holds.
			raw := openImageOpts(t, img, OpenOptions{IgnoreJournal: true})
			if js := raw.Journal(); !js.Ignored || js.Replayed {
				t.Errorf("IgnoreJournal: state %+v", js)
			}
			if _, err := raw.Stat("many/late_300"); err == nil {
				t.Errorf("IgnoreJournal: many/late_300 is on disk already: the image does not test replay")
			}
			if _, err := v.Stat("many/late_300"); err != nil {
				t.Errorf("replayed: %v", err)
			}
		})
	}
}
