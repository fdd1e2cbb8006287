package volume_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/volume"
)

// sfdiskTable is what `sfdisk --json` prints.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Attrs    string `json:"attrs"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func parseSfdisk(t *testing.T, out []byte) sfdiskTable {
	t.Helper()
	var s sfdiskTable
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	return s
}

var trailingNum = regexp.MustCompile(`(\d+)$`)

// compareSfdisk checks every partition sfdisk lists against grain's table.
func compareSfdisk(t *testing.T, tab *volume.Table, s sfdiskTable) {
	t.Helper()
	pt := s.PartitionTable
	ss := int64(pt.SectorSize)
	want := map[string]bool{}
	for _, p := range pt.Partitions {
		if pt.Label == "dos" && (p.Type == "5" || p.Type == "f" || p.Type == "85") {
			continue // the extended container is no volume
		}
		idx := trailingNum.FindString(p.Node)
		name := "p" + idx
		want[name] = true
		v := tab.Volume(name)
		if v == nil {
			t.Errorf("%s (sfdisk %s) not found", name, p.Node)
			continue
		}
		if v.Offset != p.Start*ss || v.Size != p.Size*ss {
			t.Errorf("%s: offset %d size %d, sfdisk %d %d", name, v.Offset, v.Size, p.Start*ss, p.Size*ss)
		}
		switch pt.Label {
		case "dos":
			n, _ := strconv.ParseUint(p.Type, 16, 8)
			if v.TypeID != fmt.Sprintf("0x%02X", n) {
				t.Errorf("%s: type %s, sfdisk %s", name, v.TypeID, p.Type)
			}
			if v.Bootable != p.Bootable {
				t.Errorf("%s: bootable %v, sfdisk %v", name, v.Bootable, p.Bootable)
			}
		case "gpt":
			if !strings.EqualFold(v.TypeID, p.Type) || !strings.EqualFold(v.GUID, p.UUID) || v.PartName != p.Name {
				t.Errorf("%s: type %s guid %s name %q, sfdisk %s %s %q", name, v.TypeID, v.GUID, v.PartName, p.Type, p.UUID, p.Name)
			}
		}
	}
	for _, v := range tab.Volumes {
		if v.Scheme != "lvm" && !want[v.Name] {
			t.Errorf("%s: listed by grain, not by sfdisk", v.Name)
		}
	}
	switch pt.Label {
	case "dos":
		if tab.Scheme != "mbr" || fmt.Sprintf("0x%08x", tab.MBRSignature) != pt.ID {
			t.Errorf("scheme %s signature %08x, sfdisk %s %s", tab.Scheme, tab.MBRSignature, pt.Label, pt.ID)
		}
	case "gpt":
		if tab.Scheme != "gpt" || !strings.EqualFold(tab.DiskGUID, pt.ID) {
			t.Errorf("scheme %s disk GUID %s, sfdisk %s %s", tab.Scheme, tab.DiskGUID, pt.Label, pt.ID)
		}
	}
}

var mmlsRow = regexp.MustCompile(`^\d+:\s+(\d+:\d+|\d+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(.*))?$`)

// compareMmls checks that the data partitions mmls lists are exactly the
// partitions grain lists (start and length).
func compareMmls(t *testing.T, tab *volume.Table, out []byte, ss int64) {
	t.Helper()
	var want, got []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := mmlsRow.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		start, _ := strconv.ParseInt(m[2], 10, 64)
		length, _ := strconv.ParseInt(m[4], 10, 64)
		want = append(want, fmt.Sprintf("%d+%d", start*ss, length*ss))
	}
	for _, v := range tab.Volumes {
		if v.Scheme == "gpt" || v.Scheme == "mbr" {
			got = append(got, fmt.Sprintf("%d+%d", v.Offset, v.Size))
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(want, " ") != strings.Join(got, " ") || len(want) == 0 {
		t.Errorf("partitions (offset+size) %v, mmls %v", got, want)
	}
}

func readTable(t *testing.T, path string, ss int) *volume.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	tab, err := volume.Read(f, st.Size(), ss)
	if err != nil {
		t.Fatalf("volume.Read(%s): %v", path, err)
	}
	return tab
}

const mbrScript = `
truncate -s 64M mbr05.img mbr0f.img
printf 'label: dos\n,6M,83\n,6M,07,*\n,40M,05\n,4M,0c\n,4M,83\n,4M,8e\n,4M,82\n,4M,07\n,4M,83\n' | sfdisk -q mbr05.img
printf 'label: dos\n,6M,0b\n,44M,0f\n,4M,83\n,5M,07\n,6M,83\n,4M,8e\n' | sfdisk -q mbr0f.img
`

func TestMBR(t *testing.T) {
	testutil.RequireTool(t, "sfdisk", "mmls")
	dir := testutil.Build(t, "volume-mbr", mbrScript)
	for _, name := range []string{"mbr05.img", "mbr0f.img"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			defer testutil.Unchanged(t, path)()
			tab := readTable(t, path, 512)
			compareSfdisk(t, tab, parseSfdisk(t, testutil.Run(t, "sfdisk", "--json", path)))
			compareMmls(t, tab, testutil.Run(t, "mmls", path), 512)
			if len(tab.Warnings) != 0 {
				t.Errorf("warnings: %v", tab.Warnings)
			}
			if tab.Volume("p5") == nil || tab.Volume("p3") != nil && strings.Contains(tab.Volume("p3").Type, "xtended") {
				t.Errorf("logical partitions not numbered from 5, or the container listed")
			}
		})
	}
}

