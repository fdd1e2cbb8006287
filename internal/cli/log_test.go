package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// TestDirtyLogSamples reads the real VHDX files whose logs were never
// replayed: grain replays in memory, without writing, and its flattened
// disk equals qemu's after qemu repairs a copy.
func TestDirtyLogSamples(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	for _, name := range []string{"vhdx-log-replay.vhdx", "iotest-dirtylog-10G-4M.vhdx"} {
		t.Run(name, func(t *testing.T) {
			src := testutil.Sample(t, name)
			unchanged := testutil.Unchanged(t, src)
			var info infoOut
			if err := json.Unmarshal([]byte(mustGrain(t, "info", "--json", src)), &info); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(info.Chain[0].Log, "dirty, replayed in memory") {
				t.Errorf("log state %q", info.Chain[0].Log)
			}
			tmp := t.TempDir()
			repaired := filepath.Join(tmp, "repaired.vhdx")
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(repaired, b, 0o644)
			testutil.Run(t, "qemu-img", "check", "-r", "all", "-f", "vhdx", repaired)
			want := filepath.Join(tmp, "qemu.raw")
			testutil.Run(t, "qemu-img", "convert", "-f", "vhdx", "-O", "raw", repaired, want)
			got := filepath.Join(tmp, "grain.raw")
			mustGrain(t, "convert", src, got)
			if testutil.FileSHA256(t, got) != testutil.FileSHA256(t, want) {
				t.Error("grain's replayed disk differs from qemu's repaired copy")
			}
			// Without replay the view is the stale one, and info says so.
			var ignored infoOut
			json.Unmarshal([]byte(mustGrain(t, "info", "--json", "--ignore-log", src)), &ignored)
			if !strings.Contains(ignored.Chain[0].Log, "NOT replayed") {
				t.Errorf("--ignore-log: log state %q", ignored.Chain[0].Log)
			}
			stale := filepath.Join(tmp, "stale.raw")
			mustGrain(t, "convert", "--ignore-log", src, stale)
			if testutil.FileSHA256(t, stale) == testutil.FileSHA256(t, want) {
				t.Error("--ignore-log reads the same as the replayed disk")
			}
			unchanged()
		})
	}
}
