package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/cli"
	"github.com/grainvm/grain/internal/testutil"
)

// grain runs the command line in-process and returns its exit status and
// output.
func grain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func mustGrain(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := grain(t, args...)
	if code != 0 {
		t.Fatalf("grain %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// qemuImages builds VHD and VHDX images of every kind qemu-img makes, from
// one raw disk with data scattered over it.
func qemuImages(t *testing.T) string {
	testutil.RequireTool(t, "qemu-img")
	return testutil.Build(t, "cli-qemu-images", `
truncate -s 70M disk.raw
head -c 3145728 /dev/urandom | dd of=disk.raw bs=1M seek=0 conv=notrunc status=none
head -c 1000000 /dev/urandom | dd of=disk.raw bs=512 seek=70001 conv=notrunc status=none
head -c 512 /dev/urandom | dd of=disk.raw bs=512 seek=143359 conv=notrunc status=none
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M disk.raw dyn1m.vhdx
qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=32M disk.raw dyn32m.vhdx
qemu-img convert -f raw -O vhdx -o subformat=fixed disk.raw fixed.vhdx
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on disk.raw dyn.vhd
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw fixed.vhd
`)
}

func TestConvertMatchesQemu(t *testing.T) {
	dir := qemuImages(t)
	for _, name := range []string{"dyn1m.vhdx", "dyn32m.vhdx", "fixed.vhdx", "dyn.vhd", "fixed.vhd"} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(dir, name)
			unchanged := testutil.Unchanged(t, src)
			qemuFormat := "vhdx"
			if strings.HasSuffix(name, ".vhd") {
				qemuFormat = "vpc"
			}
			want := filepath.Join(t.TempDir(), "qemu.raw")
			testutil.Run(t, "qemu-img", "convert", "-f", qemuFormat, "-O", "raw", src, want)
			out := filepath.Join(t.TempDir(), "grain.raw")
			mustGrain(t, "convert", "--progress", "never", src, out)
			if got, w := testutil.FileSHA256(t, out), testutil.FileSHA256(t, want); got != w {
				t.Fatalf("convert sha256 %s, qemu-img %s", got, w)
			}
			// Sparse: only the data written is allocated.
			if size, alloc, ok := allocated(out); ok && alloc > 12<<20 {
				t.Errorf("output of %d bytes allocates %d bytes: not sparse", size, alloc)
			}
			unchanged()
		})
	}
}

