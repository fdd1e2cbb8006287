package ntfs_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys"
	"github.com/grainvm/grain/fsys/ntfs"
	"github.com/grainvm/grain/internal/testutil"
)

// TestWindowsSample reads the NTFS volume Windows 10 made inside the fixed
// VHD sample (a raw disk plus a 512-byte footer; NTFS at sector 128) and
// compares it with sleuthkit on the same offset.
func TestWindowsSample(t *testing.T) {
	testutil.RequireTool(t, "fls", "icat", "fsstat")
	img := testutil.Sample(t, "fixed.vhd")
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	const start = 128 * 512
	sec := io.NewSectionReader(f, start, st.Size()-512-start)
	v, err := ntfs.Open(sec, sec.Size())
	if err != nil {
		t.Fatal(err)
	}
	fst := string(testutil.Run(t, "fsstat", "-o", "128", img))
	serial := regexp.MustCompile(`Volume Serial Number: ([0-9A-F]{16})`).FindStringSubmatch(fst)
	if serial == nil || v.ID() != serial[1][8:12]+"-"+serial[1][12:] {
		t.Errorf("ID %s, fsstat %v", v.ID(), serial)
	}
	if !strings.Contains(fst, "Volume Name: "+v.Label()+"\n") || v.Label() != "New Volume" {
		t.Errorf("label %q", v.Label())
	}
	// Every entry fls lists below the root is found, with its MFT record.
	out := string(testutil.Run(t, "fls", "-o", "128", "-r", "-p", img))
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := flsLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("fls line %q", line)
		}
		if m[3] != "" || strings.HasPrefix(m[7], "$OrphanFiles") {
			continue
		}
		path, stream, _ := strings.Cut(m[7], ":")
		info, err := v.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		meta := fsys.MetaOf(info)
		if got := strings.TrimLeft(m[4], "0"); got != "" && got != itoa(meta.Inode) || got == "" && meta.Inode != 0 {
			t.Errorf("%s: MFT record %d, fls %s", path, meta.Inode, m[4])
		}
		if info.IsDir() != (m[1] == "d") {
			t.Errorf("%s: dir %v, fls %s", path, info.IsDir(), m[1])
		}
		// Only $DATA streams (type 128); sleuthkit reads the sparse
		// $BadClus:$Bad as empty.
		if m[1] != "r" || m[5] != "128" || m[7] == "$BadClus:$Bad" {
			continue
		}
		// Content against icat (inode-type-id picks the stream).
		var r io.Reader
		if stream == "" {
			file, err := v.Open(path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			r = file
		} else {
			file, err := v.OpenStream(path, stream)
			if err != nil {
				t.Errorf("%s:%s: %v", path, stream, err)
				continue
			}
			r = file
		}
		got := sha(t, r)
		want := sha(t, bytes.NewReader(testutil.Run(t, "icat", "-o", "128", img, m[4]+"-"+m[5]+"-"+m[6])))
		if got != want {
			t.Errorf("%s: sha256 %s, icat %s", m[7], got, want)
		}
		n++
	}
	if n < 10 {
		t.Errorf("only %d files compared", n)
	}
	// The root lists nothing: the volume holds only metadata files.
	root, err := v.ReadDir(".")
	if err != nil || len(root) != 0 {
		t.Errorf("root: %v, %v", root, err)
	}
	walked := 0
	if err := v.Walk(".", func(string, fs.FileInfo) error { walked++; return nil }); err != nil || walked != 1 {
		t.Errorf("walk: %d, %v", walked, err)
	}
	if _, used, ok := v.Usage(); !ok || used <= 0 {
		t.Errorf("usage %d %v", used, ok)
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
