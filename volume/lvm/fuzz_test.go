package lvm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume/lvm"
)

// pvScript makes a whole-device PV with one linear LV (no device-mapper).
const pvScript = `
export LVM_SUPPRESS_FD_WARNINGS=1
truncate -s 8M pv.img
L=$(losetup -f --show pv.img)
trap 'losetup -d $L' EXIT
C="devices { filter=[\"a|^$L\$|\",\"r|.*|\"] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 }"
lv() { "$@" --driverloaded n --nolocking --config "$C" >/dev/null 2>&1; }
lv pvcreate -y $L
lv vgcreate -s 1M fvg $L
lv lvcreate -an -Zn -L 2M -n one fvg
lv lvcreate -an -Zn -L 1M -n two fvg
lv lvextend -L +1M fvg/one
lv vgcfgbackup -f meta.txt fvg
`

func seedPV(f *testing.F) (head []byte, text []byte) {
	testutil.RequireTool(f, "lvm", "losetup")
	testutil.RequireRoot(f)
	dir := testutil.Build(f, "lvm-fuzz-seed", pvScript)
	b, err := os.ReadFile(filepath.Join(dir, "pv.img"))
	if err != nil {
		f.Fatal(err)
	}
	t, err := os.ReadFile(filepath.Join(dir, "meta.txt"))
	if err != nil {
		f.Fatal(err)
	}
	return b[:1<<20], t
}

// FuzzLVMLabel reads the label, the metadata areas and the VG of a small PV.
func FuzzLVMLabel(f *testing.F) {
	head, _ := seedPV(f)
	f.Add(head)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2<<20 {
			return
		}
		pv, err := lvm.Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		for _, vg := range lvm.Assemble([]*lvm.PhysicalVolume{pv}) {
			for _, lv := range vg.LVs {
				if lv.Unsupported == "" {
					lv.ReadAt(buf, 0)
					lv.ReadAt(buf, lv.Size-100)
				}
			}
		}
	})
}

// FuzzLVMMetadata parses metadata text.
func FuzzLVMMetadata(f *testing.F) {
	_, text := seedPV(f)
	f.Add(text)
	f.Add([]byte("a { b { c = [\"x\", 1, 2.5] d = -3 } } # c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		lvm.ParseText(data)
	})
}
