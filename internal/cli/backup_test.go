//go:build linux

package cli_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grainvm/grain/internal/testutil"
)

const backupPassword = "grain cli backup test"

func resticCmd(t *testing.T, repo string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("restic", append([]string{"--no-cache", "-r", repo}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+backupPassword, "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("restic %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.Bytes()
}

// backupTree is an ext4 file system (as a dynamic VHDX, and raw for the
// kernel's loop mount) with a few hundred files of random data.
func backupTree(t *testing.T) (vhdx, raw string) {
	testutil.RequireTool(t, "mkfs.ext4", "qemu-img")
	dir := testutil.Build(t, "cli-backup-tree", `
mkdir -p src/a/b/c src/empty src/many
for i in $(seq 1 300); do head -c $(( (i * 7919) % 90000 + 1 )) /dev/urandom > src/many/f$i; done
head -c 6000000 /dev/urandom > src/a/big.bin
head -c 3000000 /dev/urandom > src/a/b/medium.bin
printf 'hello\n' > src/a/hello.txt
ln src/a/hello.txt src/a/b/hello-link.txt
ln -s ../hello.txt src/a/b/rel-link
printf 'deep\n' > src/a/b/c/deep.txt && chmod 0600 src/a/b/c/deep.txt
truncate -s 5M src/a/sparse && printf 'tail' | dd of=src/a/sparse bs=1 seek=5000000 conv=notrunc status=none
touch -h -d '2023-04-05 06:07:08.123456789' src/many/* src/a/* src/a/b/* src/a/b/c/*
mkfs.ext4 -q -F -d src -b 4096 -I 256 disk.img 64M
qemu-img convert -f raw -O vhdx -o subformat=dynamic disk.img disk.vhdx
`)
	return filepath.Join(dir, "disk.vhdx"), filepath.Join(dir, "disk.img")
}

// TestBackupKilled backs up an ext4 image with the grain binary, killing
// it at random moments: after each kill restic check --read-data passes;
// then a backup finishes, and restic's and grain's restores of it equal
// the kernel's reading of the file system.
func TestBackupKilled(t *testing.T) {
	testutil.RequireTool(t, "restic")
	vhdx, raw := backupTree(t)
	unchanged := testutil.Unchanged(t, vhdx)
	bin := filepath.Join(t.TempDir(), "grain")
	build := exec.Command("go", "build", "-o", bin, "./cmd/grain")
	build.Dir = testutil.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "RESTIC_PASSWORD="+backupPassword)
	runGrain := func(repo string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"backup", "--repo", repo, "--progress", "never", "--json", vhdx}, args...)...)
		cmd.Env = env
		return cmd
	}

	// How long one backup takes, into a repository of its own.
	refRepo := filepath.Join(t.TempDir(), "ref")
	resticCmd(t, refRepo, "init")
	start := time.Now()
	if out, err := runGrain(refRepo).CombinedOutput(); err != nil {
		t.Fatalf("grain backup: %v\n%s", err, out)
	}
	took := time.Since(start)

	repo := filepath.Join(t.TempDir(), "repo")
	resticCmd(t, repo, "init")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range 3 {
		cmd := runGrain(repo)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(took) + 1))
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("kill %d after %v (a backup takes %v)", i, delay, took)
		// As after a killed restic: its lock stays until restic unlock
		// (grain itself skips it as stale: same host, no such process).
		resticCmd(t, repo, "unlock")
		resticCmd(t, repo, "check", "--read-data")
	}
	out, err := runGrain(repo).Output()
	if err != nil {
		t.Fatalf("backup after kills: %v\n%s", err, out)
	}
	var sum struct {
		MessageType string `json:"message_type"`
		SnapshotID  string `json:"snapshot_id"`
		FilesNew    int    `json:"files_new"`
		BytesRead   int64  `json:"bytes_read"`
		Orphans     int    `json:"orphan_packs_indexed"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	t.Logf("backup after kills: %+v", sum)
	resticCmd(t, repo, "check", "--read-data")

	// Restores equal the loop mount.
	testutil.RequireRoot(t)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "ro,loop,noload", raw, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	want := listTree(t, mnt)
	delete(want, "lost+found")
	resticTarget := t.TempDir()
	resticCmd(t, repo, "restore", sum.SnapshotID, "--target", resticTarget)
	resticDir := filepath.Join(resticTarget, "disk", "disk")
	grainDir := filepath.Join(t.TempDir(), "grain")
	cmd := exec.Command(bin, "restore", "--repo", repo, "--progress", "never", sum.SnapshotID[:10]+":/disk/disk", "--target", grainDir)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("grain restore: %v\n%s", err, out)
	}
	o := compareOpts{dirTimes: true, perms: true, links: true, hardlinks: true}
	for what, dir := range map[string]string{"restic restore": resticDir, "grain restore": grainDir} {
		got := listTree(t, dir)
		delete(got, "lost+found")
		compareTrees(t, what, want, got, o)
	}
	unchanged()
}

// TestBackupCommands runs the commands in-process on the demo image.
func TestBackupCommands(t *testing.T) {
	testutil.RequireTool(t, "restic")
	img := testutil.DemoImage(t, "")
	repo := filepath.Join(t.TempDir(), "repo")
	t.Setenv("RESTIC_PASSWORD", backupPassword)
	t.Setenv("RESTIC_PASSWORD_FILE", "")
	t.Setenv("RESTIC_PASSWORD_COMMAND", "")
	t.Setenv("RESTIC_REPOSITORY", "")
	mustGrain(t, "init", "--repo", repo)
	resticCmd(t, repo, "check")

	out := mustGrain(t, "backup", "--repo", repo, "--json", "--tag", "daily", "--exclude", "*.jpg", img, "/p3/Users")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		MessageType string `json:"message_type"`
		SnapshotID  string `json:"snapshot_id"`
		FilesNew    int    `json:"files_new"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" || sum.FilesNew != 3 {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	var sns []struct {
		ID       string   `json:"id"`
		Paths    []string `json:"paths"`
		Hostname string   `json:"hostname"`
		Tags     []string `json:"tags"`
	}
	if err := json.Unmarshal(resticCmd(t, repo, "snapshots", "--json"), &sns); err != nil {
		t.Fatal(err)
	}
	if len(sns) != 1 || sns[0].ID != sum.SnapshotID || sns[0].Hostname != "demo" || len(sns[0].Paths) != 1 || sns[0].Paths[0] != "/demo/p3/Users" {
		t.Fatalf("restic snapshots: %+v", sns)
	}
	if out := mustGrain(t, "snapshots", "--repo", repo, "--json"); !strings.Contains(out, sum.SnapshotID) {
		t.Errorf("grain snapshots --json: %s", out)
	}
	out = mustGrain(t, "ls", "--repo", repo, "-R", "latest", "/demo/p3/Users/alice")
	want := "/demo/p3/Users/alice/Documents/\n/demo/p3/Users/alice/Documents/notes.md\n/demo/p3/Users/alice/Documents/report.txt\n" +
		"/demo/p3/Users/alice/Pictures/\n/demo/p3/Users/alice/report-link.txt\n"
	if out != want {
		t.Errorf("ls --repo: %q, want %q", out, want)
	}
	out = mustGrain(t, "find", "--repo", repo, "notes.*")
	if !strings.Contains(out, sum.SnapshotID[:8]) || !strings.Contains(out, "/demo/p3/Users/alice/Documents/notes.md") {
		t.Errorf("find --repo: %q", out)
	}
	target := t.TempDir()
	mustGrain(t, "restore", "--repo", repo, "latest:/demo/p3/Users/alice/Documents", "--target", target)
	if b, err := os.ReadFile(filepath.Join(target, "notes.md")); err != nil || string(b) != "written by the demo script\n" {
		t.Errorf("restore: %q, %v", b, err)
	}
	if code, _, errs := grain(t, "restore", "--repo", repo, "latest:/demo/p3/Users/alice/Documents", "--target", target); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("restore over existing files: exit %d, %s", code, errs)
	}

	// Clear errors.
	t.Setenv("RESTIC_PASSWORD", "wrong")
	if code, _, errs := grain(t, "snapshots", "--repo", repo); code != 1 || !strings.Contains(errs, "wrong password") {
		t.Errorf("wrong password: exit %d, %s", code, errs)
	}
	t.Setenv("RESTIC_PASSWORD", backupPassword)
	if code, _, errs := grain(t, "snapshots", "--repo", t.TempDir()); code != 1 || !strings.Contains(errs, "not a restic repository") {
		t.Errorf("not a repository: exit %d, %s", code, errs)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(backupPassword+"\n"), 0o600)
	t.Setenv("RESTIC_PASSWORD", "")
	mustGrain(t, "snapshots", "--repo", repo, "--password-file", pwFile)
	mustGrain(t, "snapshots", "--repo", repo, "--password-command", "cat "+pwFile)
	if code, _, errs := grain(t, "snapshots", "--repo", repo); code != 2 || !strings.Contains(errs, "password") {
		t.Errorf("no password: exit %d, %s", code, errs)
	}
	t.Setenv("RESTIC_PASSWORD", backupPassword)
	// Every command removed its lock.
	lockDir := filepath.Join(repo, "locks")
	before, _ := os.ReadDir(lockDir)
	if len(before) != 0 {
		t.Fatalf("locks left behind: %v", before)
	}
}
