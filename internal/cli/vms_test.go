package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// TestVMByName lays the real VMCX sample out as a Hyper-V host folder, with
// the demo image as the VM's configured disk, and reads it by VM name.
func TestVMByName(t *testing.T) {
	cfg := testutil.Sample(t, "test.vmcx")
	host := t.TempDir()
	vmDir := filepath.Join(host, "Other Location")
	os.MkdirAll(filepath.Join(vmDir, "Virtual Machines"), 0o755)
	os.MkdirAll(filepath.Join(vmDir, "Virtual Hard Disks"), 0o755)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(vmDir, "Virtual Machines", "282874FC-59D6-4F30-BC04-5FDD909C82E0.vmcx"), b, 0o444)
	// The configuration names C:\Users\Public\Documents\Hyper-V\Virtual
	// Hard Disks\Other Location.vhdx (see hyperv's tests).
	disk := filepath.Join(vmDir, "Virtual Hard Disks", "Other Location.vhdx")
	img, _ := os.ReadFile(testutil.DemoImage(t, ""))
	os.WriteFile(disk, img, 0o444)

	var vm struct {
		Name  string `json:"name"`
		Disks []struct {
			Found string `json:"found_path"`
		} `json:"disks"`
	}
	if err := json.Unmarshal([]byte(mustGrain(t, "vms", "--json", host)), &vm); err != nil {
		t.Fatal(err)
	}
	if vm.Name != "Other Location" || len(vm.Disks) != 1 || vm.Disks[0].Found != disk {
		t.Fatalf("vms: %+v", vm)
	}
	if out := mustGrain(t, "ls", "--vm", "other location", host, "/p3/Users/alice"); !strings.Contains(out, "/p3/Users/alice/Documents/") {
		t.Errorf("ls --vm: %q", out)
	}
	if out := mustGrain(t, "info", "--vm", "282874FC-59D6-4F30-BC04-5FDD909C82E0", host); !strings.Contains(out, disk) {
		t.Errorf("info --vm by ID does not name the disk: %q", out)
	}
	code, _, errs := grain(t, "ls", "--vm", "nobody", host)
	if code != 1 || !strings.Contains(errs, `no VM named "nobody"`) {
		t.Errorf("unknown VM: exit %d, %q", code, errs)
	}
	code, _, errs = grain(t, "ls", "--vm", "Other Location", "--disk", "3", host)
	if code != 1 || !strings.Contains(errs, "--disk 3") {
		t.Errorf("missing disk: exit %d, %q", code, errs)
	}
}