const gptScript = `
truncate -s 64M gpt.img
{
  echo 'label: gpt'
  echo 'size=1M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"'
  echo 'size=1M, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, name="Microsoft reserved partition"'
  echo 'size=8M, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="Basic data partition"'
  echo 'size=2M, type=DE94BBA4-06D1-4D40-A16A-BFD50179D6AC, name="Récupération", attrs="RequiredPartition GUID:63"'
  echo 'size=2M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="数据"'
  echo 'size=2M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928'
  echo 'size=2M, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"'
  echo 'size=2M, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"'
  echo 'size=1M, type=5808C8AA-7E8F-42E0-85D2-E1E90434CFB3, name="LDM metadata partition"'
  echo 'size=2M, type=AF9B60A0-1431-4F62-BC68-3311714A69AD, name="LDM data partition"'
  echo 'size=2M, type=E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D, name="Storage pool"'
  echo 'size=1M, type=21686148-6449-6E6F-744E-656564454649'
  for i in $(seq 13 20); do echo "size=1M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"part $i\""; done
} | sfdisk -q gpt.img
cp gpt.img gpt-damaged.img
dd if=/dev/zero of=gpt-damaged.img bs=512 seek=1 count=1 conv=notrunc status=none
`

func TestGPT(t *testing.T) {
	testutil.RequireTool(t, "sfdisk", "mmls")
	dir := testutil.Build(t, "volume-gpt", gptScript)
	path := filepath.Join(dir, "gpt.img")
	defer testutil.Unchanged(t, path)()
	tab := readTable(t, path, 512)
	compareSfdisk(t, tab, parseSfdisk(t, testutil.Run(t, "sfdisk", "--json", path)))
	compareMmls(t, tab, testutil.Run(t, "mmls", path), 512)
	if tab.UsedBackupGPT || len(tab.Warnings) != 0 {
		t.Errorf("backup used %v, warnings %v", tab.UsedBackupGPT, tab.Warnings)
	}
	for name, unsup := range map[string]bool{"p3": false, "p9": true, "p10": true, "p11": true} {
		if v := tab.Volume(name); v == nil || (v.Unsupported != "") != unsup || (v.ReaderAt == nil) != unsup {
			t.Errorf("%s: unsupported %q, want unsupported=%v", name, v.Unsupported, unsup)
		}
	}
	if v := tab.Volume("p1"); v == nil || v.Type != "EFI System" {
		t.Errorf("p1 type %q", v.Type)
	}
	if v := tab.Volume("p4"); v == nil || v.Attributes != 1|1<<63 {
		t.Errorf("p4 attributes %#x", v.Attributes)
	}

	t.Run("damaged primary", func(t *testing.T) {
		path := filepath.Join(dir, "gpt-damaged.img")
		tab := readTable(t, path, 512)
		if !tab.UsedBackupGPT || len(tab.Warnings) == 0 {
			t.Errorf("backup used %v, warnings %v", tab.UsedBackupGPT, tab.Warnings)
		}
		// sfdisk also falls back to the backup header.
		compareSfdisk(t, tab, parseSfdisk(t, testutil.Run(t, "sfdisk", "--json", path)))
	})
}

const gpt4kScript = `
truncate -s 64M gpt4k.img
L=$(losetup -f --show -b 4096 gpt4k.img)
trap 'losetup -d $L' EXIT
printf 'label: gpt\nsize=4M, type=L, name="a"\nsize=8M, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="b"\nsize=4M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="c"\n' | sfdisk -q $L 2>/dev/null || true
sfdisk --json $L > sfdisk.json
`

func TestGPT4K(t *testing.T) {
	testutil.RequireTool(t, "sfdisk", "mmls", "losetup")
	testutil.RequireRoot(t)
	dir := testutil.Build(t, "volume-gpt4k", gpt4kScript)
	path := filepath.Join(dir, "gpt4k.img")
	js, err := os.ReadFile(filepath.Join(dir, "sfdisk.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := parseSfdisk(t, js)
	if s.PartitionTable.SectorSize != 4096 || len(s.PartitionTable.Partitions) != 3 {
		t.Fatalf("sfdisk made no 4K-sector GPT: %s", js)
	}
	tab := readTable(t, path, 4096)
	compareSfdisk(t, tab, s)
	compareMmls(t, tab, testutil.Run(t, "mmls", "-b", "4096", path), 4096)
	// Given the wrong sector size, grain finds the GPT anyway and says so.
	tab = readTable(t, path, 512)
	if tab.SectorSize != 4096 || len(tab.Warnings) == 0 {
		t.Errorf("512 given: sector size %d, warnings %v", tab.SectorSize, tab.Warnings)
	}
	compareSfdisk(t, tab, s)
}
