package cli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
)

// linuxGuestScript builds the disk of a typical Linux guest, as a dynamic
// VHDX: GPT with an EFI system partition and an LVM2 PV; volume group
// "rhel" with "root" (ext4, two segments out of order) and "home" (XFS).
// lvm2 runs without device-mapper, so each file system is made in a file
// and written at the extents lvs reports.
const linuxGuestScript = `
export LVM_SUPPRESS_FD_WARNINGS=1
mkdir -p src/etc src/home/alice
printf 'guest\n' > src/etc/hostname
head -c 2000000 /dev/urandom > src/home/alice/data.bin
ln -s ../etc/hostname src/hostname-link
mkdir -p homesrc/alice/docs && printf 'notes\n' > homesrc/alice/docs/notes.txt
head -c 300000 /dev/urandom > homesrc/alice/photo.raw

truncate -s 200M disk.raw
printf 'label: gpt\nsize=8M, type=U, name="EFI"\ntype=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="lvm"\n' | sfdisk -q disk.raw
read s2 z2 < <(sfdisk -l -o Start,Sectors disk.raw | awk '/^ *[0-9]+ +[0-9]+ *$/ {i++; if (i==2) print $1*512, $2*512}')
P=$(losetup -f --show -o $s2 --sizelimit $z2 disk.raw)
trap 'losetup -d $P' EXIT
C="devices { filter=[\"a|^$P\$|\",\"r|.*|\"] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 }"
lv() { "$@" --driverloaded n --nolocking --config "$C"; }
lv pvcreate -q -y $P
lv vgcreate -q -s 4M rhel $P
lv lvcreate -q -an -Zn -L 60M -n root rhel
lv lvcreate -q -an -Zn -L 40M -n home rhel
lv lvextend -q -L +20M rhel/root
pe_start=$(lv pvs --noheadings -o pe_start --units b --nosuffix $P | tr -d ' ')
lv lvs --noheadings --segments -o lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges --separator ' ' rhel > segs.txt

mkfs.ext4 -q -F -d src -I 256 root.img 80M
truncate -s 40M home.img
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f home.img
mnt=$(mktemp -d); mount -o loop home.img $mnt; cp -a homesrc/. $mnt/; umount $mnt; rmdir $mnt

# Write each file system's extents where its LV segments lie.
while read name start size ranges; do
  pe=${ranges##*:}; pe=${pe%%-*}
  dd if=$name.img of=disk.raw bs=4M skip=$start count=$size seek=$(( s2 + pe_start + pe * 4194304 )) oflag=seek_bytes conv=notrunc status=none
done < segs.txt
qemu-img convert -f raw -O vhdx -o subformat=dynamic disk.raw disk.vhdx
`

func TestLinuxGuestWithLVMInVHDX(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "lvm", "sfdisk", "mkfs.ext4", "mkfs.xfs", "qemu-img", "losetup")
	dir := testutil.Build(t, "cli-linux-guest", linuxGuestScript)
	img := filepath.Join(dir, "disk.vhdx")
	if out := mustGrain(t, "ls", img); out != "/p1/\n/p2/\n/rhel-root/\n/rhel-home/\n" {
		t.Errorf("ls /: %q", out)
	}
	for _, c := range []struct{ vol, fsImage, opts string }{
		{"rhel-root", "root.img", "ro,loop,noload"},
		{"rhel-home", "home.img", "ro,loop,norecovery"},
	} {
		mnt := t.TempDir()
		testutil.Run(t, "mount", "-o", c.opts, filepath.Join(dir, c.fsImage), mnt)
		want := listTree(t, mnt)
		// find lists what find(1) lists on the mount, sorted, with and
		// without tests that need more than the directories hold.
		for _, c2 := range []struct{ find, grain []string }{
			{nil, nil},
			{[]string{"-type", "f"}, []string{"--type", "f"}},
			{[]string{"-type", "l"}, []string{"--type", "l"}},
			{[]string{"-size", "+100k"}, []string{"--size", "+100K"}},
		} {
			cmd := exec.Command("sh", "-c", `cd "$1" && shift && find . -mindepth 1 "$@" | LC_ALL=C sort`, "sh", mnt)
			cmd.Args = append(cmd.Args, c2.find...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("find %v: %v", c2.find, err)
			}
			want := strings.ReplaceAll(string(out), "./", "/"+c.vol+"/")
			args := append([]string{"find", img, "/" + c.vol}, c2.grain...)
			got := strings.TrimPrefix(mustGrain(t, args...), "/"+c.vol+"\n")
			if got != want {
				t.Errorf("grain %v:\n%s\nfind on the mount:\n%s", args, got, want)
			}
		}
		exec.Command("umount", mnt).Run()
		dest := t.TempDir()
		mustGrain(t, "cp", "-r", img, "/"+c.vol, dest)
		compareTrees(t, c.vol, want, listTree(t, filepath.Join(dest, c.vol)), compareOpts{perms: true, links: true, dirTimes: true})
	}
	info := mustGrain(t, "info", img)
	for _, want := range []string{"rhel-root", "ext4", "rhel-home", "xfs", "LVM"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
}
