package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grainvm/grain/vdisk"
	"github.com/grainvm/grain/vdisk/vhdx/vhdxtest"
)

// TestChainShowsTheSnapshotTree builds a checkpoint tree like Hyper-V's
// (a base, a branch of two checkpoints, a second branch, and an orphan
// whose parent is gone) and checks what grain chain makes of it.
func TestChainShowsTheSnapshotTree(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "vm.vhdx")
	if err := vhdxtest.WriteDynamic(base, 16<<20, 512, 1<<20, []vhdxtest.Write{{Offset: 0, Data: make([]byte, 512)}}); err != nil {
		t.Fatal(err)
	}
	child := func(name, parent string, at time.Time) string {
		l, err := vdisk.OpenLayer(parent, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := vhdxtest.WriteDifferencing(p, parent, l.ID, 16<<20, 512, 1<<20, []vhdxtest.Write{{Offset: 4096, Data: []byte(strings.Repeat(name, 512)[:512])}}); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
		return p
	}
	now := time.Now()
	a := child("vm_A.avhdx", base, now.Add(-3*time.Hour))
	b := child("vm_B.avhdx", a, now.Add(-2*time.Hour))
	c := child("vm_C.avhdx", base, now.Add(-1*time.Hour))
	gone := child("gone.avhdx", base, now)
	orphan := child("vm_orphan.avhdx", gone, now)
	os.Remove(gone)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)

	nodes := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(mustGrain(t, "chain", "--json", dir)), "\n") {
		var n map[string]any
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			t.Fatal(err)
		}
		nodes[filepath.Base(n["path"].(string))] = n
	}
	if len(nodes) != 5 {
		t.Fatalf("chain lists %d images, want 5: %v", len(nodes), nodes)
	}
	check := func(name, key string, want any) {
		t.Helper()
		if got := nodes[name][key]; got != want {
			t.Errorf("%s: %s = %v, want %v", name, key, got, want)
		}
	}
	check("vm.vhdx", "leaf", false)
	check("vm_A.avhdx", "parent", base)
	check("vm_B.avhdx", "parent", a)
	check("vm_B.avhdx", "leaf", true)
	check("vm_B.avhdx", "newest_leaf", false)
	check("vm_C.avhdx", "newest_leaf", true)
	check("vm_C.avhdx", "depth", float64(1))
	check("vm_B.avhdx", "depth", float64(2))
	if !strings.Contains(nodes["vm_orphan.avhdx"]["broken"].(string), "parent not found") {
		t.Errorf("orphan: %v", nodes["vm_orphan.avhdx"])
	}
	out := mustGrain(t, "chain", dir)
	for _, want := range []string{"vm.vhdx", "├── " + a, "│   └── " + b, "└── " + c, "[leaf, NEWEST]", orphan, "broken: "} {
		if !strings.Contains(out, want) {
			t.Errorf("chain output lacks %q:\n%s", want, out)
		}
	}
}
