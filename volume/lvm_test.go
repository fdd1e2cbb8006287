package volume_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume"
)

// lvmScript builds LVM2 volume groups with the real lvm tools, without
// device-mapper: a GPT disk with two PV partitions (a linear LV, an LV of
// two segments out of order, a striped LV across both PVs, and a thin pool
// with a thin LV restored from edited metadata), and a whole-disk PV.
const lvmScript = `
export LVM_SUPPRESS_FD_WARNINGS=1
truncate -s 48M disk.img
printf 'label: gpt\nsize=2M, type=L, name="boot"\nsize=20M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="pv-a"\nsize=20M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="pv-b"\n' | sfdisk -q disk.img
sfdisk --json disk.img > sfdisk.json
part() { sfdisk -l -o Start,Sectors disk.img | awk -v n=$1 '/^ *[0-9]+ +[0-9]+ *$/ {i++; if (i==n) print $1*512, $2*512}'; }
read s2 z2 < <(part 2); read s3 z3 < <(part 3)
A=$(losetup -f --show -o $s2 --sizelimit $z2 disk.img)
B=$(losetup -f --show -o $s3 --sizelimit $z3 disk.img)
trap 'losetup -d $A $B' EXIT
echo "$A $s2 $B $s3" > loops.txt
C="devices { filter=[\"a|^$A\$|\",\"a|^$B\$|\",\"r|.*|\"] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 } global { thin_check_executable=\"\" }"
lv() { "$@" --driverloaded n --nolocking --config "$C" ; }
lvx() { "$@" --driverloaded n --config "$C" ; }
lv pvcreate -q -y $A $B
lv vgcreate -q -s 1M vg0 $A $B
lv lvcreate -q -an -Zn -L 3M -n lin vg0 $A
lv lvcreate -q -an -Zn -L 2M -n other vg0 $A
lv lvextend -q -L +2M vg0/lin $A
lv lvcreate -q -an -Zn -i 2 -I 64k -L 4M -n str vg0
lv vgcfgbackup -q -f vg0.cfg vg0
cat > thin.cfg <<'THIN'
pool_tdata {
id = "Thintd-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1
stripes = [
"pv1", 2
]
}
}
pool_tmeta {
id = "Thintm-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "striped"
stripe_count = 1
stripes = [
"pv1", 4
]
}
}
pool {
id = "Thinpl-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 2
type = "thin-pool"
metadata = "pool_tmeta"
pool = "pool_tdata"
transaction_id = 1
chunk_size = 128
discards = "passdown"
zero_new_blocks = 0
}
}
thin1 {
id = "Thinlv-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 4
type = "thin"
thin_pool = "pool"
transaction_id = 0
device_id = 1
}
}
THIN
# insert the thin pool before the line closing logical_volumes (the last
# line that is a lone tab and brace)
last=$(grep -n $'^\t}$' vg0.cfg | tail -1 | cut -d: -f1)
{ head -n $((last-1)) vg0.cfg; cat thin.cfg; tail -n +$last vg0.cfg; } > vg0-thin.cfg
lvx vgcfgrestore -q --force -f vg0-thin.cfg vg0
lv lvs -a --segments -o lv_name,lv_uuid,lv_size,segtype,seg_start_pe,seg_size_pe,stripes,stripe_size,seg_pe_ranges,lv_attr --units b --nosuffix --reportformat json vg0 > lvs.json
lv pvs -o pv_name,pv_uuid,pe_start,pv_size,dev_size --units b --nosuffix --reportformat json > pvs.json
lv vgs -o vg_name,vg_uuid,vg_extent_size,vg_seqno --units b --nosuffix --reportformat json > vgs.json

# a whole disk as one PV, without partition table
truncate -s 16M whole.img
W=$(losetup -f --show whole.img)
trap 'losetup -d $A $B $W' EXIT
echo "$W 0" > wloops.txt
C="devices { filter=[\"a|^$W\$|\",\"r|.*|\"] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 }"
lv pvcreate -q -y $W
lv vgcreate -q -s 512k wvg $W
lv lvcreate -q -an -Zn -L 3M -n data wvg
lv lvs -a --segments -o lv_name,lv_uuid,lv_size,segtype,seg_start_pe,seg_size_pe,stripes,stripe_size,seg_pe_ranges,lv_attr --units b --nosuffix --reportformat json wvg > wlvs.json
lv pvs -o pv_name,pv_uuid,pe_start,pv_size,dev_size --units b --nosuffix --reportformat json > wpvs.json
lv vgs -o vg_name,vg_uuid,vg_extent_size,vg_seqno --units b --nosuffix --reportformat json > wvgs.json
`