func TestConvertToStdout(t *testing.T) {
	dir := qemuImages(t)
	src := filepath.Join(dir, "dyn1m.vhdx")
	out := mustGrain(t, "convert", src, "-")
	raw, err := os.ReadFile(filepath.Join(dir, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(out), raw) {
		t.Fatal("convert to stdout differs from the raw disk")
	}
}

func TestConvertRefusesToOverwriteSource(t *testing.T) {
	dir := qemuImages(t)
	src := filepath.Join(t.TempDir(), "img.vhdx")
	b, _ := os.ReadFile(filepath.Join(dir, "dyn1m.vhdx"))
	os.WriteFile(src, b, 0o644)
	unchanged := testutil.Unchanged(t, src)
	code, _, errs := grain(t, "convert", src, src)
	if code != 1 || !strings.Contains(errs, "refusing") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	unchanged()
}

type infoOut struct {
	VirtualSize        int64 `json:"virtual_size"`
	LogicalSectorSize  int   `json:"logical_sector_size"`
	PhysicalSectorSize int   `json:"physical_sector_size"`
	Chain              []struct {
		Format    string            `json:"format"`
		Type      string            `json:"type"`
		BlockSize int64             `json:"block_size"`
		IDs       map[string]string `json:"ids"`
		Log       string            `json:"log"`
		Tried     []string          `json:"parent_tried"`
		Linkage   string            `json:"parent_linkage"`
	} `json:"chain"`
	ChainError string `json:"chain_error"`
	Volumes    []struct {
		Name       string `json:"name"`
		Offset     int64  `json:"offset"`
		Size       int64  `json:"size"`
		FileSystem string `json:"file_system"`
		Label      string `json:"label"`
	} `json:"volumes"`
}

func TestInfoAgreesWithQemuAndLibvhdi(t *testing.T) {
	dir := qemuImages(t)
	testutil.RequireTool(t, "vhdiinfo")
	for _, name := range []string{"dyn1m.vhdx", "dyn32m.vhdx", "fixed.vhdx", "dyn.vhd", "fixed.vhd"} {
		src := filepath.Join(dir, name)
		var info infoOut
		if err := json.Unmarshal([]byte(mustGrain(t, "info", "--json", src)), &info); err != nil {
			t.Fatal(err)
		}
		var q struct {
			VirtualSize int64 `json:"virtual-size"`
			Format      string
		}
		qemuFormat := "vhdx"
		if strings.HasSuffix(name, ".vhd") {
			qemuFormat = "vpc"
		}
		json.Unmarshal(testutil.Run(t, "qemu-img", "info", "-f", qemuFormat, "--output=json", src), &q)
		if info.VirtualSize != q.VirtualSize {
			t.Errorf("%s: virtual size %d, qemu-img %d", name, info.VirtualSize, q.VirtualSize)
		}
		vi := string(testutil.Run(t, "vhdiinfo", src))
		if !strings.Contains(vi, "Media size") || !strings.Contains(vi, "("+itoa(info.VirtualSize)+" bytes)") {
			t.Errorf("%s: vhdiinfo reports another size:\n%s", name, vi)
		}
		wantType := "Dynamic"
		if strings.HasPrefix(name, "fixed") {
			wantType = "Fixed"
		}
		if !strings.Contains(vi, wantType) || !strings.EqualFold(info.Chain[0].Type, wantType) {
			t.Errorf("%s: type %q; vhdiinfo:\n%s", name, info.Chain[0].Type, vi)
		}
		id := info.Chain[0].IDs["UniqueId"]
		if id == "" {
			id = info.Chain[0].IDs["DataWriteGuid"]
		}
		if strings.HasSuffix(name, ".vhd") && !strings.Contains(vi, id) {
			t.Errorf("%s: unique id %s not what vhdiinfo shows:\n%s", name, id, vi)
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestInfoOnLoneCheckpointNamesPathsTried(t *testing.T) {
	child := testutil.Sample(t, "differencing.avhdx")
	code, out, errs := grain(t, "info", "--json", child)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(errs, "grain: ") || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "parent not found") {
		t.Errorf("stderr %q: want one line naming the missing parent", errs)
	}
	var info infoOut
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(info.Chain) != 1 || info.Chain[0].Type != "differencing" || info.Chain[0].Linkage != "ff34003b-11ed-4cf8-a166-b2be05e20b80" || len(info.Chain[0].Tried) < 2 {
		t.Errorf("info of the lone child: %+v", info.Chain)
	}
	if info.VirtualSize != 8<<30 {
		t.Errorf("virtual size %d, want 8 GiB", info.VirtualSize)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.vhdx")
	// A VHDX signature and nothing valid after it.
	os.WriteFile(bad, append([]byte("vhdxfile"), make([]byte, 300000)...), 0o444)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"info", bad}, 1},
		{[]string{"ls", bad}, 1},
		{[]string{"info", filepath.Join(t.TempDir(), "missing.vhdx")}, 1},
		{[]string{"info"}, 2},
		{[]string{"info", "--no-such-flag", bad}, 2},
		{[]string{"frobnicate"}, 2},
	} {
		code, _, errs := grain(t, c.args...)
		if code != c.code || !strings.HasPrefix(errs, "grain: ") || strings.Count(errs, "\n") != 1 {
			t.Errorf("grain %v: exit %d (want %d), stderr %q", c.args, code, c.code, errs)
		}
	}
}
