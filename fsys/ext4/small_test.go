package ext4

import (
	"testing"
	"testing/fstest"
)

// TestSmallImage runs testing/fstest over the committed seed image: no
// tools or root needed.
func TestSmallImage(t *testing.T) {
	v := openBytes(t, smallImage(t))
	if err := fstest.TestFS(v, "docs/hello.txt", "docs/blocks.txt", "frag", "tiny", "many/a_file_name_of_some_length_80", "link", "longlink"); err != nil {
		t.Fatal(err)
	}
	if w := v.Warnings(); len(w) > 0 {
		t.Errorf("warnings on a clean image: %q", w)
	}
	if n := exercise(v); n < 90 {
		t.Errorf("walked %d names", n)
	}
}
