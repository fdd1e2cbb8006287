package ext4

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

// journalImage is testdata/journal.img.gz, decompressed (see
// mkjournal.sh): a volume copied while mounted, needing recovery.
func journalImage(t testing.TB) []byte {
	t.Helper()
	return gunzipTestdata(t, "journal.img.gz")
}

// jimg locates the journal of an image, read without replay.
type jimg struct {
	img  []byte
	bs   int64
	runs []run
	seed uint32 // crc32c seed of the journal checksums
	v    *FS    // the image opened without replay
}

func newJimg(t testing.TB, img []byte) *jimg {
	t.Helper()
	v, err := OpenWith(bytes.NewReader(img), int64(len(img)), OpenOptions{IgnoreJournal: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := v.inode(v.sb.JournalInum)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := v.runsOf(in)
	if err != nil {
		t.Fatal(err)
	}
	j := &jimg{img: img, bs: v.bs, runs: rs, v: v}
	j.seed = crc32c(^uint32(0), j.block(0)[0x30:0x40])
	return j
}

// block is journal block l, in place in the image.
func (j *jimg) block(l uint64) []byte {
	i, ok := findRun(j.runs, l)
	if !ok {
		panic("journal block not mapped")
	}
	p := int64(j.runs[i].Physical + l - j.runs[i].Logical)
	return j.img[p*j.bs : (p+1)*j.bs]
}

// fix recomputes the v3 checksum of journal block l after an edit.
func (j *jimg) fix(l uint64) {
	b := j.block(l)
	be := binary.BigEndian
	if l == 0 {
		be.PutUint32(b[0xFC:], 0)
		be.PutUint32(b[0xFC:], crc32c(^uint32(0), b[:1024]))
		return
	}
	if be.Uint32(b) != jbdMagic {
		return
	}
	switch be.Uint32(b[4:]) {
	case jbdDescriptor, jbdRevoke:
		be.PutUint32(b[len(b)-4:], 0)
		be.PutUint32(b[len(b)-4:], crc32c(j.seed, b))
	case jbdCommit:
		be.PutUint32(b[0x10:], 0)
		be.PutUint32(b[0x10:], crc32c(j.seed, b))
	}
}

func openJournalBytes(t testing.TB, img []byte, opts OpenOptions) *FS {
	t.Helper()
	v, err := OpenWith(bytes.NewReader(img), int64(len(img)), opts)
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	return v
}

func readString(t *testing.T, v *FS, name string) string {
	t.Helper()
	f, err := v.Open(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

// TestJournalSeed: the seed image's two transactions replay; what
// mkjournal.sh wrote is then there, escaped block included.
func TestJournalSeed(t *testing.T) {
	img := journalImage(t)
	orig := append([]byte(nil), img...)
	v := openJournalBytes(t, img, OpenOptions{})
	js := v.Journal()
	if !js.Replayed || js.Transactions != 2 || js.Version != 2 || js.Features&(jbdIncompat64bit|jbdIncompatCsumV3) == 0 {
		t.Fatalf("journal state %+v", js)
	}
	if got := readString(t, v, "new/hello.txt"); got != "Hello from ext4.\nappended\n" {
		t.Errorf("new/hello.txt = %q", got)
	}
	want := "\xc0\x3b\x39\x98" + strings.Repeat("m", 3000)
	if got := readString(t, v, "new/magic.bin"); got != want {
		t.Errorf("new/magic.bin: %d bytes starting %x, want the escaped block restored", len(got), got[:min(8, len(got))])
	}
	for _, gone := range []string{"gone", "docs/hello.txt", "new/sub", "new/n1", "new/n15"} {
		if _, err := v.Stat(gone); err == nil {
			t.Errorf("%s still there after replay", gone)
		}
	}
	if _, err := v.Stat("new/n30"); err != nil {
		t.Error(err)
	}
	agree(t, v, ".", nil)
	if !bytes.Equal(img, orig) {
		t.Fatal("replay wrote to the source")
	}

	raw := openJournalBytes(t, img, OpenOptions{IgnoreJournal: true})
	if js := raw.Journal(); !js.Ignored || js.Replayed || !js.NeedsRecovery {
		t.Errorf("IgnoreJournal: %+v", js)
	}
	if _, err := raw.Stat("docs/hello.txt"); err != nil {
		t.Errorf("IgnoreJournal: %v", err)
	}
	if w := strings.Join(raw.Warnings(), "\n"); !strings.Contains(w, "IgnoreJournal") {
		t.Errorf("IgnoreJournal: warnings %q", w)
	}
}

// hostileJournal opens the seed image after edit and checks that the
// journal was refused with a message saying want, and the volume read as
// is.
func hostileJournal(t *testing.T, want string, edit func(j *jimg)) *FS {
	t.Helper()
	img := journalImage(t)
	edit(newJimg(t, img))
	v := openJournalBytes(t, img, OpenOptions{})
	js := v.Journal()
	if js.Replayed || !strings.Contains(js.Error, want) {
		t.Fatalf("journal state %+v, want an error saying %q", js, want)
	}
	if w := strings.Join(v.Warnings(), "\n"); !strings.Contains(w, "cannot be replayed") || !strings.Contains(w, want) {
		t.Errorf("warnings %q", w)
	}
	if _, err := v.Stat("docs/hello.txt"); err != nil {
		t.Errorf("read as is: %v", err)
	}
	exercise(v)
	return v
}

func TestJournalHostile(t *testing.T) {
	be := binary.BigEndian
	t.Run("target past volume", func(t *testing.T) {
		hostileJournal(t, "beyond the file system", func(j *jimg) {
			b := j.block(106) // descriptor of the second transaction
			be.PutUint32(b[12:], 0xFFFFFF00)
			be.PutUint32(b[20:], 7) // t_blocknr_high
			j.fix(106)
		})
	})
	t.Run("log loop", func(t *testing.T) {
		// Every log block a revoke block of the first transaction: the
		// scan would go round forever.
		hostileJournal(t, "runs past its own start", func(j *jimg) {
			sb := j.block(0)
			seq := be.Uint32(sb[0x18:])
			for l := uint64(be.Uint32(sb[0x14:])); l < uint64(be.Uint32(sb[0x10:])); l++ {
				b := j.block(l)
				clear(b)
				be.PutUint32(b, jbdMagic)
				be.PutUint32(b[4:], jbdRevoke)
				be.PutUint32(b[8:], seq)
				be.PutUint32(b[12:], 16)
				j.fix(l)
			}
		})
	})
	t.Run("huge journal", func(t *testing.T) {
		hostileJournal(t, "its inode maps", func(j *jimg) {
			be.PutUint32(j.block(0)[0x10:], 0xFFFFFFFF)
			j.fix(0)
		})
	})
	t.Run("superblock checksum", func(t *testing.T) {
		hostileJournal(t, "superblock checksum", func(j *jimg) { j.block(0)[0x18]++ })
	})
	t.Run("start outside", func(t *testing.T) {
		hostileJournal(t, "log start", func(j *jimg) {
			be.PutUint32(j.block(0)[0x1C:], 5000)
			j.fix(0)
		})
	})
	t.Run("block size", func(t *testing.T) {
		hostileJournal(t, "journal block size", func(j *jimg) {
			be.PutUint32(j.block(0)[0xC:], 4096)
			j.fix(0)
		})
	})
	t.Run("unknown feature", func(t *testing.T) {
		hostileJournal(t, "unknown incompatible", func(j *jimg) {
			be.PutUint32(j.block(0)[0x28:], be.Uint32(j.block(0)[0x28:])|0x1000)
			j.fix(0)
		})
	})
	t.Run("bad magic", func(t *testing.T) {
		hostileJournal(t, "superblock magic", func(j *jimg) { j.block(0)[0]++ })
	})
	t.Run("revoke count", func(t *testing.T) {
		hostileJournal(t, "revoke block of", func(j *jimg) {
			// A third transaction: a revoke block claiming more bytes
			// than a block, and a commit.
			seq := be.Uint32(j.block(137)[8:]) + 1
			for i, typ := range []uint32{jbdRevoke, jbdCommit} {
				b := j.block(138 + uint64(i))
				clear(b)
				be.PutUint32(b, jbdMagic)
				be.PutUint32(b[4:], typ)
				be.PutUint32(b[8:], seq)
				be.PutUint32(b[12:], 1<<20)
				j.fix(138 + uint64(i))
			}
		})
	})
	t.Run("torn commit", func(t *testing.T) {
		// A commit block whose checksum fails ends the log: only the
		// first transaction replays, as the kernel does.
		img := journalImage(t)
		j := newJimg(t, img)
		j.block(137)[0x10]++
		v := openJournalBytes(t, img, OpenOptions{})
		if js := v.Journal(); !js.Replayed || js.Transactions != 1 {
			t.Fatalf("journal state %+v", js)
		}
		exercise(v)
	})
	t.Run("data checksum", func(t *testing.T) {
		// A data block whose tag checksum fails is skipped, the rest
		// replays.
		img := journalImage(t)
		j := newJimg(t, img)
		j.block(107)[100]++
		v := openJournalBytes(t, img, OpenOptions{})
		if js := v.Journal(); !js.Replayed || js.BadBlocks != 1 {
			t.Fatalf("journal state %+v", js)
		}
		exercise(v)
	})
	t.Run("external", func(t *testing.T) {
		img := journalImage(t)
		binary.LittleEndian.PutUint32(img[1024+0xE0:], 0) // s_journal_inum
		v := openJournalBytes(t, img, OpenOptions{})
		if js := v.Journal(); !js.External || js.Replayed {
			t.Fatalf("journal state %+v", js)
		}
		if w := strings.Join(v.Warnings(), "\n"); !strings.Contains(w, "external device") {
			t.Errorf("warnings %q", w)
		}
	})
	t.Run("huge journal inode", func(t *testing.T) {
		hostileJournal(t, "inode 8", func(j *jimg) {
			off := inodeOffset(j.v, 8)
			binary.LittleEndian.PutUint32(j.img[off+4:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint32(j.img[off+0x6C:], 0xFFFFFFFF)
		})
	})
	t.Run("journal inode extent past volume", func(t *testing.T) {
		hostileJournal(t, "inode 8", func(j *jimg) {
			off := inodeOffset(j.v, 8)
			// i_block: extent header, then the first extent's start_lo
			binary.LittleEndian.PutUint32(j.img[off+0x28+12+8:], 0xFFFFFF)
		})
	})
}

// FuzzJournal patches a journal block (fixing its checksum when asked,
// so the damage reaches past the checksums) and replays.
func FuzzJournal(f *testing.F) {
	img := journalImage(f)
	for _, l := range []uint16{0, 1, 63, 105, 106, 137} {
		j := newJimg(f, img)
		f.Add(l, uint16(0), []byte{0xC0, 0x3B, 0x39, 0x98, 0, 0, 0, 5}, true) // a revoke block
		f.Add(l, uint16(12), j.block(uint64(l))[12:40], true)
		f.Add(l, uint16(4), []byte{0, 0, 0, 1}, false)
	}
	f.Add(uint16(0), uint16(0x10), []byte{0, 0, 0, 3}, true)   // s_maxlen
	f.Add(uint16(0), uint16(0x1C), []byte{0, 0, 3, 0}, true)   // s_start
	f.Add(uint16(0), uint16(0x28), []byte{0, 0, 0, 0x8}, true) // csum v2
	f.Add(uint16(0), uint16(0x28), []byte{0, 0, 0, 0x0}, true) // no csum
	f.Fuzz(func(t *testing.T, l, off uint16, patch []byte, fix bool) {
		if len(patch) > 1024 {
			return
		}
		vol := append([]byte(nil), img...)
		j := newJimg(t, vol)
		b := j.block(uint64(l) % 140)
		copy(b[int(off)%len(b):], patch)
		if fix {
			j.fix(uint64(l) % 140)
		}
		v, err := OpenWith(bytes.NewReader(vol), int64(len(vol)), OpenOptions{})
		if err != nil {
			return
		}
		v.Journal()
		exercise(v)
		v.Warnings()
	})
}

// TestOverlayReader: reads of any offset and length through the overlay
// equal the same reads of the volume with the journal copies written in.
func TestOverlayReader(t *testing.T) {
	img := journalImage(t)
	v := openJournalBytes(t, img, OpenOptions{IgnoreJournal: true})
	ov, _, err := v.loadJournal()
	if err != nil || ov == nil || len(ov.ents) == 0 {
		t.Fatalf("loadJournal: %v", err)
	}
	want := append([]byte(nil), img...)
	bs := ov.bs
	for _, e := range ov.ents {
		copy(want[int64(e.target)*bs:], img[int64(e.phys)*bs:int64(e.phys+1)*bs])
		if e.escape {
			binary.BigEndian.PutUint32(want[int64(e.target)*bs:], jbdMagic)
		}
	}
	o := &overlayReader{r: bytes.NewReader(img), ov: ov}
	// Around every replaced block: unaligned, partial, spanning.
	for _, e := range ov.ents {
		start := int64(e.target) * bs
		for _, c := range [][2]int64{{0, bs}, {-100, 300}, {bs - 10, 20}, {-bs, 3 * bs}, {17, 1}, {-5, 5}} {
			off, n := start+c[0], c[1]
			if off < 0 || off+n > int64(len(img)) {
				continue
			}
			got := make([]byte, n)
			if m, err := o.ReadAt(got, off); m != int(n) || err != nil {
				t.Fatalf("ReadAt(%d, %d): %d, %v", n, off, m, err)
			}
			if !bytes.Equal(got, want[off:off+n]) {
				t.Fatalf("ReadAt(%d, %d) differs (block %d)", n, off, e.target)
			}
		}
	}
	all := make([]byte, len(img))
	if m, err := o.ReadAt(all, 0); m != len(all) || err != nil || !bytes.Equal(all, want) {
		t.Fatalf("whole volume: %d, %v, equal %v", m, err, bytes.Equal(all, want))
	}
}
