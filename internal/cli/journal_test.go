package cli_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// An ext4 volume copied while mounted needs its journal replayed: grain
// does that in memory by default and says so in info; the listing equals
// the listing of a copy e2fsck recovered; --ignore-journal reads it as is.
func TestJournalReplayedByDefault(t *testing.T) {
	testutil.RequireTool(t, "e2fsck")
	raw, err := os.ReadFile("../../fsys/ext4/testdata/journal.img.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if _, err := img.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "running.img")
	recovered := filepath.Join(dir, "recovered.img")
	for _, p := range []string{src, recovered} {
		if err := os.WriteFile(p, img.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := testutil.Unchanged(t, src)
	testutil.Run(t, "e2fsck", "-E", "journal_only", "-y", recovered)

	var info struct {
		Volumes []struct {
			Warnings []string `json:"warnings"`
		} `json:"volumes"`
	}
	if err := json.Unmarshal([]byte(mustGrain(t, "info", "--json", src)), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Volumes) != 1 || !strings.Contains(strings.Join(info.Volumes[0].Warnings, "\n"), "replayed in memory") {
		t.Errorf("info does not say the journal was replayed: %+v", info.Volumes)
	}
	if out := mustGrain(t, "info", src); !strings.Contains(out, "warning: ext4: journal needed recovery") {
		t.Errorf("info text does not say the journal was replayed:\n%s", out)
	}

	replayed := mustGrain(t, "find", "--json", src)
	want := mustGrain(t, "find", "--json", recovered)
	if replayed != want {
		t.Errorf("find of the replayed volume differs from e2fsck's recovery:\n%s\nwant:\n%s", replayed, want)
	}
	if asIs := mustGrain(t, "find", "--json", "--ignore-journal", src); asIs == want {
		t.Error("--ignore-journal reads the same as the recovered volume: the image exercises nothing")
	}
	unchanged()
}
