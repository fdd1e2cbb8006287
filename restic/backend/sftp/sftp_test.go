package sftp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainvm/grain/internal/testutil"
	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/internal/backendtest"
	"github.com/grainvm/grain/restic/backend/sftp"
)

const sftpServer = "/usr/lib/openssh/sftp-server"

func requireSFTPServer(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sftpServer); err != nil {
		testutil.Unavailable(t, "%s not found (openssh-sftp-server)", sftpServer)
	}
}

// direct returns a config that runs OpenSSH's sftp-server without ssh.
func direct(dir string) sftp.Config {
	return sftp.Config{Host: "localhost", Path: dir, Command: []string{sftpServer}}
}

func closeBE(t *testing.T, be *sftp.Backend) {
	t.Cleanup(func() { be.Close() })
}

func TestConformance(t *testing.T) {
	requireSFTPServer(t)
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := sftp.Create(context.Background(), direct(dir))
	if err != nil {
		t.Fatal(err)
	}
	closeBE(t, be)
	fi, err := os.Stat(filepath.Join(dir, "data", "a7"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data/a7: %v %v", fi, err)
	}
	backendtest.Conformance(t, be)
	// files are read-only once saved, temporary files are gone
	h := restic.Handle{Type: restic.IndexFile, Name: strings.Repeat("01", 32)}
	if err := be.Save(context.Background(), h, []byte("x")); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(filepath.Join(dir, "index", h.Name))
	if err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("saved file: %v %v", fi, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "index"))
	if len(ents) != 1 {
		t.Fatalf("index folder holds %d entries", len(ents))
	}
	if err := be.Save(context.Background(), restic.Handle{Type: restic.ConfigFile}, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if b2, err := sftp.Create(context.Background(), direct(dir)); err == nil {
		b2.Close()
		t.Fatal("Create over an existing config: no error")
	}
}

func TestGrainWritesResticReads(t *testing.T) {
	requireSFTPServer(t)
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := sftp.Create(context.Background(), direct(dir))
	if err != nil {
		t.Fatal(err)
	}
	closeBE(t, be)
	backendtest.WriteSnapshot(t, be)
	backendtest.CheckWithRestic(t, nil, "sftp:localhost:"+dir, "-o", "sftp.command="+sftpServer)
}

func TestResticWritesGrainReads(t *testing.T) {
	requireSFTPServer(t)
	dir := filepath.Join(t.TempDir(), "repo")
	prefix := backendtest.BackupWithRestic(t, nil, "sftp:localhost:"+dir, "-o", "sftp.command="+sftpServer)
	be, err := sftp.Open(context.Background(), direct(dir))
	if err != nil {
		t.Fatal(err)
	}
	closeBE(t, be)
	backendtest.CompareBackup(t, backendtest.ReadSnapshot(t, be), prefix)
}

func TestBadCommand(t *testing.T) {
	_, err := sftp.Open(context.Background(), sftp.Config{Host: "x", Path: "/", Command: []string{"sh", "-c", "echo no such host >&2; exit 255"}})
	if err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Fatalf("err = %v, want the command's stderr in it", err)
	}
	_, err = sftp.Open(context.Background(), sftp.Config{Host: "x", Path: "/", Command: []string{"/nonexistent/ssh"}})
	if err == nil {
		t.Fatal("no error for a missing program")
	}
}

// TestSSHD runs a real sshd on a free loopback port and reaches it with the
// ssh command that sftp builds from an sftp:// location.
func TestSSHD(t *testing.T) {
	requireSFTPServer(t)
	testutil.RequireRoot(t)
	testutil.RequireTool(t, "ssh", "ssh-keygen", "/usr/sbin/sshd")
	tmp := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(tmp, "host"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(tmp, "user"))
	pub, err := os.ReadFile(filepath.Join(tmp, "user.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll("/run/sshd", 0o755) // privilege separation folder
	port := backendtest.FreePort(t)
	conf := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile %s
Subsystem sftp %s
`, port, filepath.Join(tmp, "host"), filepath.Join(tmp, "authorized_keys"), sftpServer)
	confFile := filepath.Join(tmp, "sshd_config")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	backendtest.Start(t, "/usr/sbin/sshd", "-D", "-e", "-f", confFile)
	backendtest.WaitTCP(t, "127.0.0.1:"+port)

	dir := filepath.Join(tmp, "repo")
	loc := "sftp://root@127.0.0.1:" + port + "/" + dir
	cfg, err := sftp.ParseConfig(loc)
	if err != nil {
		t.Fatal(err)
	}
	sshOpts := []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-i", filepath.Join(tmp, "user")}
	cfg.Args = sshOpts
	be, err := sftp.Create(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	closeBE(t, be)
	backendtest.WriteSnapshot(t, be)
	cmd := "ssh " + strings.Join(sshOpts, " ") + " -p " + port + " root@127.0.0.1 -s sftp"
	backendtest.CheckWithRestic(t, nil, loc, "-o", "sftp.command="+cmd)

	// a key the server does not know: a clear, immediate error
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(tmp, "other"))
	cfg.Args = append(sshOpts[:len(sshOpts)-1:len(sshOpts)-1], filepath.Join(tmp, "other"), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none")
	if b, err := sftp.Open(context.Background(), cfg); err == nil {
		b.Close()
		t.Fatal("unknown key accepted")
	} else if !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("err = %v, want ssh's Permission denied", err)
	}
}