type lvmReport struct {
	Report []struct {
		Seg []map[string]string `json:"seg"`
		PV  []map[string]string `json:"pv"`
		VG  []map[string]string `json:"vg"`
	} `json:"report"`
}

func readReport(t *testing.T, path string) lvmReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r lvmReport
	if err := json.Unmarshal(b, &r); err != nil || len(r.Report) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// stamp writes into every 512-byte block of [from, to) of img its own disk
// offset, so that where an LV's bytes come from can be checked.
func stamp(img []byte, from, to int64) {
	for o := from; o+512 <= to; o += 512 {
		copy(img[o:], "blk:")
		binary.LittleEndian.PutUint64(img[o+4:], uint64(o))
	}
}

func TestLVM(t *testing.T) {
	testutil.RequireTool(t, "lvm", "sfdisk", "losetup")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "volume-lvm", lvmScript)
	t.Run("gpt", func(t *testing.T) { checkLVM(t, dir, "disk.img", "loops.txt", "", "vg0") })
	t.Run("whole disk", func(t *testing.T) { checkLVM(t, dir, "whole.img", "wloops.txt", "w", "wvg") })
}

func checkLVM(t *testing.T, dir, image, loops, prefix, vgName string) {
	img, err := os.ReadFile(filepath.Join(dir, image))
	if err != nil {
		t.Fatal(err)
	}
	// Where each PV (loop device at build time) starts on the disk.
	f := strings.Fields(string(must(os.ReadFile(filepath.Join(dir, loops)))))
	pvOff := map[string]int64{}
	for i := 0; i+1 < len(f); i += 2 {
		pvOff[f[i]] = atoi(t, f[i+1])
	}
	pvs := readReport(t, filepath.Join(dir, prefix+"pvs.json")).Report[0].PV
	peStart := map[string]int64{}
	for _, pv := range pvs {
		off, ok := pvOff[pv["pv_name"]]
		if !ok {
			continue
		}
		peStart[pv["pv_name"]] = atoi(t, pv["pe_start"])
		stamp(img, off+atoi(t, pv["pe_start"]), off+atoi(t, pv["dev_size"]))
	}
	vgs := readReport(t, filepath.Join(dir, prefix+"vgs.json")).Report[0].VG
	var es int64
	var vgUUID string
	for _, vg := range vgs {
		if vg["vg_name"] == vgName {
			es, vgUUID = atoi(t, vg["vg_extent_size"]), vg["vg_uuid"]
		}
	}
	if es == 0 {
		t.Fatalf("vgs does not list %s", vgName)
	}

	tab, err := volume.Read(bytes.NewReader(img), int64(len(img)), 512)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Warnings) != 0 {
		t.Errorf("warnings: %v", tab.Warnings)
	}
	if len(tab.VGs) != 1 || tab.VGs[0].Name != vgName || tab.VGs[0].ID != vgUUID || tab.VGs[0].ExtentSize != es {
		t.Fatalf("VGs %+v, vgs: %s %s extent %d", tab.VGs, vgName, vgUUID, es)
	}
	nPV := 0
	for _, v := range tab.Volumes {
		if v.VG == vgName && v.Scheme != "lvm" {
			nPV++
			if !strings.Contains(v.Type, "LVM") {
				t.Errorf("%s: type %q does not say LVM", v.Name, v.Type)
			}
		}
	}
	if nPV != len(pvOff) {
		t.Errorf("%d PV volumes, want %d", nPV, len(pvOff))
	}

	segs := readReport(t, filepath.Join(dir, prefix+"lvs.json")).Report[0].Seg
	seen := map[string]bool{}
	for _, s := range segs {
		name := s["lv_name"]
		hidden := strings.HasPrefix(name, "[")
		v := tab.Volume(vgName + "-" + strings.Trim(name, "[]"))
		if hidden {
			if v != nil {
				t.Errorf("hidden LV %s listed as a volume", name)
			}
			continue
		}
		if v == nil {
			t.Errorf("LV %s not found", name)
			continue
		}
		seen[v.Name] = true
		if v.GUID != s["lv_uuid"] || v.Size != atoi(t, s["lv_size"]) || v.Scheme != "lvm" || v.Index != 0 {
			t.Errorf("%s: uuid %s size %d, lvs %s %s", v.Name, v.GUID, v.Size, s["lv_uuid"], s["lv_size"])
		}
		segtype := s["segtype"]
		if segtype != "linear" && segtype != "striped" {
			if v.Unsupported == "" || v.ReaderAt != nil {
				t.Errorf("%s (%s): not flagged unsupported", v.Name, segtype)
			}
			continue
		}
		if v.Unsupported != "" || v.ReaderAt == nil {
			t.Errorf("%s: unsupported: %s", v.Name, v.Unsupported)
			continue
		}
		// Check every block of the segment comes from where lvs says.
		start, count := atoi(t, s["seg_start_pe"])*es, atoi(t, s["seg_size_pe"])*es
		stripeSize := atoi(t, s["stripe_size"])
		type area struct {
			dev string
			pe  int64
		}
		var areas []area
		for _, r := range strings.Fields(s["seg_pe_ranges"]) {
			i := strings.LastIndex(r, ":")
			pe := atoi(t, strings.SplitN(r[i+1:], "-", 2)[0])
			areas = append(areas, area{r[:i], pe})
		}
		if int64(len(areas)) != atoi(t, s["stripes"]) {
			t.Fatalf("%s: ranges %q for %s stripes", name, s["seg_pe_ranges"], s["stripes"])
		}
		buf := make([]byte, count)
		if n, err := v.ReadAt(buf, start); n != len(buf) || err != nil {
			t.Fatalf("%s: ReadAt(%d, %d): %d, %v", v.Name, start, count, n, err)
		}
		bad := 0
		for o := int64(0); o < count; o += 512 {
			a, in := areas[0], o
			if len(areas) > 1 {
				chunk := o / stripeSize
				a = areas[chunk%int64(len(areas))]
				in = chunk/int64(len(areas))*stripeSize + o%stripeSize
			}
			want := pvOff[a.dev] + peStart[a.dev] + a.pe*es + in
			got := buf[o : o+12]
			if string(got[:4]) != "blk:" || int64(binary.LittleEndian.Uint64(got[4:])) != want {
				if bad++; bad < 5 {
					t.Errorf("%s: LV offset %d: read %q, want the block at disk offset %d", v.Name, start+o, got, want)
				}
			}
		}
	}
	for _, v := range tab.Volumes {
		if v.Scheme == "lvm" && !seen[v.Name] {
			t.Errorf("%s: listed by grain, not by lvs", v.Name)
		}
	}
	if prefix == "" {
		for _, n := range []string{vgName + "-pool", vgName + "-thin1", vgName + "-lin", vgName + "-str"} {
			if !seen[n] {
				t.Errorf("%s missing from the test image", n)
			}
		}
		compareSfdisk(t, tab, parseSfdisk(t, must(os.ReadFile(filepath.Join(dir, "sfdisk.json")))))
	} else if tab.Scheme != "none" || tab.Volume("disk") == nil {
		t.Errorf("whole-disk PV: scheme %s", tab.Scheme)
	}
	_ = fmt.Sprint
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
