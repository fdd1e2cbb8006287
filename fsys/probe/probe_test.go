package probe_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/fsys/probe"
	"github.com/grainvm/grain/internal/testutil"
)

// blkidNames maps blkid's TYPE to what probe calls the same thing.
var blkidNames = map[string]string{
	"vfat": "fat", "exfat": "exfat", "ntfs": "ntfs", "ext2": "ext", "ext3": "ext", "ext4": "ext",
	"xfs": "xfs", "swap": "swap", "LVM2_member": "lvm2", "btrfs": "btrfs",
}

// TestIdentifyAgreesWithBlkid makes a volume of every kind the tools here
// can make and checks probe names it as blkid does, and opens the ones
// grain reads.
func TestIdentifyAgreesWithBlkid(t *testing.T) {
	testutil.RequireTool(t, "blkid", "mkfs.fat", "mkfs.exfat", "mkfs.ext4", "mkntfs", "mkfs.xfs", "mkswap", "lvm")
	dir := testutil.Build(t, "probe-volumes", `
truncate -s 40M fat12.img && mkfs.fat -F 12 fat12.img >/dev/null
truncate -s 40M fat16.img && mkfs.fat -F 16 fat16.img >/dev/null
truncate -s 40M fat32.img && mkfs.fat -F 32 fat32.img >/dev/null
truncate -s 40M exfat.img && mkfs.exfat exfat.img >/dev/null
truncate -s 40M ext2.img && mkfs.ext2 -q ext2.img
truncate -s 40M ext4.img && mkfs.ext4 -q ext4.img
truncate -s 40M ntfs.img && mkntfs -q -F -Q ntfs.img >/dev/null 2>&1
truncate -s 320M xfs.img && mkfs.xfs -q xfs.img
truncate -s 40M swap.img && mkswap swap.img >/dev/null
truncate -s 40M empty.img
`)
	for _, name := range []string{"fat12", "fat16", "fat32", "exfat", "ext2", "ext4", "ntfs", "xfs", "swap", "empty"} {
		p := filepath.Join(dir, name+".img")
		out := blkidType(p)
		want := blkidNames[out]
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		k, err := probe.Identify(f, st.Size())
		if err != nil || k.Name != want {
			t.Errorf("%s: probe says %q (%v), blkid %q", name, k.Name, err, out)
		}
		if k.Supported {
			fsys, _, err := probe.Open(f, st.Size())
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if !strings.HasPrefix(fsys.Type(), strings.TrimSuffix(name, "12")[:2]) {
				t.Errorf("%s: opened as %s", name, fsys.Type())
			}
		} else if k.Note == "" {
			t.Errorf("%s: no reason given for a volume grain does not read", name)
		}
		f.Close()
	}
}

// blkidType asks blkid for the TYPE of a volume ("" when it finds none).
func blkidType(p string) string {
	out, _ := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", p).Output()
	return strings.TrimSpace(string(out))
}
